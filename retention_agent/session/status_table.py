"""The status table on the terminal (Dutch by default): used by ``retention-agent status`` and the demo.

Client side only: it renders the JSON the agent returns and reads nothing else. Problems and overdue purges
are red, warnings yellow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from retention_agent.i18n.catalogue import count_of, for_people, format_moment, people_params, t, translate
from retention_agent.i18n.msgids import N_
from retention_agent.i18n.safe_text import safe
from retention_agent.session.words import CHANNELS, word

RED, YELLOW, GREEN = "red", "yellow", "green"
KEY_STORES = {"file": N_("file in the home"), "keyring": N_("the key store of the operating system")}
# codes from the status JSON shown translated: watcher and delivery states, purposes, purge reasons, schedules,
# the e-mail state of a report
CODES = (N_("ok"), N_("retrying"), N_("failing"), N_("stopped"), N_("unknown"), N_("vaulted"), N_("scheduled"),
         N_("held"), N_("quarantined"), N_("purging"), N_("purged"), N_("invite"), N_("phone"), N_("attendance"),
         N_("correction"), N_("other"), N_("deadline"), N_("no-ceremony-maximum"), N_("monthly"), N_("quarterly"),
         N_("off"), N_("sent"), N_("queued"), N_("failed"), N_("no-address"), N_("not-requested"),
         N_("exact"), N_("derived"))


def moment(text: str | None) -> str:
    """A stored UTC time as local Brussels time (``28/11/2026 20:00``); ``-`` when absent."""
    return format_moment(text)


def finding_text(finding: dict[str, Any]) -> str:
    try:
        return translate(finding["message"], count=count_of(finding["params"])).format(
            **people_params(finding["params"]))
    except (KeyError, IndexError, ValueError):
        return safe(str(finding["message"]))


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(h) for h in headers]] + [["-" if c is None else safe(str(for_people(c))) for c in row]
                                           for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def _heading(text: str) -> None:
    click.secho("\n" + text, bold=True)


def _rows(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, color: str | None = None,
          empty: str = "") -> None:
    if not rows:
        click.echo("  " + (empty or t("none")))
        return
    for n, line in enumerate(table_lines(headers, rows)):
        click.secho(line, fg=color if n > 1 else None)


def echo_status(status: dict[str, Any]) -> None:
    """Print the status JSON as the officer's one-screen table."""
    click.secho(t("Status of retention-agent — {municipality} (installation {id}) — {at}",
                  municipality=status["municipality"], id=status["installation_id"],
                  at=moment(status["generated_at"])), bold=True)
    compliant = status["compliant"]
    click.secho(t("Compliant: {answer}", answer=t("yes") if compliant else t("NO")), fg=GREEN if compliant else RED,
                bold=True)
    for problem in status["problems"]:
        click.secho("  ✗ " + finding_text(problem), fg=RED)
    for warning in status["warnings"]:
        click.secho("  ! " + finding_text(warning), fg=YELLOW)
    _health(status)
    _deliveries(status)
    _access(status)
    _copies(status)
    _integrity(status)
    _organisation(status)


def _health(status: dict[str, Any]) -> None:
    health = status["health"]
    _heading(t("Agent"))
    key_store = health["key_store"]
    backend = (t("file in the home") if key_store["file_store"] else
               translate(KEY_STORES.get(key_store["backend"], key_store["backend"])))
    _rows([t("what"), t("value")], [
        (t("running since"), moment(health["running_since"])),
        (t("last delivery received"), moment(health["last_intake"])),
        (t("last schedule run"), moment(health["last_tick"])),
        (t("key store"), backend),
    ])
    _heading(t("Intake"))
    _rows([t("source"), t("state"), t("last success"), t("last error")],
          [(_source(w["name"]), t(w["state"]), moment(w["last_success"]), w["last_error_id"] or "-")
           for w in health["intake"]],
          empty=t("no drop folders or mailboxes are watched"))
    if health.get("oauth"):
        _heading(t("Mailbox access (OAuth2)"))
        _rows([t("mailbox"), t("sign-in"), t("token valid until"), t("last failure")],
              [(o["mailbox"], f"{o['flow']} ({o['credential']})", moment(o["expires_at"]),
                f"{o['last_failure']} ({moment(o['last_failure_at'])})" if o["last_failure"] else "-")
               for o in health["oauth"]])
    copies = status.get("mailbox_copies") or {}
    if copies.get("by_mailbox"):
        _heading(t("Other copies in the mailboxes"))
        _rows([t("mailbox"), t("searches"), t("found"), t("removed"), t("left"), t("still to search")],
              [(c["mailbox"], c["searches"], c["found"], c["removed"], c["remaining"], c["pending"])
               for c in copies["by_mailbox"]])


def _source(name: str) -> str:
    """An intake source as ``channel:name`` (``folder:inbox-1``) with its channel in words."""
    channel, sep, rest = name.partition(":")
    return f"{word(CHANNELS, channel)}: {rest}" if sep and channel in CHANNELS else name


def _deliveries(status: dict[str, Any]) -> None:
    deliveries = status["deliveries"]
    _heading(t("Deliveries"))
    _rows([t("state"), t("number")], [(t(s), n) for s, n in deliveries["by_state"].items()])
    without = deliveries["without_ceremony"]
    click.echo("  " + t("without ceremony date: {count} (oldest received {at})", count=without["count"],
                        at=moment(without["oldest_received_at"])))
    _heading(t("Next purges"))
    _rows([t("delivery"), t("deadline"), t("days left"), t("reason")],
          [(p["delivery"], p["deadline"], p["days_left"], t(p["reason"] or "-")) for p in status["next_purges"]])
    overdue = status["overdue_purges"]
    _heading(t("Overdue purges ({count})", count=overdue["count"]))
    _rows([t("delivery"), t("due since"), t("state"), t("waits for clock confirmation")],
          [(o["delivery"], moment(o["due_at"]), t(o["state"]), t("yes") if o["awaiting_clock_confirmation"] else "")
           for o in overdue["items"]], color=RED, empty=t("none (as it should be)"))
    _heading(t("Holds ({count}) and quarantine ({quarantined})", count=status["holds"]["count"],
               quarantined=status["quarantined"]["count"]))
    rows = [(h["delivery"], t("held"), t("until {day}", day=h["hold_until"] or "-")) for h in status["holds"]["items"]]
    rows += [(q["delivery"], t("quarantined"), t("received {at} via {source}", at=moment(q["received_at"]),
                                                   source=q["source"])) for q in status["quarantined"]["items"]]
    _rows([t("delivery"), t("state"), t("details")], rows)


def _access(status: dict[str, Any]) -> None:
    copies = status["workspace_copies"]
    _heading(t("Working copies not yet wiped: {count}", count=copies["count"]))
    _rows([t("account"), t("copies")], sorted(copies["by_account"].items()))
    openings = status["openings_30d"]
    _heading(t("Openings in the last 30 days: {count}", count=openings["count"]))
    _rows([t("account"), t("purpose"), t("number")],
          [(o["account"], t(o["purpose"]), o["count"]) for o in openings["by_account_purpose"]])
    refused = status["refused_30d"]
    _heading(t("Refused requests in the last 30 days: {count}", count=refused["count"]))
    _rows([t("account"), t("request"), t("number")],
          [(r["account"], r["action"], r["count"]) for r in refused["by_account_action"]])


def _copies(status: dict[str, Any]) -> None:
    copies = status.get("copies")
    if copies is None:  # an agent older than this command
        return
    for item in copies["contents"]:
        click.echo("  " + t("Delivery {delivery}: {people} inburgeraars ({invalid} invalid and {missing} missing "
                            "national register numbers)", delivery=item["delivery"], people=item["people"],
                            invalid=item["invalid_numbers"], missing=item["missing_numbers"]))
    found = copies["found"]
    _heading(t("Copies on workstations: {count} found, {remaining} of purged deliveries remaining",
               count=found["count"] + found["remaining"], remaining=copies["remaining"]["count"]))
    _rows([t("delivery"), t("account"), t("copy"), t("where"), t("people")],
          [(f["delivery"], f["account"], t(f["match"]), f"{f['kind']}: {f['path']}", f["people"] or "-")
           for f in found["items"]])
    if copies["remaining"]["items"]:
        _rows([t("delivery"), t("account"), t("copy"), t("number")],
              [(r["delivery"], r["account"], t(r["match"]), r["count"]) for r in copies["remaining"]["items"]],
              color=RED)
    _rows([t("account"), t("last sweep"), t("complete"), t("locations")],
          [(w["account"], moment(w["swept_at"]), t("yes") if w["complete"] else t("no"), ", ".join(w["locations"]))
           for w in copies["sweeps"]], empty=t("no staff session has swept its folders yet"))


def _verification(value: dict[str, Any] | None) -> str:
    if not value:
        return t("not since the agent started")
    return t("{result} at {at}", result=t("ok") if value.get("ok") else t("PROBLEMS"), at=moment(value.get("at")))


def _integrity(status: dict[str, Any]) -> None:
    audit, vault = status["audit"], status["vault"]
    last = audit["last_checkpoint"]
    _heading(t("Audit log and vault"))
    _rows([t("what"), t("value")], [
        (t("audit log entries"), audit["size"]),
        (t("last signed checkpoint"), t("{size} entries at {at}", size=last["size"], at=moment(last["created_at"]))
         if last else "-"),
        (t("last audit verification"), _verification(audit["last_verification"])),
        (t("last vault verification"), _verification(vault["last_verification"])),
        (t("integrity failures"), vault["integrity_failures"]["count"]),
    ])
    _heading(t("Legal bases"))
    _rows([t("legal basis"), t("channel"), t("valid until"), t("lapsed"), t("live"), t("received after lapse")],
          [(b["legal_basis"], word(CHANNELS, b["channel"]), b["valid_until"] or "-",
            t("yes") if b["lapsed"] else t("no"),
            b["live_deliveries"], b["received_after_lapse"]) for b in status["legal_bases"]])


def _organisation(status: dict[str, Any]) -> None:
    checklist = status["checklist"]
    _heading(t("Conditions of the deliberation ({open} open)", open=len(checklist["open"])))
    for item in checklist["items"]:
        done = for_people(item["done_on"]) if item["done"] else t("OPEN")
        click.secho(f"  {item['id']:<18} {done:<11} {translate(item['description'])}",
                    fg=None if item["done"] else YELLOW)
    reports = status["reports"]
    _heading(t("Reports to the DPO (schedule: {schedule})", schedule=t(reports["schedule"])))
    _rows([t("report"), t("made"), t("e-mail"), t("attempts"), t("last error")],
          [(r["name"], moment(r["created_at"]), t(r["delivery"]), r["attempts"], r["last_error"] or "-")
           for r in reports["recent"]], empty=t("no reports made yet"))
