"""Configuration: a TOML file in the home, documented defaults, and errors that name the key and the fix.

Every setting is a typed field of a dataclass below; ``docs/configuration.md`` documents them. Unknown keys
are refused (a typo must not silently fall back to a default), with a suggestion when one is close.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from retention_agent.errors import ConfigError, ConfigSyntaxError
from retention_agent.i18n.catalogue import t, translate
from retention_agent.i18n.msgids import N_

KEY_STORES = ("keyring", "file")
DEPLOYMENTS = ("user", "shared")
# The largest value each number may take (the smallest is checked with its own message in ``_validate``):
# a huge number is a typo, and some (a tick of 10**17 seconds) would stop a thread of the agent.
MAXIMA: dict[str, float] = {
    "retention.max_without_ceremony_months": 120,
    "retention.reminder_days_before": 365,
    "retention.no_ceremony_staff_days": 3650,
    "retention.no_ceremony_officer_days": 3650,
    "retention.clock_forward_margin_hours": 8760,
    "retention.tick_seconds": 3600,
    "workspace.wipe_after_hours": 720,
    "audit.checkpoint_interval_minutes": 10080,
    "intake.max_file_bytes": 1 << 40,
    "intake.max_files_per_message": 10000,
    "copies.interval_minutes": 10080,
    "copies.max_document_bytes": 1 << 30,
    "copies.document_seconds": 3600,
    "copies.sweep_seconds": 86400,
    "disk.free_space_floor_mib": 1 << 20,
    "disk.free_space_floor_percent": 50,
    "inbox.settle_seconds": 3600,
    "inbox.scan_interval_seconds": 86400,
    "mailbox.poll_interval_seconds": 86400,
    "downloads.min_bytes": 1 << 40,
    "downloads.max_bytes": 1 << 40,
    "downloads.window_minutes": 10080,
    "downloads.settle_seconds": 3600,
    "downloads.scan_interval_seconds": 86400,
}
CHANNELS = ("email", "zivver", "folder", "manual")
DEFAULT_PATTERNS = ("*.xlsx", "*.zip", "*.7z", "*.pdf", "*.eml")


@dataclass(frozen=True)
class RetentionSettings:
    max_without_ceremony_months: int = 24
    reminder_days_before: tuple[int, ...] = (7, 1)
    no_ceremony_staff_days: int = 14
    no_ceremony_officer_days: int = 30
    clock_forward_margin_hours: int = 48
    tick_seconds: int = 30


@dataclass(frozen=True)
class WorkspaceSettings:
    wipe_after_hours: float = 8.0


@dataclass(frozen=True)
class AuditSettings:
    checkpoint_interval_minutes: int = 60


@dataclass(frozen=True)
class IntakeSettings:
    """Limits that hold for every drop folder and mailbox."""

    max_file_bytes: int = 512 * 1024 * 1024
    max_files_per_message: int = 20


@dataclass(frozen=True)
class CopiesSettings:
    """The sweep for copies of deliveries on workstations (docs/configuration.md)."""

    sweep: bool = True  # the per-user agent and the staff's sessions sweep their folders
    interval_minutes: int = 60
    defaults: bool = True  # the platform's usual places (Desktop, Documents, Downloads, Outlook's cache, ...)
    locations: tuple[str, ...] = ()  # more folders: absolute, or starting with ~/ (each sweeping account's home)
    max_document_bytes: int = 20 * 1024 * 1024
    document_seconds: float = 5.0
    sweep_seconds: float = 900.0


@dataclass(frozen=True)
class DiskSettings:
    """The floor of free space on the home's disk: the smaller of the two (0 switches it off)."""

    free_space_floor_mib: int = 100
    free_space_floor_percent: float = 5.0


@dataclass(frozen=True)
class InboxSettings:
    """A drop folder that the agent watches and empties."""

    path: str
    name: str = ""
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    channel: str = "folder"
    settle_seconds: float = 2.0
    scan_interval_seconds: float = 30.0
    polling: bool = False


@dataclass(frozen=True)
class MailboxSettings:
    """A mailbox that receives AgII's e-mails (IMAP, or Microsoft Graph). Secrets live in the key store."""

    name: str
    username: str
    host: str = ""
    port: int = 993
    tls: str = "tls"
    folder: str = "INBOX"
    auth: str = "password"
    tenant: str = ""
    client_id: str = ""
    credential: str = "certificate"
    certificate_path: str = ""
    authority_host: str = "login.microsoftonline.com"
    sasl: str = "xoauth2"
    ca_file: str = ""
    driver: str = "imap"
    graph_url: str = "https://graph.microsoft.com"
    senders: tuple[str, ...] = ("*@integratie-inburgering.be",)
    subjects: tuple[str, ...] = ("*",)
    poll_interval_seconds: float = 60.0
    use_idle: bool = True
    channel: str = "email"
    authserv_id: str = ""
    agii_domain: str = "integratie-inburgering.be"
    copies: str = "remove"
    copies_include: tuple[str, ...] = ("*",)
    copies_exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class DownloadsSettings:
    """A clerk's Downloads folder where AgII's files arrive from Zivver (per-user mode only).

    Only files that pass every rule are taken: a name pattern, a file type read from the bytes, a size, and
    (with ``notification_mailbox``) a modification time within ``window_minutes`` after a Zivver notification.
    Everything else in the folder is left untouched."""

    path: str
    patterns: tuple[str, ...]
    name: str = "zivver-downloads"
    file_types: tuple[str, ...] = ("xlsx-encrypted", "xlsx", "zip", "7z", "pdf")
    min_bytes: int = 1024
    max_bytes: int = 50 * 1024 * 1024
    notification_mailbox: str = ""
    notification_senders: tuple[str, ...] = ("*@zivver.com", "*@zivver.eu")
    notification_subjects: tuple[str, ...] = ("*",)
    window_minutes: float = 120.0
    settle_seconds: float = 2.0
    scan_interval_seconds: float = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    sender: str = ""


@dataclass(frozen=True)
class ReportSettings:
    schedule: str = "monthly"
    dpo_email: str = ""
    officer_email: str = ""

    @property
    def recipients(self) -> list[str]:
        """The DPO and the officer, without duplicates: where reports are sent."""
        found = [a.strip() for a in (self.dpo_email, self.officer_email) if a.strip()]
        return list(dict.fromkeys(found))


@dataclass(frozen=True)
class RegisterSettings:
    """The art. 30 GDPR register entry, reproduced in every DPO report."""

    controller: str = ""
    purposes: str = "Uitnodigen van inburgeraars voor de inburgeringsceremonie (VCMP 05/2024)."
    data_subjects: str = "Personen die recent een inburgeringsattest behaalden."
    data_categories: str = "Rijksregisternummer, naam, adres, e-mail, telefoon, datum van het attest."
    recipients: str = "Geen; enkel gemachtigde medewerkers van het lokaal bestuur."
    retention: str = "Ten laatste één maand na de ceremonie (VCMP 05/2024, nr. 41)."
    security_measures: str = (
        "Versleutelde kluis (AES-256-GCM), {key_store}, "
        "toegang per benoemde medewerker en doel, gelogde toegang, ondertekende bewijzen van vernietiging."
    )
    """``{key_store}`` becomes where this installation keeps its keys (``key_store``), in words."""


@dataclass(frozen=True)
class Config:
    municipality: str
    key_store: str = "keyring"
    language: str = "nl"
    legal_basis: str = "VCMP-05-2024"
    deployment: str = "user"
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    copies: CopiesSettings = field(default_factory=CopiesSettings)
    disk: DiskSettings = field(default_factory=DiskSettings)
    inbox: tuple[InboxSettings, ...] = ()
    mailbox: tuple[MailboxSettings, ...] = ()
    downloads: tuple[DownloadsSettings, ...] = ()
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    register: RegisterSettings = field(default_factory=RegisterSettings)

    @property
    def slug(self) -> str:
        return municipality_slug(self.municipality)


def municipality_slug(name: str) -> str:
    """``De Panne`` → ``de-panne`` (used in the signing identity ``retention-agent@de-panne``)."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "municipality"


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigSyntaxError(file=str(path), problem="not UTF-8 text") from exc
    return parse(text, path)


def parse(text: str, path: Path) -> Config:
    """A configuration from its text (``init`` checks what it will write before writing it); ``path`` is
    the file it is or will be, named in every error."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigSyntaxError(file=str(path), problem=str(exc)) from exc
    config = _build(Config, raw, path, prefix="")
    _validate(config, path)
    return config


# the kinds of value a key holds, and finds instead, as people say them
TYPE_WORDS: dict[type, str] = {str: N_("text"), int: N_("a whole number"), float: N_("a number"),
                               bool: N_("true or false"), list: N_("a list"), dict: N_("a table"),
                               datetime.date: N_("a date"), datetime.datetime: N_("a date and time"),
                               datetime.time: N_("a time")}


def _build(cls: type[Any], raw: Any, path: Path, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise _error(path, prefix.rstrip("."), N_("expected a table"))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            if close:
                raise _error(path, prefix + key, N_("unknown key; did you mean '{close}'?"), close=prefix + close[0])
            raise _error(path, prefix + key, N_("unknown key"))
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in raw:
            values[name] = _convert(hints[name], raw[name], path, prefix + name)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise _error(path, prefix + name, N_("this key is required"))
    return cls(**values)


def _convert(kind: Any, value: Any, path: Path, key: str) -> Any:
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _build(kind, value, path, key + ".")
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise _error(path, key, N_("expected a list"))
        return tuple(_convert(item_kind, item, path, f"{key}[{i}]") for i, item in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        return value
    expected = TYPE_WORDS[kind]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _error(path, key, N_("expected {expected}, found {found}"), expected=translate(expected),
                     found=translate(TYPE_WORDS.get(type(value), N_("something else"))))
    if kind is float and not math.isfinite(value):
        raise _error(path, key, N_("expected a finite number, found {found}"), found=str(value))
    return value


def _validate(config: Config, path: Path) -> None:
    checks: list[tuple[bool, str, str]] = [
        (bool(config.municipality.strip()), "municipality", N_("must not be empty")),
        (config.key_store in KEY_STORES, "key_store", _one_of(KEY_STORES)),
        (config.language in ("nl", "en"), "language", N_("must be nl or en")),
        (config.deployment in DEPLOYMENTS, "deployment", _one_of(DEPLOYMENTS)),
        (config.intake.max_file_bytes >= 1, "intake.max_file_bytes", N_("must be at least 1")),
        (config.intake.max_files_per_message >= 1, "intake.max_files_per_message", N_("must be at least 1")),
        (config.retention.max_without_ceremony_months >= 1, "retention.max_without_ceremony_months",
         N_("must be at least 1")),
        (all(d > 0 for d in config.retention.reminder_days_before), "retention.reminder_days_before",
         N_("days must be positive")),
        (config.retention.no_ceremony_staff_days >= 1, "retention.no_ceremony_staff_days", N_("must be at least 1")),
        (config.retention.no_ceremony_officer_days >= 1, "retention.no_ceremony_officer_days",
         N_("must be at least 1")),
        (config.retention.clock_forward_margin_hours >= 0, "retention.clock_forward_margin_hours",
         N_("must not be negative")),
        (config.retention.tick_seconds >= 1, "retention.tick_seconds", N_("must be at least 1")),
        (config.workspace.wipe_after_hours > 0, "workspace.wipe_after_hours", N_("must be positive")),
        (config.audit.checkpoint_interval_minutes >= 1, "audit.checkpoint_interval_minutes", N_("must be at least 1")),
        (0 < config.smtp.port < 65536, "smtp.port", N_("must be between 1 and 65535")),
        (config.disk.free_space_floor_mib >= 0, "disk.free_space_floor_mib", N_("must not be negative")),
        (config.disk.free_space_floor_percent >= 0, "disk.free_space_floor_percent", N_("must not be negative")),
        (config.reports.schedule in ("monthly", "quarterly", "off"), "reports.schedule",
         N_("must be monthly, quarterly or off")),
        (config.copies.interval_minutes >= 1, "copies.interval_minutes", N_("must be at least 1")),
        (config.copies.max_document_bytes >= 0, "copies.max_document_bytes", N_("must not be negative")),
        (config.copies.document_seconds > 0, "copies.document_seconds", N_("must be positive")),
        (config.copies.sweep_seconds > 0, "copies.sweep_seconds", N_("must be positive")),
        (all(p.startswith(("~/", "~\\")) or Path(p).is_absolute() or PureWindowsPath(p).is_absolute()
             for p in config.copies.locations), "copies.locations",
         N_("each folder must be an absolute path or start with ~/")),
    ]
    for i, inbox in enumerate(config.inbox):
        checks.append((Path(inbox.path).is_absolute(), f"inbox[{i}].path", N_("must be an absolute path")))
        checks.append((inbox.channel in CHANNELS, f"inbox[{i}].channel", _one_of(CHANNELS)))
        checks.append((bool(inbox.patterns) and all(inbox.patterns), f"inbox[{i}].patterns",
                       N_("must be a non-empty list of non-empty patterns")))
        checks.append((inbox.settle_seconds >= 0, f"inbox[{i}].settle_seconds", N_("must not be negative")))
        checks.append((inbox.scan_interval_seconds > 0, f"inbox[{i}].scan_interval_seconds", N_("must be positive")))
    for i, box in enumerate(config.mailbox):
        checks += _mailbox_checks(f"mailbox[{i}]", box)
    names = [box.name for box in config.mailbox]
    for i, folder in enumerate(config.downloads):
        checks += _downloads_checks(f"downloads[{i}]", folder, config, names)
    checks += _maxima(config)
    for ok, key, problem in checks:
        if not ok:
            raise _error(path, key, problem)


MAILBOX_AUTH = ("password", "xoauth2", "oauth2-app", "oauth2-delegated")
FILE_TYPES = ("xlsx-encrypted", "xlsx", "zip", "7z", "pdf", "cfb")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,60}$")


def _mailbox_checks(key: str, box: MailboxSettings) -> list[tuple[bool, str, str]]:
    oauth = box.auth.startswith("oauth2-")
    return [
        (bool(_NAME.match(box.name)), f"{key}.name",
         N_("must be 1-61 lower-case letters, digits, '.', '_' or '-' (it names the key-store entry)")),
        (box.driver in ("imap", "graph"), f"{key}.driver", N_("must be imap or graph")),
        (box.driver == "graph" or bool(box.host.strip()), f"{key}.host", N_("is required for an IMAP mailbox")),
        (box.tls in ("tls", "starttls", "none"), f"{key}.tls", N_("must be tls, starttls or none")),
        (box.auth in MAILBOX_AUTH, f"{key}.auth", _one_of(MAILBOX_AUTH)),
        (box.driver == "imap" or oauth, f"{key}.auth", N_("Microsoft Graph needs oauth2-app or oauth2-delegated")),
        (not oauth or bool(box.tenant.strip()), f"{key}.tenant",
         N_("is required with OAuth2: the tenant's domain (gemeente.onmicrosoft.com) or its id")),
        (not oauth or bool(box.client_id.strip()), f"{key}.client_id",
         N_("is required with OAuth2: the application (client) id of the app registration")),
        (box.credential in ("certificate", "secret"), f"{key}.credential", N_("must be certificate or secret")),
        (box.auth != "oauth2-app" or box.credential != "certificate" or Path(box.certificate_path).is_absolute(),
         f"{key}.certificate_path", N_("must be the absolute path of a PEM file with the key and the certificate")),
        (box.sasl in ("xoauth2", "oauthbearer"), f"{key}.sasl", N_("must be xoauth2 or oauthbearer")),
        (not box.ca_file or Path(box.ca_file).is_absolute(), f"{key}.ca_file", N_("must be an absolute path")),
        (bool(box.authority_host.strip()) and "/" not in box.authority_host, f"{key}.authority_host",
         N_("must be a host name such as login.microsoftonline.com")),
        (box.graph_url.startswith("https://"), f"{key}.graph_url", N_("must start with https://")),
        (0 < box.port < 65536, f"{key}.port", N_("must be between 1 and 65535")),
        (box.poll_interval_seconds > 0, f"{key}.poll_interval_seconds", N_("must be positive")),
        (bool(box.agii_domain.strip()) and "@" not in box.agii_domain, f"{key}.agii_domain",
         N_("must be a domain name such as integratie-inburgering.be")),
        (box.copies in ("remove", "report", "off"), f"{key}.copies", N_("must be remove, report or off")),
        (bool(box.copies_include) and all(box.copies_include), f"{key}.copies_include",
         N_("must be a non-empty list of folder name patterns")),
    ]


def _downloads_checks(key: str, folder: DownloadsSettings, config: Config,
                      mailboxes: list[str]) -> list[tuple[bool, str, str]]:
    return [
        (config.deployment == "user", f"{key}.path",
         N_("a Downloads folder is watched in per-user mode only (deployment = \"user\"): a shared agent must not "
         "read a person's own folders")),
        (Path(folder.path).is_absolute(), f"{key}.path", N_("must be an absolute path")),
        (bool(folder.patterns) and all(folder.patterns) and "*" not in folder.patterns, f"{key}.patterns",
         N_("must name AgII's files (e.g. [\"Inburgeraars*.xlsx\"]), not every file")),
        (bool(folder.file_types) and all(kind in FILE_TYPES for kind in folder.file_types), f"{key}.file_types",
         t("must be a non-empty list of {choices}", choices=", ".join(FILE_TYPES))),
        (0 <= folder.min_bytes <= folder.max_bytes, f"{key}.max_bytes", N_("must be at least min_bytes")),
        (not folder.notification_mailbox or folder.notification_mailbox in mailboxes,
         f"{key}.notification_mailbox", N_("must be the name of a configured [[mailbox]]")),
        (bool(folder.notification_senders) and all(folder.notification_senders), f"{key}.notification_senders",
         N_("must be a non-empty list of sender patterns")),
        (folder.window_minutes > 0, f"{key}.window_minutes", N_("must be positive")),
        (folder.settle_seconds >= 0, f"{key}.settle_seconds", N_("must not be negative")),
        (folder.scan_interval_seconds > 0, f"{key}.scan_interval_seconds", N_("must be positive")),
    ]


def _maxima(config: Config) -> list[tuple[bool, str, str]]:
    """The upper bound of every number in :data:`MAXIMA` (lists and arrays of tables item by item)."""
    checks = []
    for dotted, highest in MAXIMA.items():
        section, name = dotted.split(".")
        tables = getattr(config, section)
        indexed = list(enumerate(tables)) if isinstance(tables, tuple) else [(None, tables)]
        for index, table in indexed:
            value = getattr(table, name)
            key = dotted if index is None else f"{section}[{index}].{name}"
            values = value if isinstance(value, tuple) else (value,)
            problem = t("must be at most {limit}", limit=number_text(highest))
            checks.append((all(v <= highest for v in values), key, problem))
    return checks


def number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _one_of(choices: tuple[str, ...]) -> str:
    return t("must be one of {choices}", choices=", ".join(choices))


def _error(path: Path, key: str, problem: str, **values: Any) -> ConfigError:
    """The error for ``key``; ``problem`` is a text of the catalogue, said in the language of the one who
    reads it (the command that loaded the file: ``run``, ``init``, ``service install``)."""
    return ConfigError(file=str(path), key=key, problem=f"{key}: {t(problem, **values)}")


def inbox_name(inbox: InboxSettings, index: int) -> str:
    return inbox.name or f"inbox-{index + 1}"


def render_initial(municipality: str, key_store: str, inboxes: list[str], language: str = "nl",
                   deployment: str = "user") -> str:
    """The config.toml written by ``init``: the chosen values, every other default shown as a comment."""
    lines = [
        "# retention-agent configuration. Every key and its default: docs/configuration.md",
        f"municipality = {_toml_str(municipality)}",
        f"key_store = {_toml_str(key_store)}",
        f"language = {_toml_str(language)}",
        *([f"deployment = {_toml_str(deployment)}"] if deployment != "user" else []),
        "",
        "[retention]",
        "# max_without_ceremony_months = 24",
        "# reminder_days_before = [7, 1]",
        "",
    ]
    for i, folder in enumerate(inboxes):
        lines += ["[[inbox]]", f"name = {_toml_str(f'inbox-{i + 1}')}", f"path = {_toml_str(folder)}", ""]
    return "\n".join(lines)


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
