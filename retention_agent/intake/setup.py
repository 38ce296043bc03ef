"""Build the intake watchers from the configuration (called by the composition root)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from retention_agent.clock import Clock
from retention_agent.config import Config, DownloadsSettings, MailboxSettings, inbox_name
from retention_agent.intake import downloads as zivver
from retention_agent.intake.base import Deliver, DeliverMessage, RefusalReport, SourceKept
from retention_agent.intake.copies import CopyLedger, CopySettings
from retention_agent.intake.credentials import Credentials, Mechanism, StaticCredentials
from retention_agent.intake.folder import FolderWatcher
from retention_agent.intake.folder_rules import FolderConfig
from retention_agent.intake.mail_driver import MailboxDriver
from retention_agent.intake.mailbox import MailboxWatcher
from retention_agent.intake.mailbox_rules import MailboxConfig
from retention_agent.intake.oauth import AppTokens, DelegatedTokens, Flow, OAuthConfig, scopes_for
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


def downloads_watchers(config: Config, deliver: Deliver, clock: Clock, board: zivver.NoticeBoard, *,
                       protected: Sequence[Path] = (), report: RefusalReport | None = None,
                       source_kept: SourceKept | None = None) -> dict[str, FolderWatcher]:
    """Watchers of Downloads folders for Zivver files (per-user mode; config validation holds that)."""
    watchers = {}
    for settings in config.downloads:
        rules = download_rules(settings)

        def select(name: str, info: os.stat_result, rules: zivver.DownloadRules = rules) -> bool:
            return zivver.selects(rules, name, info, board)

        folder = FolderConfig(name=settings.name, path=Path(settings.path), patterns=settings.patterns,
                              channel="zivver", settle_seconds=settings.settle_seconds,
                              scan_interval_s=settings.scan_interval_seconds,
                              max_file_bytes=min(settings.max_bytes, config.intake.max_file_bytes),
                              protected=tuple(protected), select=select, file_types=settings.file_types)
        watcher = FolderWatcher(folder, deliver, clock, report=report, source_kept=source_kept)
        board.subscribe(watcher.request_scan)
        watchers[f"downloads:{settings.name}"] = watcher
    return watchers


def download_rules(settings: DownloadsSettings) -> zivver.DownloadRules:
    window = timedelta(minutes=settings.window_minutes) if settings.notification_mailbox else None
    return zivver.DownloadRules(patterns=settings.patterns, file_types=settings.file_types,
                                min_bytes=settings.min_bytes, max_bytes=settings.max_bytes, window=window)


def mailbox_watchers(config: Config, deliver: Deliver, clock: Clock, keys: KeyStore, *,
                     deliver_message: DeliverMessage | None = None,
                     report: RefusalReport | None = None, copies: CopyLedger | None = None,
                     board: zivver.NoticeBoard | None = None) -> dict[str, MailboxWatcher]:
    def secret(name: str) -> str:
        value = keys.get(name)
        if value is None:
            raise KeyError(name)
        return value.decode()

    watchers = {}
    for box in config.mailbox:
        rule = Rule(name=f"{box.name}-agii", senders=box.senders, subjects=box.subjects, file_types=AGII_TYPES)
        notices = [d for d in config.downloads if d.notification_mailbox == box.name]
        mailbox = MailboxConfig(name=box.name, host=box.host or "graph", port=box.port, username=box.username,
                                secret_name=f"secret/mailbox-{box.name}", tls=box.tls,  # type: ignore[arg-type]
                                folder=box.folder, auth="xoauth2" if box.auth == "xoauth2" else "password",
                                poll_interval_s=box.poll_interval_seconds, use_idle=box.use_idle, rules=(rule,),
                                channel="zivver" if box.channel == "zivver" else "email",
                                ca_file=box.ca_file or None,
                                max_message_bytes=min(MAX_MESSAGE_BYTES, config.intake.max_file_bytes),
                                max_files_per_message=config.intake.max_files_per_message,
                                authserv_id=box.authserv_id, agii_domain=box.agii_domain,
                                copies=CopySettings(mode=box.copies,  # type: ignore[arg-type]
                                                    include=box.copies_include, exclude=box.copies_exclude),
                                notice_senders=tuple(s for d in notices for s in d.notification_senders),
                                notice_subjects=tuple(s for d in notices for s in d.notification_subjects) or ("*",))
        credentials = mailbox_credentials(box, keys, clock, secret)
        driver = _driver(box, credentials, clock)
        watchers[f"mailbox:{box.name}"] = MailboxWatcher(
            mailbox, deliver, secret, clock, deliver_message=deliver_message, report=report,
            credentials=credentials, driver=driver, copies=copies,
            notice=board.notice if (board is not None and notices) else None)
    return watchers


def mailbox_credentials(box: MailboxSettings, keys: KeyStore, clock: Clock,
                        secret: Callable[[str], str]) -> Credentials:
    """A password (or pasted token) from the key store, or OAuth2 tokens the agent acquires itself."""
    if not box.auth.startswith("oauth2-"):
        mechanism: Mechanism = "xoauth2" if box.auth == "xoauth2" else "password"
        return StaticCredentials(secret, f"secret/mailbox-{box.name}", mechanism)
    flow: Flow = "app" if box.auth == "oauth2-app" else "delegated"
    oauth = OAuthConfig(mailbox=box.name, flow=flow, tenant=box.tenant, client_id=box.client_id,
                        scopes=scopes_for(box.driver, flow), credential=box.credential,  # type: ignore[arg-type]
                        certificate_path=box.certificate_path, authority_host=box.authority_host,
                        mechanism=box.sasl, ca_file=box.ca_file or None)  # type: ignore[arg-type]
    return AppTokens(oauth, keys, clock) if flow == "app" else DelegatedTokens(oauth, keys, clock)


def _driver(box: MailboxSettings, credentials: Credentials, clock: Clock) -> MailboxDriver | None:
    """None: the watcher's default IMAP driver."""
    if box.driver != "graph":
        return None
    from retention_agent.intake.graph_driver import GraphDriver

    return GraphDriver(base_url=box.graph_url, mailbox=box.username, credentials=credentials, clock=clock,
                       ca_file=box.ca_file or None)
