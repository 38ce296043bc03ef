"""Coverage-guided fuzz targets for atheris (libFuzzer), one per parser of untrusted input.

Run one: ``python -m tests.harness.atheris_targets TARGET -runs=20000`` (``all`` takes turns between
them; any libFuzzer flag may follow the name, e.g. ``-max_total_time=600`` for a long campaign). A target
raises (and atheris exits non-zero, printing the input) only when a parser lets through an exception that
is not its documented refusal. ``tests/test_fuzz.py`` runs ``all`` briefly in CI.
"""

from __future__ import annotations

import io
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from retention_agent import config
    from retention_agent.api import protocol
    from retention_agent.copies import readers
    from retention_agent.errors import ConfigError, ConfigSyntaxError
    from retention_agent.evidence import checkpoint
    from retention_agent.intake import mailfile
    from retention_agent.vault import format as vault_format

KEY = bytes(range(32))
_CONFIG = Path(tempfile.mkdtemp(prefix="ra-fuzz-")) / "config.toml"


def vault_object(data: bytes) -> None:
    try:
        vault_format.decrypt(io.BytesIO(data), io.BytesIO(), KEY)
    except (vault_format.ObjectCorrupt, vault_format.UnsupportedVersion):
        pass


def mail_file(data: bytes) -> None:
    try:
        mailfile.attachments(data, 1 << 20)
    except mailfile.MailFileError:
        pass
    mailfile.looks_like_mail(data[:8192])
    mailfile.message_id(data)


def config_file(data: bytes) -> None:
    _CONFIG.write_bytes(data)
    try:
        config.load(_CONFIG)
    except (ConfigError, ConfigSyntaxError):
        pass


def checkpoint_note(data: bytes) -> None:
    try:
        checkpoint.parse(data)
    except checkpoint.CheckpointFormatError:
        pass


def api_frames(data: bytes) -> None:
    left, right = socket.socketpair()
    try:
        left.sendall(data[:60000])
        left.close()
        while True:
            message = protocol.read_json(right)
            protocol.parse_request(message)
    except (protocol.ProtocolViolation, protocol.ConnectionClosed):
        pass
    finally:
        right.close()


_KINDS = sorted(set(readers.SUFFIXES.values()))


def document(data: bytes) -> None:
    """The copy sweep's readers (CSV and text, .xlsx, .docx, PDF): the first byte picks the kind."""
    if not data:
        return
    try:
        readers.numbers(_KINDS[data[0] % len(_KINDS)], data[1:], deadline=float("inf"))
    except readers.Unreadable:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "vault-object": vault_object, "mail-file": mail_file, "config": config_file, "checkpoint": checkpoint_note,
    "api-frames": api_frames, "document": document,
}
_ALL = list(TARGETS.values())


def every_parser(data: bytes) -> None:
    """All targets in one process (one instrumentation pass): the first byte picks the parser."""
    if data:
        _ALL[data[0] % len(_ALL)](data[1:])


TARGETS["all"] = every_parser


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
