"""What a mailbox watcher takes, and what a taken message becomes (pure: no connection, no vault).

The configuration of one mailbox (:class:`MailboxConfig`) and its checks, the error ids a cycle reports and
which of them no retry heals, what one cycle did in counts (:class:`CycleReport`), and the files a matching
message becomes: its attachments, quarantined unless a rule recognises them and the sender is authenticated,
or the whole message as one quarantined delivery when it has too many (steps 3, 3a and 3b of
:mod:`.mailbox`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from . import authresults
from .base import NOT_AUTHENTICATED, TOO_MANY_FILES, Channel, MessageFile
from .copies import CopySettings
from .credentials import ERR_SECRET
from .imap_driver import ERR_AUTH, ERR_OAUTH_REFUSED, ERR_TLS
from .mailfile import Attachment, header_fields
from .rules import Rule, detect_file_type, matches

log = logging.getLogger("retention_agent.intake.mailbox")  # one logger name for every line of the watcher

ERR_DELIVER = "imap-deliver"
ERR_TOO_LARGE = "imap-message-too-large"
ERR_NO_ATTACHMENTS = "imap-no-attachments"
ERR_UNEXPECTED = "imap-unexpected"
ERR_COPIES = "mail-copies-incomplete"
OAUTH_PERMANENT = frozenset({"oauth-credential-refused", "oauth-signin-required", "oauth-certificate-unreadable",
                             "oauth-configuration"})
PERMANENT_ERRORS = frozenset({ERR_AUTH, ERR_TLS, ERR_SECRET, ERR_OAUTH_REFUSED, "graph-access-denied",
                              *OAUTH_PERMANENT})
"""Errors that will not heal by retrying alone: the status shows ``failing`` at once."""

TlsMode = Literal["tls", "starttls", "none"]
AuthMode = Literal["password", "xoauth2"]

_MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class MailboxConfig:
    name: str
    """Configuration name, recorded as the delivery's ``source``: no address or other personal data."""
    host: str
    port: int
    username: str
    secret_name: str
    """Key-store entry holding the password (or, with ``auth = "xoauth2"``, a pasted access token)."""
    tls: TlsMode = "tls"
    folder: str = "INBOX"
    auth: AuthMode = "password"
    poll_interval_s: float = 60.0
    """A full cycle runs at least this often, also while idling."""
    use_idle: bool = True
    idle_recheck_s: float = 4.0
    """While idling, leave IDLE this often to compare UIDNEXT (see :meth:`MailboxWatcher._idle`); this bounds
    the pick-up time of a message the server did not announce (the goal is under 5 s)."""
    rules: tuple[Rule, ...] = ()
    keep_message: bool = False
    channel: Channel = "email"
    ca_file: str | None = None
    """Extra CA bundle for a server with an in-house certificate; verification is never switched off."""
    timeout_s: float = 30.0
    max_message_bytes: int = 64 * _MIB
    """Larger messages are left on the server (noted as ``imap-message-too-large``); held in memory."""
    max_attachment_bytes: int = 64 * _MIB
    expunge_trash: bool = True
    max_files_per_message: int = 20
    """A message with more attachments is vaulted whole as one quarantined delivery."""
    authserv_id: str = ""
    """The ``authserv-id`` of the municipality's own mail server in ``Authentication-Results`` headers; empty:
    senders are not authenticated (status says so)."""
    agii_domain: str = "integratie-inburgering.be"
    """The domain that DKIM or DMARC must have passed for (``header.d`` / ``header.from``)."""
    copies: CopySettings = field(default_factory=CopySettings)
    """Other copies of a taken message's files in the mailbox: removed (default), reported, or not looked for."""
    notice_senders: tuple[str, ...] = ()
    notice_subjects: tuple[str, ...] = ("*",)
    """Messages from ``notice_senders`` with these subjects are notices (Zivver's), told to ``notice``."""

    def __post_init__(self) -> None:
        problem = _config_problem(self)
        if problem:
            raise ValueError(f"mailbox {self.name!r}: {problem}")


def _config_problem(cfg: MailboxConfig) -> str | None:
    checks = [
        (not cfg.name or "@" in cfg.name, "the name must be set and must not be an address"),
        (cfg.tls not in ("tls", "starttls", "none"), "tls must be 'tls', 'starttls' or 'none'"),
        (cfg.auth not in ("password", "xoauth2"), "auth must be 'password' or 'xoauth2'"),
        (not 0 < cfg.port < 65536, "port must be between 1 and 65535"),
        (min(cfg.poll_interval_s, cfg.idle_recheck_s, cfg.timeout_s) <= 0,
         "intervals and timeouts must be positive"),
        (cfg.max_message_bytes <= 0 or cfg.max_attachment_bytes <= 0, "size limits must be positive"),
        (cfg.max_files_per_message < 1, "max_files_per_message must be at least 1"),
        (not cfg.agii_domain.strip(), "agii_domain must not be empty"),
        (not any(r.has_envelope_criteria for r in cfg.rules),
         "no rule names a sender or subject, so no message would ever be taken"),
    ]
    return next((text for failed, text in checks if failed), None)


@dataclass
class CycleReport:
    """What one cycle did, in counts (safe to log)."""

    examined: int = 0
    matched: int = 0
    delivered: int = 0
    duplicates: int = 0
    quarantined: int = 0
    expunged: int = 0
    trash_expunged: int = 0
    left: int = 0
    notices: int = 0
    copies_found: int = 0
    copies_removed: int = 0
    copies_remaining: int = 0
    error_id: str | None = None


def message_files(config: MailboxConfig, raw: bytes, parts: list[Attachment], rules: tuple[Rule, ...], sender: str,
                  subject: str) -> list[MessageFile]:
    """What the message becomes: its attachments (quarantined unless recognised and authenticated), or
    the whole message as one quarantined delivery when it has too many."""
    if len(parts) > config.max_files_per_message:
        log.warning("mailbox %s: %s (%d files); the message is vaulted whole, quarantined",
                    config.name, TOO_MANY_FILES, len(parts))
        return [MessageFile(raw, quarantine=True, reason=TOO_MANY_FILES)]
    authenticated = _authenticated(config, raw, sender)
    reason = "" if authenticated else NOT_AUTHENTICATED
    files = [MessageFile(part.data, quarantine=not (authenticated and _recognised(rules, sender, subject, part)),
                         reason=reason) for part in parts]
    if config.keep_message:
        files.append(MessageFile(raw, quarantine=not authenticated, reason=reason))
    return files


def _authenticated(config: MailboxConfig, raw: bytes, sender: str) -> bool:
    """Without ``authserv_id``: recognition alone (status warns). With it: what that server says."""
    if not config.authserv_id:
        return True
    found, code = authresults.verdict(header_fields(raw),
                                      authserv_id=config.authserv_id, domain=config.agii_domain,
                                      from_domain=sender.rpartition("@")[2])
    if not found:
        log.warning("mailbox %s: %s (%s); its files are quarantined", config.name, NOT_AUTHENTICATED, code)
    return found


def _recognised(rules: Iterable[Rule], sender: str, subject: str, part: Attachment) -> bool:
    file_type = detect_file_type(part.data)
    return any(matches(rule, sender=sender, subject=subject, filename=part.filename, file_type=file_type)
               for rule in rules)
