"""Mailbox intake latency: from APPEND on the server to the message's EXPUNGE, with IDLE.

A throwaway Dovecot on loopback (``tests/dovecot.py``), one :class:`MailboxWatcher` thread in IDLE (poll
interval 60 s, so only IDLE can explain a fast pick-up) and an in-memory ``deliver`` that keeps bytes by
SHA-256. An observer connection stops the clock when the folder is empty again (STATUS, every 5 ms).
Dovecot itself batches IDLE notifications for about 0.5 s, which is most of the figure. Messages arrive after
a random pause (``--gap``), independent of the watcher's rhythm like real mail; one that lands in the few
milliseconds before IDLE restarts is not announced by Dovecot and waits for the next re-check
(``idle_recheck_s``, 4 s): ``over_2s`` counts those. ``--gap 0`` provokes that window on purpose. Each message carries
one AES-encrypted zip of ``--size`` bytes. Goal (issue 4): under 5 s.

Run from the repository root: ``.venv/bin/python -m benchmarks.bench_imap [--n 30] [--size 100000]``.
Prints one JSON object: ``{"imap_latency_s": median, "p95": ..., ...}``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import statistics
import time
from email.message import EmailMessage
from typing import BinaryIO

import pyzipper
from imapclient import IMAPClient

from retention_agent.clock import SystemClock
from retention_agent.intake.base import DeliverResult
from retention_agent.intake.mailbox import MailboxWatcher
from retention_agent.intake.mailbox_rules import MailboxConfig
from retention_agent.intake.rules import Rule
from tests.dovecot import run_dovecot


class MemoryDeliver:
    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        data = stream.read()
        digest = hashlib.sha256(data).hexdigest()
        duplicate = digest in self.store
        self.store[digest] = data
        return DeliverResult(digest[:12], duplicate)


def message(size: int) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"bench-password")
        archive.writestr("attesten.csv", os.urandom(size))
    mail = EmailMessage()
    mail["From"] = "AgII <noreply@agii.be>"
    mail["Subject"] = "Lijst inburgeringsattesten"
    mail["Message-ID"] = f"<{os.urandom(8).hex()}@agii.example>"
    mail.set_content("In bijlage de lijst.")
    mail.add_attachment(buffer.getvalue(), maintype="application", subtype="zip", filename="lijst.zip")
    return mail.as_bytes()


def one_round(appender: IMAPClient, observer: IMAPClient, raw: bytes) -> float:
    """Seconds from the start of APPEND until the folder is empty again (the message was expunged).

    The observer asks ``STATUS INBOX (MESSAGES)`` every 5 ms without selecting the folder: EXPUNGE notices are
    not reliable for this (a session that never saw a message is not told it went), and idling itself would
    add Dovecot's half-second notification delay to the figure.
    """
    started = time.perf_counter()
    appender.append("INBOX", raw)
    while time.perf_counter() - started < 30:
        if observer.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0:
            return time.perf_counter() - started
        time.sleep(0.005)
    raise TimeoutError("the message was not expunged within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--gap", type=float, default=1.0,
                        help="random pause of 0..GAP s before each APPEND (0: append the moment the last "
                             "message is gone, which lands in the window just before IDLE restarts)")
    args = parser.parse_args()
    with run_dovecot() as server:
        rule = Rule(name="agii", senders=("*@agii.be",), file_types=("zip",))
        config = MailboxConfig(name="bench", host=server.host, port=server.port, username=server.user,
                               secret_name="bench", tls="none", rules=(rule,), poll_interval_s=60.0)
        deliver = MemoryDeliver()
        watcher = MailboxWatcher(config, deliver, lambda _: server.password, SystemClock())
        watcher.start()
        appender, observer = server.client(), server.client()
        try:
            while watcher.status.last_success is None:
                time.sleep(0.01)
            samples = []
            for _ in range(args.n):
                time.sleep(random.uniform(0, args.gap))
                samples.append(one_round(appender, observer, message(args.size)))
        finally:
            watcher.stop()
            appender.logout()
            observer.logout()
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    print(json.dumps({
        "imap_latency_s": round(statistics.median(samples), 4),
        "p95": round(p95, 4),
        "max": round(samples[-1], 4),
        "n": len(samples),
        "attachment_bytes": args.size,
        "over_2s": sum(1 for s in samples if s > 2),
        "gap_s": args.gap,
        "idle": True,
        "poll_interval_s": config.poll_interval_s,
        "idle_recheck_s": config.idle_recheck_s,
        "vaulted": len(deliver.store),
    }))


if __name__ == "__main__":
    main()
