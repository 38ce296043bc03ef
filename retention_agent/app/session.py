"""The app's calls to the agent's local API, and the files it reads or writes with the user's own rights.

One connection per call (a few milliseconds over the local socket), so an agent that restarts is simply
reached again at the next call. Every call raises the catalogue's errors as the agent sent them (an error id
and its values), which the window shows in the user's language.

What touches the user's files happens here, in the app's own process and so with the user's permissions,
never in the agent: a file added to the vault is read here and streamed (then overwritten and removed, as
``ingest`` does), exported proofs and reports are written here into the folder the user chose.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from retention_agent.app.audit_rows import window
from retention_agent.clock import SystemClock, local_date
from retention_agent.session import exports
from retention_agent.session.state import State

Row = dict[str, Any]


def brussels_today() -> date:
    """Today in Brussels, whatever zone the workstation is set to: the agent's dates are Brussels dates."""
    return local_date(SystemClock().now())


@dataclass(frozen=True)
class Identity:
    account: str
    roles: frozenset[str]


class Session(State):
    """The command line's connection to the agent (``client()``, ``call()``), with the app's calls on top."""

    def identity(self) -> Identity:
        answer = self.call("whoami")
        return Identity(str(answer["account"]), frozenset(answer.get("roles") or ()))

    # ---- deliveries -------------------------------------------------------------------------------------

    def deliveries(self) -> list[Row]:
        return self.all_pages("deliveries", "deliveries")

    def add_file(self, path: Path) -> dict[str, Any]:
        """Read the file with this user's permissions and stream it into the vault; then remove the source,
        overwritten first (or the delivery records why not), unless it changed meanwhile. The code of ``ingest``."""
        from retention_agent.session.ingest import ingest_one

        return ingest_one(self, path)

    def set_ceremony(self, deliveries: list[str], day: date, reason: str = "", *, dry_run: bool = False,
                     confirm_destroy: list[str] | None = None) -> list[Row]:
        """Record the date; with ``dry_run`` only ask what it would do (the agent checks the roles, the dates and
        the reason, changes nothing). A date that makes a delivery due now destroys it at once, only when its
        id is in ``confirm_destroy`` (the ids the person typed after the agent's dry run said so)."""
        args: dict[str, Any] = {"deliveries": deliveries, "date": day.isoformat(), "label": "", "reason": reason}
        if dry_run:
            args["dry_run"] = True
        else:
            args["confirm_destroy"] = list(confirm_destroy or [])
        return list(self.call("ceremony.set", args))

    def open_copy(self, delivery: str, purpose: str, note: str) -> Row:
        """A tracked copy in the user's private workspace folder, wiped by the agent in time."""
        return dict(self.call("open", {"delivery": delivery, "purpose": purpose, "note": note, "mode": "workspace"}))

    def destroy_early(self, delivery: str, reason: str, *, dry_run: bool = False) -> Row:
        """Destroy before the deadline; with ``dry_run`` the agent makes every check and destroys nothing."""
        args: dict[str, Any] = {"delivery": delivery, "reason": reason}
        if dry_run:
            args["dry_run"] = True
        return dict(self.call("purge.one", args))

    def release_quarantine(self, delivery: str, reason: str) -> Row:
        return dict(self.call("quarantine.release", {"delivery": delivery, "reason": reason}))

    # ---- the officer's views ----------------------------------------------------------------------------

    def status(self) -> Row:
        return dict(self.call("status"))

    def audit_entries(self) -> tuple[int, list[Row]]:
        """The log's size and its newest entries (:data:`audit_rows.SHOWN_ENTRIES` at most)."""
        size = int(self.call("audit.show", {"limit": 1})["size"])
        return size, self.all_pages("audit.show", "entries", window(size))

    def verify_audit(self) -> Row:
        return dict(self.call("audit.verify", {"checkpoints": []}))

    def proofs(self) -> list[Row]:
        return self.all_pages("proof.list", "proofs")

    def export_proof(self, delivery: str, folder: Path) -> list[Path]:
        with self.client() as client:
            return exports.export_proof(client, delivery, folder)

    def staff(self) -> list[Row]:
        return list(self.call("staff.list"))

    def add_staff(self, account: str, name: str, roles: list[str]) -> Row:
        return dict(self.call("staff.add", {"account": account, "name": name, "roles": roles}))

    def remove_staff(self, account: str) -> Row:
        return dict(self.call("staff.remove", {"account": account}))

    def make_report(self, period: str, *, send: bool = False) -> Row:
        return dict(self.call("report", {"period": period, "send": send}))

    def export_report(self, period: str, fmt: str, folder: Path) -> list[Path]:
        exports.check_folder(folder)
        header, data = self._report(period, fmt)
        return exports.write_report(folder, header, fmt, data)

    def report_for_viewing(self, period: str) -> Path:
        """The report's PDF in a private temporary folder of this user, for the PDF viewer (a report holds no
        personal data: ids, dates and counts only)."""
        header, data = self._report(period, "pdf")
        folder = Path(tempfile.mkdtemp(prefix="retention-agent-report-"))
        return exports.write_new(folder / Path(header["files"]["pdf"]).name, data)

    def _report(self, period: str, fmt: str) -> tuple[Row, bytes]:
        sink = io.BytesIO()
        with self.client() as client:
            header, _trailer = client.download("report", {"period": period, "format": fmt}, sink)
        return dict(header), sink.getvalue()
