"""Who is calling is what the operating system says: a real second account, refused, audited, then granted.

The account-switching tests need root (CI runs the suite as root) and skip with that reason otherwise.
The client side runs in a forked child that has dropped to the new account (see ``helpers_accounts``);
the agent is the real agent process and learns the caller's uid through SO_PEERCRED.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from retention_agent.api import protocol
from retention_agent.api.budget import MAX_CONNECTIONS_PER_ACCOUNT
from retention_agent.api.client import Client
from retention_agent.errors import EXIT_DENIED, ProtocolError, UnknownStaffError
from retention_agent.system.home import Home
from tests.conftest import ME, AgentProcess
from tests.helpers_accounts import NEEDS_ROOT, TempAccount, cli_in_process, run_as, shared_agent
from tests.retention_support import wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[AgentProcess]:
    with shared_agent() as process:
        yield process


@pytest.fixture(scope="module")
def module_account() -> Iterator[TempAccount]:
    with TempAccount() as account:
        yield account


@pytest.fixture
def account(module_account: TempAccount, server: AgentProcess) -> TempAccount:
    """The second account, not on the staff list at the start of each test."""
    with officer(server) as client, contextlib.suppress(UnknownStaffError):
        client.call("staff.remove", {"account": module_account.name})
    return module_account


def officer(server: AgentProcess) -> Client:
    return Client(server.home / "agent.sock")


def entries_of(server: AgentProcess, actor: str) -> list[dict[str, Any]]:
    with officer(server) as client:
        shown = list(client.pages("audit.show", "entries"))
    return [e for e in shown if e["actor"] == actor]


def call_as(account: TempAccount, server: AgentProcess, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    path = server.home / "agent.sock"

    def call() -> Any:
        with Client(path) as client:
            return client.call(op, args)

    return run_as(account, call)


# ---- a second OS account -----------------------------------------------------------------------------


@NEEDS_ROOT
def test_one_account_holding_its_share_of_connections_does_not_lock_another_out(server: AgentProcess,
                                                                               account: TempAccount) -> None:
    path = str(server.home / "agent.sock")
    held = []
    try:
        for _ in range(MAX_CONNECTIONS_PER_ACCOUNT):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            held.append(sock)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as extra:
            extra.connect(path)  # the kernel queues it; the agent then closes it unanswered
            extra.settimeout(10)
            assert extra.recv(1) == b""
        answer = call_as(account, server, "whoami")  # another account is still served (and refused: not on the list)
        assert answer["error_id"] == "access-denied"
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: whoami_answers(server), 10, "the slots to come back once the connections closed")


def whoami_answers(server: AgentProcess) -> bool:
    try:
        with officer(server) as client:
            return bool(client.call("whoami")["account"] == ME)
    except ProtocolError:  # refused while the closed connections still held their slots
        return False


@pytest.mark.root
@NEEDS_ROOT
def test_an_account_not_on_the_list_is_refused_and_audited(server: AgentProcess, account: TempAccount) -> None:
    before = len(entries_of(server, account.name))
    result = call_as(account, server, "deliveries")
    assert result["error"] == "AccessDeniedError"
    assert (result["error_id"], result["exit_code"]) == ("access-denied", EXIT_DENIED)
    assert f"The account {account.name} may not list the deliveries." in result["message"]
    assert "Only a staff member with the role read, modify or destroy, or the privacy officer (Officer (" \
        in result["message"]  # who may; never which right to hand out

    via_cli = run_as(account, lambda: cli_in_process(Home(server.home), "deliveries"))
    assert via_cli["exit"] == 3
    assert f"retention-agent: The account {account.name} may not list the deliveries." in via_cli["stderr"]

    audited = entries_of(server, account.name)[before:]
    # the first refusal of the minute at once; the second is counted into the follow-up entry (test_hostile_api)
    assert [(e["action"], e["outcome"], e["subject"]) for e in audited] == [("deliveries", "denied", [])]
    assert audited[0]["details"] == {"uid": account.uid, "reason": "not-on-staff-list", "subjects": 0}


@pytest.mark.root
@NEEDS_ROOT
def test_whoami_is_the_os_account_whatever_the_client_says(server: AgentProcess, account: TempAccount) -> None:
    refused = call_as(account, server, "whoami")
    assert refused["error_id"] == "access-denied"  # the API refuses whoever is not on the list, even this
    with officer(server) as client:
        client.call("staff.add", {"account": account.name, "name": "Mia", "roles": ["import"]})
    claimed = call_as(account, server, "whoami", {"account": "root", "uid": 0, "user": "root"})
    assert claimed["error_id"] == "usage" and "unknown argument 'account'" in claimed["message"]
    result = call_as(account, server, "whoami")
    assert result["value"] == {"account": account.name, "roles": ["import"]}


@pytest.mark.root
@NEEDS_ROOT
def test_staff_can_name_the_shared_home_with_the_home_option(server: AgentProcess, account: TempAccount) -> None:
    """The home is 0711: other accounts may reach the socket in it but not list it, and --home must not mind."""
    via_cli = run_as(account, lambda: cli_in_process(Home(server.home), "deliveries", home_option=True))
    assert via_cli["exit"] == 3, via_cli


@pytest.mark.root
@NEEDS_ROOT
def test_once_on_the_list_with_read_it_may_list_deliveries_but_not_staff(server: AgentProcess,
                                                                          account: TempAccount) -> None:
    added = server.cli("staff", "add", account.name, "--name", "Mia Peeters", "--role", "read")
    assert added.returncode == 0, added.stderr
    assert f"{account.name} added: read." in added.stdout.decode()
    before = len(entries_of(server, account.name))

    assert call_as(account, server, "deliveries") == {"value": {"deliveries": [], "next": None}}
    refused = call_as(account, server, "staff.list")
    assert (refused["error_id"], refused["exit_code"]) == ("access-denied", 3)
    assert f"The account {account.name} may not see the list of authorised persons." in refused["message"]
    assert "Only the privacy officer can do this: Officer (" in refused["message"]
    via_cli = run_as(account, lambda: cli_in_process(Home(server.home), "staff", "list"))
    assert via_cli["exit"] == 3

    audited = [(e["action"], e["outcome"]) for e in entries_of(server, account.name)[before:]]
    assert audited == [("deliveries", "granted"), ("staff.list", "denied")]  # the second one folded

    with officer(server) as client:
        client.call("staff.remove", {"account": account.name})
    again = call_as(account, server, "deliveries")
    assert again["error_id"] == "access-denied", "removal takes effect on the next request"


@pytest.mark.root
@NEEDS_ROOT
def test_the_client_cannot_claim_another_identity(server: AgentProcess, account: TempAccount) -> None:
    """There is no field for it: extra fields that look like one are refused in the args (unknown arguments;
    an account outside the list is refused before that) and ignored around them."""
    claimed = call_as(account, server, "staff.list", {"account": "root", "actor": "root", "uid": 0})
    assert claimed["error_id"] == "access-denied"
    assert f"The account {account.name} may not see the list of authorised persons." in claimed["message"]

    path = str(server.home / "agent.sock")

    def raw() -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            protocol.write_json(sock, {"v": 1, "op": "staff.list", "args": {}, "account": "root", "uid": 0,
                                       "peer": {"account": "root", "uid": 0}})
            return protocol.read_json(sock)

    answer = run_as(account, raw)["value"]
    assert answer["ok"] is False
    assert answer["error"]["id"] == "access-denied"
    assert answer["error"]["params"]["account"] == account.name

    mine = [e for e in entries_of(server, account.name) if e["action"] == "staff.list"
            and e["details"].get("reason") == "not-on-staff-list"]
    assert len(mine) == 1  # the second refusal of the minute is folded into a follow-up entry
    assert (mine[0]["outcome"], mine[0]["subject"]) == ("denied", [])
    assert mine[0]["details"]["uid"] == account.uid and mine[0]["details"]["subjects"] == 1  # "root", as a hash
    assert "root" not in json.dumps(mine[0]["details"])


# ---- the staff list, by the officer ------------------------------------------------------------------


def staff_changes(server: AgentProcess, account: str) -> list[dict[str, Any]]:
    return [e["details"] for e in entries_of(server, ME)
            if e["action"] == "staff.changed" and e["subject"] == [account]]


def test_every_change_of_the_staff_list_is_audited_with_before_and_after(server: AgentProcess) -> None:
    member = "daemon"  # an account every Debian system has
    assert server.cli("staff", "add", member, "--name", "D", "--role", "read").returncode == 0
    updated = server.cli("staff", "add", member, "--name", "D. Aemon", "--role", "modify", "--role", "read")
    assert updated.returncode == 0, updated.stderr
    assert f"{member} updated: read, modify." in updated.stdout.decode()
    with officer(server) as client:
        assert {"account": member, "name": "D. Aemon", "roles": ["read", "modify"]} in client.call("staff.list")
        client.call("staff.remove", {"account": member})
    assert staff_changes(server, member)[-3:] == [
        {"before": [], "after": ["read"]},
        {"before": ["read"], "after": ["modify", "read"]},
        {"before": ["modify", "read"], "after": []},
    ]


def test_adding_an_account_that_does_not_exist_is_refused(server: AgentProcess) -> None:
    result = server.cli("staff", "add", "no-such-account-zz", "--name", "Nobody", "--role", "read")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "There is no operating-system account named no-such-account-zz on this machine." in stderr
    assert "Give the account name exactly as the system knows it" in stderr
    assert staff_changes(server, "no-such-account-zz") == []
    with officer(server) as client:
        assert "no-such-account-zz" not in [m["account"] for m in client.call("staff.list")]


def test_the_last_officer_can_be_neither_removed_nor_demoted(server: AgentProcess) -> None:
    removed = server.cli("staff", "remove", ME)
    assert removed.returncode == 1
    assert f"{ME} is the last privacy officer; the list must keep at least one." in removed.stderr.decode()
    demoted = server.cli("staff", "add", ME, "--name", "Officer", "--role", "read")
    assert demoted.returncode == 1
    assert "the last privacy officer" in demoted.stderr.decode()
    with officer(server) as client:
        assert {"account": ME, "name": "Officer", "roles": ["officer"]} in client.call("staff.list")


def test_an_officer_can_hand_over_to_another_officer(server: AgentProcess) -> None:
    with officer(server) as client:
        client.call("staff.add", {"account": "daemon", "name": "Second", "roles": ["officer"]})
        client.call("staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "read"]})
        client.call("staff.remove", {"account": "daemon"})
        members = {m["account"]: m["roles"] for m in client.call("staff.list")}
        client.call("staff.add", {"account": ME, "name": "Officer", "roles": ["officer"]})
    assert members == {ME: ["read", "officer"]}


def test_removing_someone_who_is_not_on_the_list(server: AgentProcess) -> None:
    with officer(server) as client, pytest.raises(UnknownStaffError, match="daemon is not on the staff list") as c:
        client.call("staff.remove", {"account": "daemon"})
    assert c.value.exit_code == 1


@pytest.mark.parametrize("roles", [["admin"], []])
def test_unknown_or_missing_roles(server: AgentProcess, roles: list[str]) -> None:
    with officer(server) as client, pytest.raises(Exception, match=r"roles must be among|--role is required") as c:
        client.call("staff.add", {"account": "daemon", "name": "D", "roles": roles})
    assert getattr(c.value, "exit_code", None) == 2
