"""The list of authorised persons (deliberation nr. 64), kept in the database."""

from __future__ import annotations

import json

from retention_agent.access import StaffMember, officers_after_change, validate_roles
from retention_agent.clock import Clock, utc_iso
from retention_agent.errors import LastOfficerError, UnknownStaffError, UsageError
from retention_agent.store import Store


class StaffList:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def members(self) -> dict[str, StaffMember]:
        rows = self.store.query("SELECT account, name, roles FROM staff ORDER BY account")
        return {r["account"]: StaffMember(r["account"], r["name"], frozenset(json.loads(r["roles"])))
                for r in rows}

    def put(self, account: str, name: str, roles: list[str]) -> tuple[StaffMember | None, StaffMember]:
        """Add or update a member; returns (before, after)."""
        try:
            role_set = validate_roles(roles)
        except ValueError as exc:
            raise UsageError(problem=str(exc), command="staff add") from exc
        with self.store.transaction():
            current = self.members()
            before = current.get(account)
            demoted = before is not None and "officer" in before.roles
            if demoted and officers_after_change(current, account, role_set) == 0:
                raise LastOfficerError(account=account)
            now = utc_iso(self.clock.now())
            self.store.conn.execute(
                "INSERT INTO staff(account, name, roles, added_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(account) DO UPDATE SET name = excluded.name, roles = excluded.roles, "
                "updated_at = excluded.updated_at",
                (account, name, json.dumps(sorted(role_set)), now, now),
            )
        return before, StaffMember(account, name, role_set)

    def remove(self, account: str) -> StaffMember:
        with self.store.transaction():
            current = self.members()
            member = current.get(account)
            if member is None:
                raise UnknownStaffError(account=account)
            if "officer" in member.roles and officers_after_change(current, account, None) == 0:
                raise LastOfficerError(account=account)
            self.store.conn.execute("DELETE FROM staff WHERE account = ?", (account,))
        return member
