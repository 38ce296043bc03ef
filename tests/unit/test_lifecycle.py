"""A delivery's lifecycle has one owner: every allowed transition works, every other one is refused inside the
caller's transaction, no other module writes ``deliveries.state``, and random sequences of what people and the
schedule do never reach a forbidden state (hypothesis, on a real home, real vault and real purges)."""

from __future__ import annotations

import ast
import itertools
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from retention_agent.clock import ManualClock, local_date
from retention_agent.errors import DeliveryNotFoundError, DeliveryStateError, RetentionAgentError
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.states import ALLOWED, DeliveryState, Transition
from retention_agent.store import deliveries
from retention_agent.store.database import Store
from tests.support.agent import ME, make_home
from tests.support.reports import open_context
from tests.support.retention import Rig, ingest
from tests.support.source_strings import folded_strings

PACKAGE = Path(__file__).resolve().parents[2] / "retention_agent"
STATES: list[DeliveryState | None] = [None, *DeliveryState]
FIELDS = {"received_at": "2026-11-02T09:00:00Z", "channel": "manual", "source": "manual", "sha256": "0" * 64,
          "size": 1, "key_id": "k", "legal_basis": "VCMP-05-2024"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.create(tmp_path / "agent.db")
    yield opened
    opened.close()


def put(store: Store, delivery_id: str, state: DeliveryState) -> None:
    """A delivery in ``state`` (the test places it there by hand: only the lifecycle may move it)."""
    with store.transaction():
        deliveries.record(store, {"id": delivery_id, **FIELDS}, DeliveryState.VAULTED)
        store.conn.execute("UPDATE deliveries SET state = ? WHERE id = ?", (state.value, delivery_id))


def state_of(store: Store, delivery_id: str) -> str:
    return str(store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)))


# ---- the table ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("move", lifecycle.TRANSITIONS, ids=lambda t: f"{t.source}->{t.target}")
def test_every_allowed_transition(store: Store, move: Transition) -> None:
    if move.source is None:
        with store.transaction():
            deliveries.record(store, {"id": "D1", **FIELDS}, move.target)
    else:
        put(store, "D1", move.source)
        with store.transaction():
            assert deliveries.transition(store, "D1", move.target) == move.source
    assert state_of(store, "D1") == move.target


FORBIDDEN = [(s, t) for s, t in itertools.product(STATES, DeliveryState) if (s, t) not in ALLOWED]


@pytest.mark.parametrize(("source", "target"), FORBIDDEN, ids=lambda s: str(s))
def test_every_forbidden_transition_is_refused_and_rolls_back_the_callers_transaction(
        store: Store, source: DeliveryState | None, target: DeliveryState) -> None:
    if source is None:
        with pytest.raises(DeliveryStateError), store.transaction():
            deliveries.record(store, {"id": "D1", **FIELDS}, target)
        assert store.scalar("SELECT COUNT(*) FROM deliveries") == 0
        return
    put(store, "D1", source)
    with pytest.raises(DeliveryStateError) as refused, store.transaction():
        store.conn.execute("UPDATE deliveries SET deadline = '2027-01-01' WHERE id = 'D1'")  # the caller's change
        deliveries.transition(store, "D1", target)
    assert refused.value.params == {"delivery": "D1", "state": source.value}
    assert state_of(store, "D1") == source
    assert store.scalar("SELECT deadline FROM deliveries WHERE id = 'D1'") is None  # rolled back with it


def test_the_table_is_what_the_design_says() -> None:
    """Spot checks of DESIGN.md section 4, written out by hand."""
    assert lifecycle.allowed(DeliveryState.QUARANTINED, DeliveryState.VAULTED)  # the officer's release
    assert not lifecycle.allowed(DeliveryState.QUARANTINED, DeliveryState.SCHEDULED)  # never without release
    assert not lifecycle.allowed(DeliveryState.QUARANTINED, DeliveryState.HELD)
    assert not lifecycle.allowed(DeliveryState.SCHEDULED, DeliveryState.VAULTED)  # a ceremony is not unrecorded
    assert not lifecycle.allowed(DeliveryState.PURGING, DeliveryState.VAULTED)  # a purge is never undone
    assert not any(lifecycle.allowed(DeliveryState.PURGED, t) for t in DeliveryState)
    assert not lifecycle.allowed(DeliveryState.VAULTED, DeliveryState.PURGED)  # always through purging
    assert lifecycle.LIVE_STATES == ("vaulted", "scheduled", "held", "quarantined")


def test_the_writer_works_only_inside_a_transaction_and_on_known_deliveries(store: Store) -> None:
    put(store, "D1", DeliveryState.VAULTED)
    with pytest.raises(RuntimeError, match="transaction"):
        deliveries.transition(store, "D1", DeliveryState.SCHEDULED)
    with pytest.raises(RuntimeError, match="transaction"):
        deliveries.record(store, {"id": "D2", **FIELDS}, DeliveryState.VAULTED)
    with pytest.raises(DeliveryNotFoundError), store.transaction():
        deliveries.transition(store, "nope", DeliveryState.SCHEDULED)
    assert state_of(store, "D1") == "vaulted"


def test_the_typed_record(store: Store) -> None:
    put(store, "D1", DeliveryState.HELD)
    with store.transaction():
        store.conn.execute("UPDATE deliveries SET hold_until = '2027-01-31', due_at = '2026-12-09T23:00:00Z' "
                           "WHERE id = 'D1'")
    found = lifecycle.load(store, "D1")
    assert (found.state, found.hold_until, found.due_at, found.ceremony_date, found.live) == (
        DeliveryState.HELD, date(2027, 1, 31), datetime(2026, 12, 9, 23, 0, tzinfo=UTC), None, True)
    with pytest.raises(DeliveryNotFoundError):
        lifecycle.load(store, "nope")


# ---- nobody else writes the state ---------------------------------------------------------------------------

_UPDATE_STATE = re.compile(r"\bupdate\s+deliveries\s+set\b.*\bstate\s*=")
_INSERT = re.compile(r"\b(insert|replace)\s+(or\s+\w+\s+)?into\s+deliveries\b")


def state_writers(source: str) -> list[str]:
    """The places in a module's source that write ``deliveries.state``: SQL that updates the state or inserts a
    delivery (adjacent and f-string literals joined, as Python joins them), and sqlite-utils table writes."""
    found = [f"line {line}: {sql[:80]}" for line, sql in folded_strings(source)
             if _UPDATE_STATE.search(sql) or _INSERT.search(sql)]
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "deliveries"):
            found.append(f"line {node.lineno}: table('deliveries')")
    return found


def test_no_other_module_writes_a_deliverys_state() -> None:
    writers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = state_writers(path.read_text(encoding="utf-8"))
        if found:
            writers[str(path.relative_to(PACKAGE.parent))] = found
    assert list(writers) == ["retention_agent/store/deliveries.py"], writers


@pytest.mark.parametrize("source", [
    'conn.execute("UPDATE deliveries SET state = ? WHERE id = ?", (s, i))',
    'conn.execute("UPDATE deliveries "\n    "SET purged_at = ?, state = \'purged\' WHERE id = ?")',
    'conn.execute(f"update  deliveries set deadline = {x}, "\n    "state=\'held\'")',
    'db.execute("INSERT INTO deliveries(id, state) VALUES (?, ?)")',
    'db.execute("INSERT OR REPLACE INTO deliveries VALUES (?)")',
    'store.db.table("deliveries").insert(row)',
])
def test_the_check_finds_a_state_written_elsewhere(source: str) -> None:
    assert state_writers(source)


@pytest.mark.parametrize("source", [
    'conn.execute("UPDATE deliveries SET ceremony_id = ? WHERE id = ?")',
    'conn.execute("SELECT state FROM deliveries WHERE id = ?")',
    'conn.execute("UPDATE deliveries SET deadline = ?, due_at = ?, due_reason = ? WHERE id = ?")',
    'conn.execute("INSERT INTO purges(delivery_id, trigger) VALUES (?, ?)")',
])
def test_the_check_leaves_other_writes_alone(source: str) -> None:
    assert state_writers(source) == []


# ---- random sequences of operations -------------------------------------------------------------------------


class Lifecycles(RuleBasedStateMachine):
    """What staff, the officer and the schedule do, in any order, on a real home; the lifecycle's one writer is
    watched, and every state change must be one of its allowed transitions and the last one it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="lifecycle-"))
        self.clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        self.ctx = open_context(make_home(self.root / "home", clock=self.clock), self.clock)
        self.ctx.staff.put(ME, "Officer", ["officer", "import", "read", "modify", "destroy"])
        self.rig = Rig.on(self.ctx)
        self.ids: list[str] = []
        self.written: dict[str, str] = {}  # delivery -> the last state the lifecycle wrote
        self.moves: list[tuple[str | None, str]] = []
        self._watch()

    def _watch(self) -> None:
        real_record, real_transition = deliveries.record, deliveries.transition

        def record(store: Store, fields: dict[str, Any], state: DeliveryState) -> None:
            real_record(store, fields, state)
            self._wrote(str(fields["id"]), None, state)

        def transition(store: Store, delivery_id: str, target: DeliveryState) -> DeliveryState:
            source = real_transition(store, delivery_id, target)
            self._wrote(delivery_id, source, target)
            return source

        self._patch = pytest.MonkeyPatch()
        self._patch.setattr(deliveries, "record", record)
        self._patch.setattr(deliveries, "transition", transition)

    def _wrote(self, delivery_id: str, source: DeliveryState | None, target: DeliveryState) -> None:
        self.moves.append((None if source is None else source.value, target.value))
        self.written[delivery_id] = target.value

    def teardown(self) -> None:
        self._patch.undo()
        self.ctx.store.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _pick(self, index: int) -> str:
        return self.ids[index % len(self.ids)]

    @rule(quarantine=st.booleans())
    def receive(self, quarantine: bool) -> None:
        self.ids.append(ingest(self.ctx, quarantine=quarantine))

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 50), offset=st.one_of(st.integers(-40, 60), st.integers(-400, 800)),
          confirm=st.booleans())
    def ceremony(self, index: int, offset: int, confirm: bool) -> None:
        delivery = self._pick(index)
        day = local_date(self.clock.now()) + timedelta(days=offset)
        self._step(lambda: ceremonies.set_ceremony(self.ctx, ME, [delivery], day,
                                                   purger=self.ctx.services.purger, reason="r",
                                                   confirm_destroy=[delivery] if confirm else []))

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 50), days=st.integers(1, 120))
    def hold(self, index: int, days: int) -> None:
        delivery = self._pick(index)
        until = local_date(self.clock.now()) + timedelta(days=days)
        self._step(lambda: ceremonies.hold(self.ctx, ME, delivery, "complaint", until))

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 50))
    def release_hold(self, index: int) -> None:
        delivery = self._pick(index)
        self._step(lambda: ceremonies.release(self.ctx, ME, delivery))

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 50))
    def release_quarantine(self, index: int) -> None:
        delivery = self._pick(index)
        self._step(lambda: ceremonies.release_quarantine(self.ctx, ME, delivery, "AgII's new format"))

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 50))
    def purge_early(self, index: int) -> None:
        delivery = self._pick(index)
        self._step(lambda: self.rig.purger(delivery, trigger="early", reason="cancelled", requested_by=ME,
                                           due_at=None))

    @rule(days=st.one_of(st.integers(0, 40), st.integers(0, 800)))
    def time_passes(self, days: int) -> None:
        self.rig.advance_to(self.clock.now() + timedelta(days=days, hours=1))
        self._step(self.rig.tick)

    def _step(self, action: Any) -> None:
        """Do it; a refusal (the rules said no) rolled back its transaction, and what it wrote with it."""
        moves, written = len(self.moves), dict(self.written)
        try:
            action()
        except RetentionAgentError:
            del self.moves[moves:]
            self.written = written

    @invariant()
    def only_allowed_transitions_were_made(self) -> None:
        for source, target in self.moves:
            assert lifecycle.allowed(None if source is None else DeliveryState(source), DeliveryState(target))

    @invariant()
    def the_lifecycle_wrote_every_state_there_is(self) -> None:
        for delivery_id in self.ids:
            state = self.ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,))
            assert state == self.written[delivery_id], delivery_id

    @invariant()
    def no_purge_is_left_half_done_and_every_purge_has_its_proof(self) -> None:
        for delivery_id in self.ids:
            state = self.ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,))
            assert state != DeliveryState.PURGING
            if state == DeliveryState.PURGED:
                assert (self.ctx.home.proofs / f"{delivery_id}.json").exists()


TestLifecycles = Lifecycles.TestCase
TestLifecycles.settings = settings(max_examples=12, stateful_step_count=14, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])
