"""No typo destroys a delivery, and every refusal points to the right person: the real agent process, driven
through the real command line by real OS accounts (a clerk with modify, a destroyer, a reader, the officer).

Each command runs in a child process that has become the account (``tests/accounts.py``); the agent learns
who it is from the socket. Where the order of checks matters, the child's standard input is a real terminal
(a pseudo-terminal with the answer already typed), so a command that asked for the typed confirmation before
the agent's refusal would show its prompt — and these tests see that it does not.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import pwd
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from retention_agent.clock import BRUSSELS, local_date, parse_utc
from retention_agent.i18n import catalogue as i18n
from retention_agent.rules import retention
from retention_agent.rules.access import REQUIRED_ROLES
from retention_agent.rules.subjects import keyed_digest
from retention_agent.runtime.agent import SUBJECT_KEY_PURPOSE
from retention_agent.system.home import Home
from retention_agent.system.init_home import load_signing_key
from retention_agent.vault.keys import FileKeyStore
from tests.accounts import create_account, in_child_as, needs_root, remove_account
from tests.conftest import ME, AgentProcess, make_home
from tests.helpers_accounts import cli_in_process, hermetic, traversable_folder
from tests.retention_support import api, audit_entries, delivery_row, fast_ticks, proof_doc, received_days_ago

pytestmark = needs_root
OFFICER_NAME = "Inge Vermeersch"
PROMPT = "Type the delivery id"
OPERATION_CODES = sorted(code for code in REQUIRED_ROLES if "." in code)
SUGGESTS_RIGHTS = ("give the account", "staff add", "ask the privacy officer", "the role officer")


@dataclass
class Office:
    agent: AgentProcess
    accounts: dict[str, str]  # who -> OS account name
    old: str  # received 60 days ago: a ceremony date after its receipt can make it due now
    spare: str  # another one, for the early destruction
    quarantined: str

    @property
    def home(self) -> Path:
        return self.agent.home


@dataclass
class Ran:
    exit: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="module")
def office() -> Iterator[Office]:
    names = {who: f"ra15-{who}-{os.getpid() % 10000}" for who in ("clerk", "destroyer", "reader")}
    for name in names.values():
        create_account(name)
    try:
        with traversable_folder() as folder, hermetic():
            home = make_home(folder / "home")
            fast_ticks(home.root)
            old = received_days_ago(home.root, 60, b"AgII list received two months ago")
            spare = received_days_ago(home.root, 60, b"another AgII list received two months ago")
            quarantined = received_days_ago(home.root, 1, b"PK\x03\x04 an unknown format", quarantine=True)
            agent = AgentProcess(home.root).start()
            try:
                api(home.root, "staff.add", {"account": ME, "name": OFFICER_NAME, "roles": ["officer"]})
                for who, roles in (("clerk", ["read", "modify"]), ("destroyer", ["modify", "destroy"]),
                                   ("reader", ["read"])):
                    api(home.root, "staff.add", {"account": names[who], "name": who.title(), "roles": roles})
                yield Office(agent, names, old, spare, quarantined)
            finally:
                agent.stop()
    finally:
        for name in names.values():
            remove_account(name)


def run(office: Office, who: str, *args: str, typed: str | None = None, lang: str = "en") -> Ran:
    """The real command line as ``who`` (an OS account, or "officer": this process's account, the officer).

    ``typed``: standard input is a terminal on which this has been typed (None: no terminal, as in a script).
    """
    def command() -> bytes:
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)  # open --stdout writes bytes
        err = io.StringIO()
        sys.stdout, sys.stderr = out, err
        if lang == "nl":
            os.environ.pop("RETENTION_AGENT_LANG", None)  # no choice made: Dutch
        if typed is not None:
            terminal, answer = os.openpty()
            os.write(terminal, typed.encode() + b"\n")
            sys.stdin = open(answer, encoding="utf-8")
        else:
            sys.stdin = open(os.devnull, encoding="utf-8")
        try:
            cli_in_process(Home(office.home), *args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return pickle.dumps((code, out.buffer.getvalue().decode(errors="replace"), err.getvalue()))

    i18n.catalogue("nl")  # read here: the child's account may not read the installation's files
    if who == "officer":
        uid, gid = os.getuid(), os.getgid()
    else:
        entry = pwd.getpwnam(office.accounts[who])
        uid, gid = entry.pw_uid, entry.pw_gid
    code, stdout, stderr = pickle.loads(in_child_as(uid, gid, command))
    return Ran(code, stdout, stderr)


def today() -> date:
    return datetime.now(BRUSSELS).date()


def assert_points_to_the_right_person(ran: Ran) -> None:
    assert [code for code in OPERATION_CODES if code in ran.text] == [], ran.text
    assert not any(phrase in ran.text.lower() for phrase in SUGGESTS_RIGHTS), ran.text


def assert_untouched(office: Office, delivery: str) -> None:
    row = delivery_row(office.home, delivery)
    assert row["state"] == "vaulted" and row["ceremony_date"] is None, row
    assert (office.home / "vault" / "objects" / f"{delivery}.rav").exists()
    assert [e for e in audit_entries(office.home, "purge.started") if delivery in e["subject"]] == []


# ---- 1. ceremony dates that make sense -----------------------------------------------------------------------


def test_a_mistyped_ceremony_date_is_refused_and_the_delivery_stays_in_the_vault(office: Office) -> None:
    old = office.old
    received = local_date(parse_utc(delivery_row(office.home, old)["received_at"]))
    typo = today() - timedelta(days=40)  # after the receipt, but its deadline has passed: it would destroy at once

    clerk = run(office, "clerk", "ceremony", "set", old, "--date", typo.isoformat(), typed=old)
    assert clerk.exit == 3, clerk
    assert PROMPT not in clerk.stdout  # refused before anyone is asked to confirm
    assert ("may not record a ceremony date that makes a delivery due now, which destroys it at once"
            in clerk.stderr), clerk.stderr
    assert "Only a staff member with the role destroy can do this." in clerk.stderr
    assert_points_to_the_right_person(clerk)

    # the officer without the role destroy is told the same: who can, not whom to ask for a right
    officer = run(office, "officer", "ceremony", "set", old, "--date", typo.isoformat(), "--reason", "x",
                  typed=old)
    assert officer.exit == 3 and "Only a staff member with the role destroy" in officer.stderr, officer
    assert_points_to_the_right_person(officer)

    long_ago = run(office, "clerk", "ceremony", "set", old, "--date", "2000-01-01")
    assert long_ago.exit == 2, long_ago
    assert (f"The ceremony date 01/01/2000 is before delivery {old} was received ({i18n.format_day(received, 'en')})"
            in long_ago.stderr), long_ago.stderr

    latest = retention.add_months_clipped(received, 24)
    too_far = run(office, "clerk", "ceremony", "set", old, "--date", (latest + timedelta(days=1)).isoformat())
    assert too_far.exit == 2, too_far
    assert f"the latest ceremony date for this delivery is {i18n.format_day(latest, 'en')}" in too_far.stderr

    assert_untouched(office, old)
    assert api(office.home, "vault.verify")["ok"] is True
    # a refusal keeps the delivery id only as a keyed hash, which the agent's key can match
    key = load_signing_key(FileKeyStore(office.home / "keys")).derive(SUBJECT_KEY_PURPOSE)
    denied = [e for e in audit_entries(office.home) if e["outcome"] == "denied"
              and e["details"].get("subjects_hmac") == keyed_digest(key, [old])]
    assert [(e["actor"], e["action"]) for e in denied] == [
        (office.accounts["clerk"], "ceremony.early"), (ME, "ceremony.early")]


def test_the_refusal_is_dutch_by_default(office: Office) -> None:
    typo = today() - timedelta(days=40)
    ran = run(office, "clerk", "ceremony", "set", office.old, "--date", typo.isoformat(), lang="nl")
    assert ran.exit == 3
    assert (f"Het account {office.accounts['clerk']} mag dit niet: een ceremoniedatum registreren waardoor een "
            "levering nu aan de beurt is, zodat ze meteen vernietigd wordt.") in ran.stderr, ran.stderr
    assert "tip: Alleen een medewerker met de rol destroy kan dit doen." in ran.stderr
    assert_untouched(office, office.old)


def test_an_early_destruction_needs_the_destroyer_a_reason_and_the_typed_id_and_is_never_late(
        office: Office) -> None:
    spare = office.spare
    before = delivery_row(office.home, spare)
    day = today() - timedelta(days=45)

    no_reason = run(office, "destroyer", "ceremony", "set", spare, "--date", day.isoformat(), typed=spare)
    assert no_reason.exit == 2 and "This change needs a reason." in no_reason.stderr, no_reason
    assert PROMPT not in no_reason.stdout  # a missing option is found before anyone is asked to confirm
    mistyped = run(office, "destroyer", "ceremony", "set", spare, "--date", day.isoformat(), "--reason",
                   "ceremony held on this date, recorded late", typed="01WRONG")
    assert mistyped.exit == 2 and PROMPT in mistyped.stdout, mistyped
    assert "ceremony recorded after the fact" in mistyped.stdout
    assert_untouched(office, spare)

    reason = "ceremony held on this date, recorded late"
    done = run(office, "destroyer", "ceremony", "set", spare, "--date", day.isoformat(), "--reason", reason,
               typed=spare)
    assert done.exit == 0, done
    assert "the delivery was destroyed, proof of deletion" in done.stdout
    doc = proof_doc(office.home, spare)
    assert (doc["trigger"], doc["reason"], doc["lateness_seconds"]) == ("early", "ceremony-recorded-after-the-fact", 0)
    assert doc["reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()
    assert doc["due_at"] == before["due_at"]  # its deadline before the change: the 24-month maximum
    assert doc["deadline"] == retention.deadline(day, retention.VCMP_05_2024).isoformat()
    [recorded] = [e for e in audit_entries(office.home, "ceremony.set") if spare in e["subject"]]
    assert (recorded["actor"], recorded["details"]["early"], recorded["details"]["after_the_fact"]) == (
        office.accounts["destroyer"], True, True)
    assert not (office.home / "vault" / "objects" / f"{spare}.rav").exists()


def test_purge_asks_the_agent_before_it_asks_for_the_typed_id(office: Office) -> None:
    ran = run(office, "clerk", "purge", office.old, "--reason", "duplicate", typed=office.old)
    assert ran.exit == 3, ran
    assert PROMPT not in ran.stdout
    assert "may not destroy a delivery before its deadline" in ran.stderr
    assert "Only a staff member with the role destroy can do this." in ran.stderr
    assert_points_to_the_right_person(ran)
    no_reason = run(office, "destroyer", "purge", office.old, typed=office.old)
    assert no_reason.exit == 2 and PROMPT not in no_reason.stdout, no_reason
    assert_untouched(office, office.old)


# ---- 2. quarantine has a way out -----------------------------------------------------------------------------


def test_a_quarantined_delivery_is_the_officers_decision_and_is_released_and_scheduled(office: Office) -> None:
    q = office.quarantined
    opened = run(office, "reader", "open", q, "--purpose", "invite", "--stdout")
    assert opened.exit == 3, opened
    assert "may not open a quarantined delivery" in opened.stderr
    assert f"Only the privacy officer can do this: {OFFICER_NAME} ({ME})." in opened.stderr
    assert_points_to_the_right_person(opened)

    ceremony = run(office, "clerk", "ceremony", "set", q, "--date", (today() + timedelta(days=20)).isoformat())
    assert ceremony.exit == 1 and f"Delivery {q} is in quarantine" in ceremony.stderr, ceremony
    by_clerk = run(office, "clerk", "quarantine", "release", q, "--reason", "looks fine")
    assert by_clerk.exit == 3 and "may not release a delivery from quarantine" in by_clerk.stderr, by_clerk
    assert_points_to_the_right_person(by_clerk)
    no_reason = run(office, "officer", "quarantine", "release", q)
    assert no_reason.exit == 2 and "needs a reason" in no_reason.stderr, no_reason
    assert delivery_row(office.home, q)["state"] == "quarantined"

    reason = "AgII changed its file format (mail of 3 November)"
    released = run(office, "officer", "quarantine", "release", q, "--reason", reason)
    assert released.exit == 0, released
    assert f"{q} is released from quarantine" in released.stdout
    [entry] = audit_entries(office.home, "quarantine.released")
    assert (entry["actor"], entry["subject"], entry["details"]) == (
        ME, [q], {"state": "vaulted", "reason_sha256": hashlib.sha256(reason.encode()).hexdigest()})
    assert reason not in json.dumps(audit_entries(office.home))

    now_open = run(office, "reader", "open", q, "--purpose", "invite", "--stdout")
    assert now_open.exit == 0, now_open  # an ordinary delivery now: the role read suffices
    day = today() + timedelta(days=20)
    scheduled = run(office, "clerk", "ceremony", "set", q, "--date", day.isoformat())
    assert scheduled.exit == 0, scheduled
    row = delivery_row(office.home, q)
    deadline = retention.deadline(day, retention.VCMP_05_2024)
    assert (row["state"], row["ceremony_date"], row["deadline"]) == ("scheduled", day.isoformat(),
                                                                     deadline.isoformat())


def test_no_refusal_of_this_module_named_an_operation_or_a_right_to_hand_out(office: Office) -> None:
    """Read back from the audit log: every refusal above happened, and was recorded by its action code there (the
    log is for the DPO and the officer; the code never reached the person refused)."""
    denied = {(e["actor"], e["action"]) for e in audit_entries(office.home) if e["outcome"] == "denied"}
    clerk, reader = office.accounts["clerk"], office.accounts["reader"]
    assert {(clerk, "ceremony.early"), (clerk, "purge.early"), (clerk, "quarantine.release"),
            (reader, "open.quarantined")} <= denied
