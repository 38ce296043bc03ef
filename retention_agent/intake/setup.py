"""Build the intake watchers from the configuration (called by the composition root)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from retention_agent.clock import Clock
from retention_agent.config import Config, inbox_name
from retention_agent.intake.base import Deliver, DeliverMessage, RefusalReport, SourceKept
from retention_agent.intake.folder import FolderConfig, FolderWatcher
from retention_agent.intake.mailbox import MailboxConfig, MailboxWatcher
from retention_agent.intake.rules import Rule
from retention_agent.vault.keys import KeyStore

AGII_TYPES = ("xlsx-encrypted", "xlsx", "zip", "7z", "pdf")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a message is held in memory: never more than this, whatever the file limit


def folder_watchers(config: Config, deliver: Deliver, clock: Clock, *, protected: Sequence[Path] = (),
                    report: RefusalReport | None = None,
                    source_kept: SourceKept | None = None) -> dict[str, FolderWatcher]:
    """``protected``: the agent's home and the key store's folders, which no drop folder may lie in."""
    watchers = {}
    for index, inbox in enumerate(config.inbox):
        name = inbox_name(inbox, index)
        folder = FolderConfig(name=name, path=Path(inbox.path), patterns=inbox.patterns,
                              channel="zivver" if inbox.channel == "zivver" else "folder",
                              polling=inbox.polling, settle_seconds=inbox.settle_seconds,
                              scan_interval_s=inbox.scan_interval_seconds,
                              max_file_bytes=config.intake.max_file_bytes,
                              refuse_agent_files=config.deployment == "shared", protected=tuple(protected))
        watchers[f"folder:{name}"] = FolderWatcher(folder, deliver, clock, report=report, source_kept=source_kept)
    return watchers


def mailbox_watchers(config: Config, deliver: Deliver, clock: Clock, keys: KeyStore, *,
                     deliver_message: DeliverMessage | None = None,
                     report: RefusalReport | None = None) -> dict[str, MailboxWatcher]:
    def secret(name: str) -> str:
        value = keys.get(name)
        if value is None:
            raise KeyError(name)
        return value.decode()

    watchers = {}
    for box in config.mailbox:
        rule = Rule(name=f"{box.name}-agii", senders=box.senders, subjects=box.subjects, file_types=AGII_TYPES)
        mailbox = MailboxConfig(name=box.name, host=box.host, port=box.port, username=box.username,
                                secret_name=f"secret/mailbox-{box.name}", tls=box.tls,  # type: ignore[arg-type]
                                folder=box.folder, auth=box.auth,  # type: ignore[arg-type]
                                poll_interval_s=box.poll_interval_seconds, use_idle=box.use_idle, rules=(rule,),
                                channel="zivver" if box.channel == "zivver" else "email",
                                max_message_bytes=min(MAX_MESSAGE_BYTES, config.intake.max_file_bytes),
                                max_files_per_message=config.intake.max_files_per_message,
                                authserv_id=box.authserv_id, agii_domain=box.agii_domain)
        watchers[f"mailbox:{box.name}"] = MailboxWatcher(mailbox, deliver, secret, clock,
                                                         deliver_message=deliver_message, report=report)
    return watchers
