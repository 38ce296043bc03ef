"""The Microsoft Graph mailbox driver, against a local DOUBLE of Graph v1.0 (``tests/graph_double.py``).

Microsoft Graph cannot run here: these tests show that the driver makes the requests Microsoft documents and
reads the answers in the shapes Microsoft documents — not that Exchange Online behaves as the double does.
The watcher, the copy sweep, the vault stand-in and the proof are the real code.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention_agent.backoff import Backoff
from retention_agent.clock import ManualClock
from retention_agent.evidence import proof, proof_build
from retention_agent.intake.copies import MemoryLedger
from retention_agent.intake.credentials import Credential, TokenStatus
from retention_agent.intake.graph_driver import ERR_DENIED, GraphDriver
from retention_agent.intake.mailbox import MailboxWatcher
from tests.graph_double import GraphDouble
from tests.test_intake_mail import RULE, Recorder, aes_zip, config, make_message
from tests.tls_ca import make_ca

UPN = "agii@gemeente.example"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.double-token"


class Tokens:
    """Credentials that hand out one fixed token (OAuth2 itself is tested in test_mail_oauth_agent.py)."""

    status: TokenStatus | None = None

    def __init__(self) -> None:
        self.invalidated = 0

    def current(self) -> Credential:
        return Credential("xoauth2", TOKEN, 3600.0)

    def invalidate(self) -> None:
        self.invalidated += 1


@pytest.fixture
def graph() -> Iterator[GraphDouble]:
    root = Path(tempfile.mkdtemp(prefix="ra-graph-"))
    try:
        ca = make_ca(root / "ca")
        double = GraphDouble(*ca.server_certificate("graph"), mailbox=UPN, token=TOKEN).start()
        double.ca = ca.cert  # type: ignore[attr-defined]
        try:
            yield double
        finally:
            double.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def graph_watcher(graph: GraphDouble, recorder: Recorder, **overrides: object) -> tuple[MailboxWatcher, Tokens]:
    tokens = Tokens()
    driver = GraphDriver(base_url=graph.url, mailbox=UPN, credentials=tokens, clock=ManualClock(),
                         ca_file=str(graph.ca))  # type: ignore[attr-defined]
    cfg = config_for_graph(**overrides)
    return MailboxWatcher(cfg, recorder, {}.__getitem__, ManualClock(), credentials=tokens, driver=driver,
                          backoff=Backoff(base_s=0.05, max_s=0.1)), tokens


def config_for_graph(**overrides: object) -> object:
    class Server:  # what tests.test_intake_mail.config reads of a Dovecot server
        host, port, user = "graph", 443, UPN

    return config(Server(), rules=(RULE,), **overrides)  # type: ignore[arg-type]


def forward_as_attachment(original: bytes) -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "collega@gemeente.example"
    message["Subject"] = "FW: lijst"
    message["Message-ID"] = "<fw-graph@gemeente.example>"
    message.set_content("Ter info.")
    message.add_attachment(email.message_from_bytes(original, policy=email.policy.default))
    return message.as_bytes(policy=email.policy.SMTP)


def test_messages_and_every_copy_are_deleted_with_permanent_delete(graph: GraphDouble) -> None:
    data = aes_zip()
    archive = graph.add_folder("Archief")
    graph.add_folder("2026", parent=archive)
    original = make_message([("lijst.zip", data)], mid="<agii-graph@agii.example>")
    taken = graph.deliver("inbox", original)
    forwarded = graph.deliver("inbox", forward_as_attachment(original))
    filed = graph.deliver("2026", original)
    sent = graph.deliver("sentitems", make_message([("doorgestuurd.zip", data)], sender="ceremonie@gemeente.example",
                                                   subject="FW: lijst", mid="<fw-sent@gemeente.example>"))
    trashed = graph.deliver("deleteditems", original)
    forged = graph.deliver("Archief", make_message([("nep.zip", b"PK\x03\x04 other")], sender="x@example.org",
                                                   mid="<agii-graph@agii.example>"))
    other = graph.deliver("inbox", make_message([("agenda.pdf", b"%PDF-1.4 agenda")], sender="x@example.org",
                                                mid="<agenda@x>"))
    recorder, ledger = Recorder(), MemoryLedger()
    w, _ = graph_watcher(graph, recorder)
    w._sweeps.ledger = ledger
    report = w.poll_once()
    assert (report.error_id, report.delivered, report.expunged) == (None, 1, 1)
    assert list(recorder.store.values()) == [data]
    assert (report.copies_found, report.copies_removed, report.copies_remaining) == (4, 4, 0)
    assert sorted(graph.purged) == sorted([taken, forwarded, filed, sent, trashed])  # permanentDelete, each one
    assert set(graph.messages) == {forged, other}
    ((_, result),) = ledger.finished.values()
    assert result.method == "graph-permanent-delete"
    assert {(f.folder, f.special_use, f.found, f.removed) for f in result.folders} == {
        ("Inbox", None, 1, 1), ("Archief/2026", None, 1, 1), ("Sent Items", "\\Sent", 1, 1),
        ("Deleted Items", "\\Trash", 1, 1)}
    assert any(r.startswith("POST ") and r.endswith("/permanentDelete") for r in graph.requests)
    assert not any(r.startswith("DELETE ") for r in graph.requests)  # never the restorable kind of delete


def test_the_proof_of_a_graph_deletion_names_the_purges_folder() -> None:
    section = {"mailbox": "agii", "state": "done", "mode": "remove", "method": "graph-permanent-delete",
               "searched_at": "2026-11-02T09:00:00Z", "complete": True, "found": 1, "removed": 1, "remaining": 0,
               "folders": [{"folder": "Inbox", "special_use": None, "found": 1, "removed": 1, "remaining": 0}]}
    codes = proof_build.mailbox_not_covered(section, "email")
    assert codes == [proof.MAIL_PURGES_FOLDER]
    assert proof_build.mailbox_not_covered({**section, "method": "imap-expunge", "remaining": 1}, "email") == [
        proof.MAIL_RECOVERABLE_ITEMS, proof.MAILBOX_COPIES_REMAINING]
    assert proof_build.mailbox_not_covered(None, "email") == [proof.MAILBOX_COPIES_NOT_SEARCHED]
    assert proof_build.mailbox_not_covered(None, "folder") == []


def test_an_application_access_policy_that_excludes_the_mailbox_is_a_permanent_failure(graph: GraphDouble) -> None:
    graph.allowed = False
    graph.deliver("inbox", make_message([("lijst.zip", aes_zip())]))
    w, _ = graph_watcher(graph, Recorder())
    report = w.poll_once()
    assert report.error_id == ERR_DENIED
    assert (w.status.state, w.status.last_error_id) == ("failing", ERR_DENIED)
    assert len(graph.messages) == 1
    graph.allowed = True
    assert w.poll_once().expunged == 1 and w.status.state == "ok"


def test_a_mistyped_mailbox_address_is_a_permanent_failure_not_an_empty_mailbox(graph: GraphDouble) -> None:
    graph.deliver("inbox", make_message([("lijst.zip", aes_zip())]))
    driver = GraphDriver(base_url=graph.url, mailbox="agii@gemeente.exampel", credentials=Tokens(),
                         clock=ManualClock(), ca_file=str(graph.ca))  # type: ignore[attr-defined]
    w = MailboxWatcher(config_for_graph(), Recorder(), {}.__getitem__, ManualClock(), credentials=Tokens(),
                       driver=driver, backoff=Backoff(base_s=0.05, max_s=0.1))
    assert w.poll_once().error_id == ERR_DENIED  # Graph answers 404: no such user in the tenant
    assert (w.status.state, w.status.last_error_id) == ("failing", ERR_DENIED)
    assert len(graph.messages) == 1


def test_a_rejected_token_is_not_offered_again(graph: GraphDouble) -> None:
    graph.token = "another-token"  # the token the agent holds was revoked
    w, tokens = graph_watcher(graph, Recorder())
    assert w.poll_once().error_id == ERR_DENIED
    assert tokens.invalidated == 1


def test_listing_follows_next_links(graph: GraphDouble) -> None:
    for n in range(230):  # more than two pages of 100
        graph.deliver("inbox", make_message([], sender="x@example.org", mid=f"<m{n}@x>"))
    w, _ = graph_watcher(graph, Recorder())
    report = w.poll_once()
    assert report.examined == 230 and report.error_id is None
    assert sum(1 for r in graph.requests if r.endswith("/mailFolders/inbox/messages")) >= 3
    assert not any(r.endswith("/$value") for r in graph.requests)  # none matched: not one message was read


def test_a_next_link_to_another_host_is_not_followed(graph: GraphDouble) -> None:
    """The token is sent to Graph's own origin only: not to a host whose name merely starts the same way."""
    for n in range(130):
        graph.deliver("inbox", make_message([], sender="x@example.org", mid=f"<m{n}@x>"))
    graph.link_origin = graph.url + "0"  # https://127.0.0.1:PORT0: the same prefix, another server
    w, _ = graph_watcher(graph, Recorder())
    report = w.poll_once()
    assert (report.error_id, report.examined) == (None, 100)  # the first page; the link was not followed
