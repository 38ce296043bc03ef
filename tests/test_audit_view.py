"""``audit show`` answers "who opened what, and why": newest first, the purpose and whether a note was given
(never the note), filters applied by the agent, and pages.

In process (the real dispatcher on a real database, a manual clock to spread entries over days) for the
filters and the day boundaries; the real agent and the real command line for what the officer reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from retention_agent.clock import ManualClock
from retention_agent.errors import EXIT_USAGE
from retention_agent.i18n import catalogue as i18n
from retention_agent.runtime.context import AgentContext
from retention_agent.session.words import AUDIT_ACTIONS, word
from tests.conftest import ME, AgentProcess
from tests.report_support import request
from tests.retention_support import api, grant_me, ingest, ingest_bytes

NOTE = "belde mevrouw Janssens terug"  # free text: may name a person, so never shown or stored


def show(ctx: AgentContext, **args: Any) -> dict[str, Any]:
    session = request(ctx, ME, "audit.show", args)
    assert not session.errors, session.errors
    [reply] = session.replies
    return dict(reply)


def opened(ctx: AgentContext, delivery: str, purpose: str, note: str = "") -> None:
    session = request(ctx, ME, "open", {"delivery": delivery, "purpose": purpose, "note": note, "mode": "stdout"})
    assert not session.errors, session.errors


@pytest.fixture
def log(ctx: AgentContext, clock: ManualClock) -> dict[str, str]:
    """Two deliveries opened over three Brussels days around the start of summer time, and a refused request
    (the log's times only move forward, as the agent's clock does when nobody changes it)."""
    request(ctx, ME, "staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "read"]})
    first, second = ingest(ctx), ingest(ctx)
    clock.set(datetime(2027, 3, 27, 22, 59, tzinfo=UTC))  # 23:59 on Saturday 27 March in Brussels (CET)
    opened(ctx, first, "invite")
    clock.set(datetime(2027, 3, 27, 23, 0, tzinfo=UTC))  # 00:00 on Sunday 28 March
    opened(ctx, second, "phone", NOTE)
    clock.set(datetime(2027, 3, 28, 21, 59, tzinfo=UTC))  # 23:59 on Sunday (CEST since 03:00)
    opened(ctx, first, "other", NOTE)
    clock.set(datetime(2027, 3, 28, 22, 0, tzinfo=UTC))  # 00:00 on Monday 29 March
    assert request(ctx, "nobody-here", "deliveries").errors  # refused, and audited
    opened(ctx, second, "invite")
    return {"first": first, "second": second}


def actions(reply: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["action"], (e["details"] or {}).get("purpose", "")) for e in reply["entries"]
            if e["action"] in ("delivery.opened", "deliveries")]


def test_filters_are_applied_by_the_agent(ctx: AgentContext, log: dict[str, str]) -> None:
    first, second = log["first"], log["second"]
    everything = show(ctx, limit=10000)
    assert [e["seq"] for e in everything["entries"]] == list(range(1, everything["size"] + 1))

    newest = show(ctx, order="desc", limit=10000)
    assert [e["seq"] for e in newest["entries"]] == list(range(newest["size"], 0, -1))  # its own request first

    about_first = show(ctx, delivery=first, order="desc")["entries"]
    assert about_first and all(first in e["subject"] for e in about_first)
    assert [e["details"]["purpose"] for e in about_first if e["action"] == "delivery.opened"] == ["other", "invite"]

    assert actions(show(ctx, purpose="invite")) == [("delivery.opened", "invite")] * 2
    assert actions(show(ctx, purpose="phone", delivery=second)) == [("delivery.opened", "phone")]
    assert show(ctx, purpose="phone", delivery=first)["entries"] == []

    refused = show(ctx, denied=True)["entries"]
    assert [(e["actor"], e["action"], e["outcome"]) for e in refused] == [("nobody-here", "deliveries", "denied")]
    assert [e["actor"] for e in show(ctx, account="nobody-here")["entries"]] == ["nobody-here"]
    assert all(e["actor"] == ME for e in show(ctx, account=ME, limit=10000)["entries"])


def test_days_are_brussels_days_on_both_sides_of_the_change_to_summer_time(
        ctx: AgentContext, log: dict[str, str]) -> None:
    def day(since: str, until: str) -> list[tuple[str, str]]:
        return actions(show(ctx, since=since, until=until, limit=10000))

    assert day("2027-03-27", "2027-03-27") == [("delivery.opened", "invite")]  # 23:59 CET, 22:59 UTC
    assert day("2027-03-28", "2027-03-28") == [("delivery.opened", "phone"), ("delivery.opened", "other")]
    assert day("2027-03-29", "2027-03-29") == [("deliveries", ""), ("delivery.opened", "invite")]
    assert day("2027-03-28", "2027-03-29") == day("2027-03-28", "2027-03-28") + day("2027-03-29", "2027-03-29")
    assert show(ctx, since="2027-03-30")["entries"] == []
    before = [e["seq"] for e in show(ctx, until="2027-03-26", limit=10000)["entries"]]
    assert before and before == [e["seq"] for e in show(ctx, limit=10000)["entries"] if e["time"] < "2027-03-27"]


def test_pages_follow_each_other_without_gaps_or_repeats(ctx: AgentContext, log: dict[str, str]) -> None:
    for order in ("asc", "desc"):  # each request is audited too: oldest first, the log grows while paging
        seen: list[int] = []
        reply = show(ctx, order=order, limit=3)
        size = reply["size"]
        while True:
            seen += [e["seq"] for e in reply["entries"]]
            if reply["next"] is None:
                break
            reply = show(ctx, order=order, limit=3, cursor=reply["next"])
        assert seen == (list(range(1, len(seen) + 1)) if order == "asc" else list(range(size, 0, -1)))
        assert len(seen) >= size
    filtered = show(ctx, delivery=log["first"], order="desc", limit=1)
    following = show(ctx, delivery=log["first"], order="desc", limit=1, cursor=filtered["next"])
    assert following["entries"][0]["seq"] < filtered["entries"][0]["seq"]
    assert log["first"] in following["entries"][0]["subject"]


@pytest.mark.parametrize(("args", "named"), [
    ({"purpose": "gossip"}, "purpose"), ({"since": "25/10/2026"}, "25/10/2026"),
    ({"until": "2026-02-30"}, "2026-02-30"),
    ({"order": "sideways"}, "order"), ({"cursor": "1 OR 1=1"}, "cursor"), ({"denied": "yes"}, "denied"),
    ({"delivery": "x" * 65}, "delivery"), ({"colour": "red"}, "colour"),
])
def test_a_bad_filter_is_refused_with_what_to_give(ctx: AgentContext, args: dict[str, Any], named: str) -> None:
    session = request(ctx, ME, "audit.show", args)
    [error] = session.errors
    assert error.exit_code == EXIT_USAGE and named in error.render("en"), error.render("en")


def test_the_filter_is_audited_with_the_request(ctx: AgentContext, log: dict[str, str]) -> None:
    show(ctx, delivery=log["second"], account="nobody-here")
    last = show(ctx, order="desc", limit=2)["entries"][1]  # [0] is the request that reads it
    assert (last["action"], last["outcome"]) == ("audit.show", "granted")
    assert log["second"] in last["subject"] and "nobody-here" in last["subject"]


def test_the_officer_reads_newest_first_with_purpose_and_note_presence(agent: AgentProcess) -> None:
    grant_me(agent.home, "import", "read")
    delivery = ingest_bytes(agent.home, b"%PDF-1.7\n an AgII list")
    for purpose, note in (("invite", ""), ("phone", NOTE)):
        api(agent.home, "open", {"delivery": delivery, "purpose": purpose, "note": note, "mode": "to-dir"})

    ran = agent.cli("--lang", "nl", "audit", "show", "--delivery", delivery, "--purpose", "phone")
    assert ran.returncode == 0, ran.stderr.decode()
    lines = ran.stdout.decode().splitlines()
    assert lines[0].split()[-2:] == ["doel", "notitie"], lines
    [row] = [line for line in lines[2:] if word(AUDIT_ACTIONS, "delivery.opened", "nl") in line]
    assert row.endswith(f"{i18n.translate('phone', 'nl')}  ja"), row
    assert NOTE not in ran.stdout.decode()

    newest = agent.cli("audit", "show", "--limit", "2")
    text = newest.stdout.decode()
    seqs = [int(line.split()[0]) for line in text.splitlines()[2:4]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 2, text
    assert f"--cursor {seqs[-1]}" in text.splitlines()[-1], text
    older = agent.cli("audit", "show", "--limit", "2", "--cursor", str(seqs[-1]), "--json")
    assert [e["seq"] for e in json.loads(older.stdout)["entries"]] == [seqs[-1] - 1, seqs[-1] - 2]

    oldest = json.loads(agent.cli("audit", "show", "--oldest-first", "--json", "--limit", "1").stdout)
    assert oldest["entries"][0]["seq"] == 1

    bad = agent.cli("audit", "show", "--since", "gisteren")
    assert bad.returncode == 2 and b"--since" in bad.stderr


def test_an_entry_damaged_by_hand_matches_no_filter_and_breaks_no_search(ctx: AgentContext,
                                                                           log: dict[str, str]) -> None:
    with ctx.store.transaction():
        ctx.store.conn.execute("UPDATE audit SET entry = ? WHERE seq = 3", (b"not json {",))
    assert actions(show(ctx, purpose="invite")) == [("delivery.opened", "invite")] * 2
    assert all(e["seq"] != 3 for e in show(ctx, delivery=log["first"], limit=10000)["entries"])
    assert show(ctx, account=ME, order="desc", limit=1)["entries"][0]["action"] == "audit.show"


def test_the_last_page_of_a_search_says_nothing_more(ctx: AgentContext, log: dict[str, str]) -> None:
    reply = show(ctx, purpose="phone")
    assert reply["next"] is None and len(reply["entries"]) == 1
