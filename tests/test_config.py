"""Configuration: documented defaults, every key round-trips, and bad files get errors naming file and key."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from retention_agent import config as configuration
from retention_agent.config import Config, DownloadsSettings, InboxSettings, MailboxSettings
from retention_agent.errors import ConfigError, ConfigSyntaxError
from retention_agent.system.home import Home
from tests.conftest import cli

REQUIRED = 'municipality = "De Panne"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> Config:
    return configuration.load(write(tmp_path, text))


# ---- a tiny TOML writer for the round trip (tomllib only reads) --------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def toml_document(top: dict[str, Any], tables: dict[str, dict[str, Any]],
                  arrays: dict[str, list[dict[str, Any]]]) -> str:
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    for name, items in arrays.items():
        for item in items:
            lines += ["", f"[[{name}]]", *(f"{k} = {toml_value(v)}" for k, v in item.items())]
    return "\n".join(lines) + "\n"


# ---- every key, with a valid value that is not its default -------------------------------------------

# keys whose values are restricted: a valid value other than the default
CHOSEN: dict[str, Any] = {
    "key_store": "file",
    "language": "en",
    "deployment": "shared",
    "reports.schedule": "quarterly",
    "inbox.path": "/srv/agii/drop",
    "inbox.channel": "zivver",
    "mailbox.tls": "starttls",
    "mailbox.auth": "xoauth2",
    "mailbox.channel": "zivver",
    "mailbox.port": 143,
    "mailbox.name": "agii-2",
    "mailbox.credential": "secret",
    "mailbox.sasl": "oauthbearer",
    "mailbox.ca_file": "/etc/ssl/gemeente-ca.pem",
    "mailbox.driver": "graph",
    "mailbox.graph_url": "https://graph.microsoft.us",
    "mailbox.copies": "report",
    "downloads.path": "/home/jan/Downloads",
    "downloads.file_types": ["xlsx-encrypted", "7z"],
    "downloads.notification_mailbox": "agii",
    "smtp.port": 465,
    "smtp.security": "tls",
    "copies.locations": ["~/Bureaublad/Inburgering", "/srv/gedeeld/ceremonie"],
}
# keys whose other value needs other keys to be valid with it
COMPANIONS: dict[str, dict[str, Any]] = {
    "mailbox.driver": {"auth": "oauth2-app", "tenant": "gemeente.onmicrosoft.com", "client_id": "c0ffee",
                       "credential": "secret"},
}
ARRAY_TABLES = {"inbox": InboxSettings, "mailbox": MailboxSettings, "downloads": DownloadsSettings}
ARRAY_REQUIRED: dict[str, dict[str, Any]] = {
    "inbox": {"path": "/srv/agii/in"},
    "mailbox": {"name": "agii", "host": "imap.example.be", "username": "ceremonie"},
    "downloads": {"path": "/home/mia/Downloads", "patterns": ["Inburgeraars*.xlsx"]},
}


def other_value(key: str, kind: Any, default: Any) -> Any:
    if key in CHOSEN:
        return CHOSEN[key]
    if kind is bool:
        return not default
    if kind is int:
        return (default or 0) + 3
    if kind is float:
        return (default or 0.0) + 1.5
    if kind is str:
        return f"changed {key}"
    if typing.get_origin(kind) is tuple:
        return [5, 2] if typing.get_args(kind)[0] is int else ["*.csv", "*.txt"]
    raise AssertionError(f"no test value for {key} of type {kind}")


def all_keys() -> list[tuple[str, str, str, Any]]:
    """(documented key, table kind, field, type) for every setting."""
    keys: list[tuple[str, str, str, Any]] = []
    for f in dataclasses.fields(Config):
        kind = typing.get_type_hints(Config)[f.name]
        if f.name in ARRAY_TABLES:
            cls = ARRAY_TABLES[f.name]
            for sub, sub_kind in typing.get_type_hints(cls).items():
                keys.append((f"{f.name}.{sub}", "array", sub, sub_kind))
        elif dataclasses.is_dataclass(kind):
            for sub, sub_kind in typing.get_type_hints(kind).items():
                keys.append((f"{f.name}.{sub}", "table", sub, sub_kind))
        else:
            keys.append((f.name, "top", f.name, kind))
    return keys


def default_of(key: str) -> Any:
    table, _, name = key.rpartition(".")
    if not table:
        return getattr(Config(municipality="X"), name)
    if table in ARRAY_TABLES:
        spec = {f.name: f for f in dataclasses.fields(ARRAY_TABLES[table])}[name]
        return None if spec.default is dataclasses.MISSING else spec.default
    return getattr(getattr(Config(municipality="X"), table), name)


def loaded_value(config: Config, key: str) -> Any:
    table, _, name = key.rpartition(".")
    if not table:
        return getattr(config, name)
    section = getattr(config, table)
    return getattr(section[0] if table in ARRAY_TABLES else section, name)


@pytest.mark.parametrize(("key", "where", "name", "kind"), all_keys(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_key_round_trips(tmp_path: Path, key: str, where: str, name: str, kind: Any) -> None:
    value = other_value(key, kind, default_of(key))
    assert value != default_of(key)
    top: dict[str, Any] = {"municipality": "De Panne"}
    tables: dict[str, dict[str, Any]] = {}
    arrays: dict[str, list[dict[str, Any]]] = {}
    table = key.rpartition(".")[0]
    if where == "top":
        top[name] = value
    elif where == "table":
        tables[table] = {name: value}
    else:
        arrays[table] = [{**ARRAY_REQUIRED[table], **COMPANIONS.get(key, {}), name: value}]
        if table == "downloads":
            arrays["mailbox"] = [ARRAY_REQUIRED["mailbox"]]  # a notification mailbox it may name
    config = load_text(tmp_path, toml_document(top, tables, arrays))
    loaded = loaded_value(config, key)
    assert loaded == (tuple(value) if isinstance(value, list) else value)
    assert type(loaded) is type(value) or isinstance(value, list)


def test_the_test_covers_every_section() -> None:
    sections = {key.partition(".")[0] for key, *_ in all_keys()}
    assert {"retention", "workspace", "audit", "inbox", "mailbox", "smtp", "reports", "register"} <= sections
    assert len(all_keys()) >= 40


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    config = load_text(tmp_path, REQUIRED)
    assert config == Config(municipality="De Panne")
    assert (config.key_store, config.language, config.legal_basis) == ("keyring", "nl", "VCMP-05-2024")
    assert config.retention.max_without_ceremony_months == 24
    assert config.retention.reminder_days_before == (7, 1)
    assert config.retention.tick_seconds == 30
    assert config.workspace.wipe_after_hours == 8.0
    assert config.audit.checkpoint_interval_minutes == 60
    assert config.reports.schedule == "monthly"
    assert config.inbox == () and config.mailbox == ()
    assert config.slug == "de-panne"


def test_array_table_defaults(tmp_path: Path) -> None:
    config = load_text(tmp_path, REQUIRED + '[[inbox]]\npath = "/srv/in"\n[[inbox]]\npath = "/srv/in2"\n'
                                            '[[mailbox]]\nname = "agii"\nhost = "h"\nusername = "u"\n')
    assert [i.path for i in config.inbox] == ["/srv/in", "/srv/in2"]
    assert config.inbox[0].patterns == configuration.DEFAULT_PATTERNS
    assert [configuration.inbox_name(i, n) for n, i in enumerate(config.inbox)] == ["inbox-1", "inbox-2"]
    box = config.mailbox[0]
    assert (box.port, box.tls, box.folder, box.auth, box.channel) == (993, "tls", "INBOX", "password", "email")


def test_an_integer_is_accepted_where_a_number_is_expected(tmp_path: Path) -> None:
    config = load_text(tmp_path, REQUIRED + "[workspace]\nwipe_after_hours = 2\n")
    assert config.workspace.wipe_after_hours == 2.0
    assert isinstance(config.workspace.wipe_after_hours, float)


@pytest.mark.parametrize(("municipality", "slug"), [
    ("De Panne", "de-panne"), ("Sint-Genesius-Rode", "sint-genesius-rode"), ("Kortrijk ", "kortrijk"),
    ("Écaussinnes", "ecaussinnes"), ("!!!", "municipality"),
])
def test_municipality_slug(municipality: str, slug: str) -> None:
    assert configuration.municipality_slug(municipality) == slug


@pytest.mark.parametrize("municipality", ["De Panne", 'Quote"s \\ back', "Sint-Niklaas"])
def test_what_init_writes_is_what_run_reads(tmp_path: Path, municipality: str) -> None:
    text = configuration.render_initial(municipality, "file", ["/srv/a", "/srv/b"], "en")
    config = load_text(tmp_path, text)
    assert (config.municipality, config.key_store, config.language) == (municipality, "file", "en")
    assert [(i.name, i.path) for i in config.inbox] == [("inbox-1", "/srv/a"), ("inbox-2", "/srv/b")]


# ---- bad files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    'municipality = "De Panne',  # unterminated string
    "municipality = \n",
    "[retention\nmax_without_ceremony_months = 3\n",
    'municipality = "a"\nmunicipality = "b"\n',  # duplicate key
])
def test_corrupt_toml_names_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigSyntaxError) as caught:
        configuration.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert re.search(r"\(at (line \d+, column \d+|end of document)\)", message), message  # where to look
    assert "Fix the TOML syntax" in message


def test_a_file_that_is_not_utf8_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'municipality = "Li\xe8ge"\n')
    with pytest.raises(ConfigSyntaxError, match="not UTF-8") as caught:
        configuration.load(path)
    assert str(path) in str(caught.value)


def assert_config_error(tmp_path: Path, text: str, key: str, *fragments: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        configuration.load(path)
    error = caught.value
    assert error.params["key"] == key
    assert error.params["file"] == str(path)
    message = str(error)
    assert str(path) in message
    assert f"Correct the key {key} in {path}" in message
    for fragment in fragments:
        assert fragment in message
    return error


@pytest.mark.parametrize(("text", "key", "suggestion"), [
    ('municipalty = "De Panne"\n', "municipalty", "did you mean 'municipality'?"),
    (REQUIRED + 'key_stor = "file"\n', "key_stor", "did you mean 'key_store'?"),
    (REQUIRED + "[retention]\nmax_without_ceremony_month = 3\n", "retention.max_without_ceremony_month",
     "did you mean 'retention.max_without_ceremony_months'?"),
    (REQUIRED + "[retentoin]\ntick_seconds = 3\n", "retentoin", "did you mean 'retention'?"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\npattern = ["*.zip"]\n', "inbox[0].pattern",
     "did you mean 'inbox[0].patterns'?"),
])
def test_unknown_keys_are_refused_with_a_suggestion(tmp_path: Path, text: str, key: str, suggestion: str) -> None:
    assert_config_error(tmp_path, text, key, "unknown key", suggestion)


def test_an_unknown_key_without_a_near_match_gets_no_suggestion(tmp_path: Path) -> None:
    error = assert_config_error(tmp_path, REQUIRED + "xyzzy = 1\n", "xyzzy", "unknown key")
    assert "did you mean" not in str(error)


@pytest.mark.parametrize(("text", "key", "expected"), [
    (REQUIRED + "key_store = 1\n", "key_store", "expected text, found a whole number"),
    ("municipality = 12\n", "municipality", "expected text"),
    (REQUIRED + '[retention]\ntick_seconds = "30"\n', "retention.tick_seconds", "expected a whole number, found text"),
    (REQUIRED + "[retention]\ntick_seconds = true\n", "retention.tick_seconds", "expected a whole number"),
    (REQUIRED + "[retention]\ntick_seconds = 2.5\n", "retention.tick_seconds",
     "expected a whole number, found a number"),
    (REQUIRED + "[retention]\nreminder_days_before = 7\n", "retention.reminder_days_before", "expected a list"),
    (REQUIRED + '[retention]\nreminder_days_before = [7, "1"]\n', "retention.reminder_days_before[1]",
     "expected a whole number"),
    (REQUIRED + '[workspace]\nwipe_after_hours = "8"\n', "workspace.wipe_after_hours", "expected a number"),
    (REQUIRED + "[workspace]\nwipe_after_hours = false\n", "workspace.wipe_after_hours", "expected a number"),
    (REQUIRED + "retention = 5\n", "retention", "expected a table"),
    (REQUIRED + '[inbox]\npath = "/srv/in"\n', "inbox", "expected a list"),
    (REQUIRED + "inbox = [1]\n", "inbox[0]", "expected a table"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\npolling = "yes"\n', "inbox[0].polling", "expected true or false"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\nport = "993"\n', "mailbox[0].port",
     "expected a whole number"),
    (REQUIRED + "[register]\ncontroller = 2024-01-01\n", "register.controller", "expected text, found a date"),
])
def test_wrong_types_name_the_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    assert_config_error(tmp_path, text, key, expected)


@pytest.mark.parametrize(("text", "key"), [
    ("", "municipality"),
    ('key_store = "file"\n', "municipality"),
    (REQUIRED + '[[inbox]]\nname = "drop"\n', "inbox[0].path"),
    (REQUIRED + '[[mailbox]]\nname = "agii"\nhost = "h"\n', "mailbox[0].username"),
    (REQUIRED + '[[downloads]]\npath = "/home/mia/Downloads"\n', "downloads[0].patterns"),
])
def test_a_missing_required_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    assert_config_error(tmp_path, text, key, "this key is required")


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('municipality = "  "\n', "municipality", "must not be empty"),
    (REQUIRED + 'key_store = "vault"\n', "key_store", "must be one of keyring, file"),
    (REQUIRED + 'language = "fr"\n', "language", "must be nl or en"),
    (REQUIRED + "[retention]\nmax_without_ceremony_months = 0\n", "retention.max_without_ceremony_months",
     "at least 1"),
    (REQUIRED + "[retention]\nreminder_days_before = [7, 0]\n", "retention.reminder_days_before", "positive"),
    (REQUIRED + "[retention]\nno_ceremony_staff_days = 0\n", "retention.no_ceremony_staff_days", "at least 1"),
    (REQUIRED + "[retention]\nno_ceremony_officer_days = -3\n", "retention.no_ceremony_officer_days",
     "at least 1"),
    (REQUIRED + "[retention]\nclock_forward_margin_hours = -1\n", "retention.clock_forward_margin_hours",
     "must not be negative"),
    (REQUIRED + "[retention]\ntick_seconds = 0\n", "retention.tick_seconds", "at least 1"),
    (REQUIRED + "[workspace]\nwipe_after_hours = 0\n", "workspace.wipe_after_hours", "positive"),
    (REQUIRED + "[audit]\ncheckpoint_interval_minutes = 0\n", "audit.checkpoint_interval_minutes", "at least 1"),
    (REQUIRED + '[reports]\nschedule = "weekly"\n', "reports.schedule", "monthly, quarterly or off"),
    (REQUIRED + "[smtp]\nport = 70000\n", "smtp.port", "between 1 and 65535"),
    (REQUIRED + '[[inbox]]\npath = "relative/dir"\n', "inbox[0].path", "absolute path"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\nchannel = "fax"\n', "inbox[0].channel", "must be one of"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\npatterns = []\n', "inbox[0].patterns", "non-empty"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\npatterns = ["*.zip", ""]\n', "inbox[0].patterns", "non-empty"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\nsettle_seconds = -1\n', "inbox[0].settle_seconds",
     "must not be negative"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\nscan_interval_seconds = 0\n', "inbox[0].scan_interval_seconds",
     "positive"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\ntls = "ssl"\n', "mailbox[0].tls",
     "must be tls, starttls or none"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\nauth = "oauth"\n', "mailbox[0].auth",
     "must be one of password, xoauth2, oauth2-app, oauth2-delegated"),
    (REQUIRED + '[[mailbox]]\nname = "agii"\nusername = "u"\n', "mailbox[0].host", "required for an IMAP mailbox"),
    (REQUIRED + '[[mailbox]]\nname = "AgII Inbox"\nhost = "h"\nusername = "u"\n', "mailbox[0].name",
     "lower-case letters"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\nauth = "oauth2-app"\n', "mailbox[0].tenant",
     "is required with OAuth2"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\nauth = "oauth2-app"\ntenant = "t"\n'
     'client_id = "c"\n', "mailbox[0].certificate_path", "absolute path of a PEM file"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nusername = "u"\ndriver = "graph"\n', "mailbox[0].auth",
     "Microsoft Graph needs oauth2-app"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\ncopies = "delete"\n', "mailbox[0].copies",
     "remove, report or off"),
    (REQUIRED + 'deployment = "shared"\n[[downloads]]\npath = "/home/mia/Downloads"\npatterns = ["I*.xlsx"]\n',
     "downloads[0].path", "per-user mode only"),
    (REQUIRED + '[[downloads]]\npath = "/home/mia/Downloads"\npatterns = ["*"]\n', "downloads[0].patterns",
     "not every file"),
    (REQUIRED + '[[downloads]]\npath = "/home/mia/Downloads"\npatterns = ["I*.xlsx"]\n'
     'notification_mailbox = "zivver"\n', "downloads[0].notification_mailbox", "configured [[mailbox]]"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\nport = 0\n', "mailbox[0].port",
     "between 1 and 65535"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\npoll_interval_seconds = 0\n',
     "mailbox[0].poll_interval_seconds", "positive"),
])
def test_invalid_values_name_the_key_and_the_rule(tmp_path: Path, text: str, key: str, problem: str) -> None:
    assert_config_error(tmp_path, text, key, problem)


@pytest.mark.parametrize(("text", "key", "problem"), [
    (REQUIRED + "[retention]\ntick_seconds = 99999999999999999\n", "retention.tick_seconds", "at most 3600"),
    (REQUIRED + "[retention]\nmax_without_ceremony_months = 1000\n", "retention.max_without_ceremony_months",
     "at most 120"),
    (REQUIRED + "[retention]\nreminder_days_before = [7, 100000]\n", "retention.reminder_days_before",
     "at most 365"),
    (REQUIRED + "[retention]\nclock_forward_margin_hours = 9999999\n", "retention.clock_forward_margin_hours",
     "at most 8760"),
    (REQUIRED + "[workspace]\nwipe_after_hours = 1e300\n", "workspace.wipe_after_hours", "at most 720"),
    (REQUIRED + "[workspace]\nwipe_after_hours = inf\n", "workspace.wipe_after_hours", "finite number"),
    (REQUIRED + "[workspace]\nwipe_after_hours = nan\n", "workspace.wipe_after_hours", "finite number"),
    (REQUIRED + "[audit]\ncheckpoint_interval_minutes = 99999999\n", "audit.checkpoint_interval_minutes",
     "at most 10080"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\nsettle_seconds = 1e12\n', "inbox[0].settle_seconds", "at most 3600"),
    (REQUIRED + '[[inbox]]\npath = "/srv/in"\n[[inbox]]\npath = "/srv/b"\nscan_interval_seconds = -inf\n',
     "inbox[1].scan_interval_seconds", "finite number"),
    (REQUIRED + '[[mailbox]]\nname = "a"\nhost = "h"\nusername = "u"\npoll_interval_seconds = 1e9\n',
     "mailbox[0].poll_interval_seconds", "at most 86400"),
    (REQUIRED + '[[downloads]]\npath = "/home/mia/Downloads"\npatterns = ["I*.xlsx"]\nwindow_minutes = 1e300\n',
     "downloads[0].window_minutes", "at most 10080"),  # timedelta(minutes=1e300) would stop the agent's start
])
def test_numbers_are_bounded(tmp_path: Path, text: str, key: str, problem: str) -> None:
    assert_config_error(tmp_path, text, key, problem)


def test_every_bounded_key_is_a_number_of_the_configuration() -> None:
    hints = typing.get_type_hints(Config)
    for dotted in configuration.MAXIMA:
        section, name = dotted.split(".")
        kind = hints[section]
        table = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else kind
        field_kind = typing.get_type_hints(table)[name]
        item = typing.get_args(field_kind)[0] if typing.get_origin(field_kind) is tuple else field_kind
        assert item in (int, float), dotted


# ---- through the real process ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('municipality = "De Panne"\nkey_store = "file"\nlanguag = "nl"\n', "did you mean 'language'?"),
    ('municipality = "De Panne\n', "cannot be read"),
    ('municipality = "De Panne"\nkey_store = "file"\n[retention]\ntick_seconds = 99999999999999999\n',
     "retention.tick_seconds: must be at most 3600"),
])
def test_the_agent_refuses_to_start_with_a_broken_config(home: Home, text: str, expected: str) -> None:
    home.config.write_text(text, encoding="utf-8")
    result = cli(home.root, "run", timeout=30)
    assert result.returncode == 1, result.stderr
    stderr = result.stderr.decode()
    assert stderr.startswith("retention-agent: ")
    assert str(home.config) in stderr
    assert expected in stderr
    assert "Traceback" not in stderr
    assert not home.socket.exists()
