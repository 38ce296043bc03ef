"""The copy search after a taken message: how long it takes in a full mailbox, and what it reads.

A throwaway Dovecot on loopback (``tests/dovecot.py``) with the folders INBOX, Archief, Sent and Trash, filled
with ``--messages`` ordinary messages spread over the four folders, each with one attachment; then an AgII
message in INBOX and a copy of its file in each of the other three folders. One :class:`MailboxWatcher` cycle
takes the message and runs the copy search (``copies = "remove"``): the figure is that cycle's time minus the
same cycle without the search (``copies = "off"``), on fresh copies of the same mailbox.

Two mailboxes: ``smaller`` (the ordinary attachments are smaller than AgII's file, so ``SEARCH LARGER`` leaves
only the copies), and ``same_size`` (every ordinary attachment has the size of AgII's file: every message is a
candidate whose body part is fetched and hashed; at most 500 per folder, beyond which the search reports the
folder as searched partly). Memory stays bounded by the largest attachment.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_mail_copies [--messages 2000]``.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from email.message import EmailMessage
from typing import Any, BinaryIO

from retention_agent.clock import SystemClock
from retention_agent.intake.base import DeliverResult
from retention_agent.intake.copies import CopySettings, MemoryLedger
from retention_agent.intake.mailbox import MailboxWatcher
from retention_agent.intake.mailbox_rules import MailboxConfig
from retention_agent.intake.rules import Rule
from tests.dovecot import DovecotServer, run_dovecot

FOLDERS = ("INBOX", "Archief", "Sent", "Trash")
RULE = Rule(name="agii", senders=("*@agii.be",), file_types=("zip",))


def deliver(stream: BinaryIO, *, channel: str, source: str, quarantine: bool, reason: str = "") -> DeliverResult:
    return DeliverResult(hashlib.sha256(stream.read()).hexdigest()[:12], False)


def mail(sender: str, data: bytes, n: int) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["Subject"] = f"bericht {n}"
    message["Message-ID"] = f"<{n}-{os.urandom(4).hex()}@bench.example>"
    message.set_content("Zie bijlage.")
    message.add_attachment(data, maintype="application", subtype="zip", filename=f"f{n}.zip")
    return message.as_bytes()


def fill(server: DovecotServer, messages: int, agii_file: bytes, other_size: int) -> None:
    client = server.client()
    for n in range(messages):
        client.append(FOLDERS[n % len(FOLDERS)], mail("collega@gemeente.example", os.urandom(other_size), n))
    for folder in FOLDERS[1:]:
        client.append(folder, mail("collega@gemeente.example", agii_file, 10**6 + len(folder)))
    client.append("INBOX", mail("AgII <noreply@agii.be>", agii_file, 10**7))
    client.logout()


def cycle(server: DovecotServer, mode: str) -> tuple[float, Any]:
    ledger = MemoryLedger()
    config = MailboxConfig(name="bench", host=server.host, port=server.port, username=server.user,
                           secret_name="s", tls="none", rules=(RULE,), copies=CopySettings(mode=mode))  # type: ignore[arg-type]
    watcher = MailboxWatcher(config, deliver, lambda _: server.password, SystemClock(), copies=ledger)
    started = time.perf_counter()
    report = watcher.poll_once()
    elapsed = time.perf_counter() - started
    watcher.stop()
    assert report.error_id is None and report.expunged == 1, report
    return elapsed, (report, ledger)


def measure(messages: int, file_size: int, other_size: int) -> dict[str, Any]:
    agii_file = b"PK\x03\x04" + os.urandom(file_size - 4)
    timings = {}
    found: dict[str, Any] = {}
    for mode in ("off", "remove"):
        with run_dovecot(folders=("Archief", "Sent")) as server:
            fill(server, messages, agii_file, other_size)
            seconds, (report, ledger) = cycle(server, mode)
            timings[mode] = seconds
            if mode == "remove":
                ((_, result),) = ledger.finished.values()
                found = {"copies_found": report.copies_found, "copies_removed": report.copies_removed,
                         "complete": result.complete, "folders_searched": result.folders_searched}
    return {"cycle_without_search_s": round(timings["off"], 3), "cycle_with_search_s": round(timings["remove"], 3),
            "copy_search_s": round(timings["remove"] - timings["off"], 3), **found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="ordinary messages in the mailbox")
    parser.add_argument("--size", type=int, default=100_000, help="bytes of AgII's file")
    options = parser.parse_args()
    result = {"messages": options.messages, "file_bytes": options.size,
              "smaller": measure(options.messages, options.size, options.size // 4),
              "same_size": measure(options.messages, options.size, options.size)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
