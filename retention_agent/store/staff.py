"""The list of authorised persons (deliberation nr. 64), kept in the database.

Every request asks who is on the list, and the API's accept loop asks which class a connecting uid is in
(officer, staff or neither: budget.ConnectionSlots); both are answered from a copy in memory that a change
of the list drops, so neither a flood of requests nor a long write holds them up on the database.
"""

from __future__ import annotations

import json
import threading

from retention_agent.clock import Clock, utc_iso
from retention_agent.errors import LastOfficerError, UnknownStaffError, UsageError
from retention_agent.rules.access import StaffMember, officers_after_change, validate_roles
from retention_agent.store.database import Store
from retention_agent.system.accounts import uid_of


class StaffList:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._members: dict[str, StaffMember] | None = None
        self._classes: dict[int, str] = {}
        self._generation = 0  # counts changes, so that a read that overlapped one is not kept
        self._lock = threading.Lock()

    def members(self) -> dict[str, StaffMember]:
        with self._lock:
            cached, generation = self._members, self._generation
        if cached is not None:
            return dict(cached)
        rows = self.store.query("SELECT account, name, roles FROM staff ORDER BY account")
        found = {r["account"]: StaffMember(r["account"], r["name"], frozenset(json.loads(r["roles"])))
                 for r in rows}
        classes = {uid: ("officer" if "officer" in m.roles else "staff")
                   for m in found.values() if (uid := uid_of(m.account)) is not None}
        with self._lock:
            # never keep what a transaction may still roll back, or what a change overtook meanwhile
            if generation == self._generation and not self.store.conn.in_transaction:
                self._members, self._classes = found, classes
        return dict(found)

    def class_of(self, uid: int) -> str:
        """``officer``, ``staff`` or ``other`` for a connecting uid, from the last list read (no I/O)."""
        with self._lock:
            return self._classes.get(uid, "other")

    def forget(self) -> None:
        """Drop the copy in memory: the list changed (or a change was rolled back)."""
        with self._lock:
            self._members = None
            self._generation += 1

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
            self.forget()
        self.forget()
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
            self.forget()
        self.forget()
        return member
