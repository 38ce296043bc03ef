"""The API transport is chosen in one place; the Windows pipe's pure parts are checked here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from retention_agent.api.server import UnixApiServer
from retention_agent.api.transport import make_server
from retention_agent.api.windows_pipe import PIPE_SDDL, pipe_name


class _Handler:
    def request(self, *_: object) -> None: ...

    def violation(self, *_: object) -> None: ...

    def refused_connection(self, uid: int) -> None: ...

    def classify(self, uid: int) -> str:
        return "other"


def test_linux_uses_the_unix_socket(tmp_path: Path) -> None:
    assert isinstance(make_server(tmp_path / "agent.sock", _Handler()), UnixApiServer)


def test_pipe_name_is_derived_from_the_home_alone_and_is_stable() -> None:
    first = pipe_name(Path(r"C:\ProgramData\retention-agent"))
    assert first == pipe_name(Path(r"c:\programdata\RETENTION-AGENT"))  # Windows paths ignore case
    assert first.startswith("\\\\.\\pipe\\retention-agent-") and len(first.rsplit("-", 1)[1]) == 16
    assert first != pipe_name(Path(r"C:\Users\mia\AppData\Local\retention-agent"))


def test_pipe_acl_admits_local_authenticated_users_only() -> None:
    assert "(A;;GRGW;;;AU)" in PIPE_SDDL and "WD" not in PIPE_SDDL  # no Everyone, no anonymous


@pytest.mark.windows
@pytest.mark.skipif(sys.platform != "win32", reason="Windows named pipes and tokens: not run on Linux CI")
def test_pipe_round_trip_reports_the_callers_account(tmp_path: Path) -> None:  # pragma: no cover
    from retention_agent.api import protocol
    from retention_agent.api.client import Client
    from retention_agent.api.server import Session
    from retention_agent.api.windows_pipe import PipeApiServer, PipeConnection
    from retention_agent.system.accounts import current_account

    def serve(conn: PipeConnection) -> None:
        session = Session(conn, identify=conn.peer)  # type: ignore[arg-type]
        protocol.read_json(conn)  # impersonation needs the client to have written first
        session.reply({"account": session.peer.account})

    server = PipeApiServer(tmp_path, serve)
    server.start()
    try:
        with Client(tmp_path / "agent.sock") as client:
            assert client.call("whoami")["account"].endswith("\\" + current_account())
    finally:
        server.stop()
