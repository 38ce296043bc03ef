"""The crash harness in CI (a short run), the harness's own ability to fail, and the test-hook guard.

``scripts/crash_harness.py --runs N [--long]`` runs the same harness for hundreds of runs (not in CI); it
sets ``CRASH_RUNS`` / ``CRASH_LONG`` / ``CRASH_SEED`` and runs the first test below.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention_agent.testing_hooks import CLOCK_ENV, FAULTS_ENV, TESTING_ENV
from tests.conftest import AgentProcess, make_home
from tests.harness.crash import CrashHarness, Fed, HarnessFailure, Settings, _sha, default_seed

RUNS = int(os.environ.get("CRASH_RUNS") or 7)


def test_random_sigkills_break_no_invariant(tmp_path: Path) -> None:
    seed = default_seed()
    settings = Settings.long(RUNS) if os.environ.get("CRASH_LONG") else Settings(runs=RUNS)
    harness = CrashHarness(tmp_path, seed, settings)
    try:
        stats = harness.run()
    except Exception as exc:
        raise AssertionError(f"crash harness failed with seed {seed} (CRASH_SEED={seed} to replay)") from exc
    print(f"crash harness seed={seed}: {stats.summary()}")
    assert stats.runs == settings.runs
    assert stats.fed > 0 and stats.deliveries > 0, "the harness fed nothing: it would prove nothing"
    assert stats.purged > 0 and stats.proofs_checked > 0, "no purge ran: the purge invariants were not exercised"
    assert sum(stats.fault_kills.values()) + stats.timer_kills > 0, "the agent was never killed"


# ---- the harness can fail ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashHarness]:
    """A harness after one run, with a clean agent running on its consistent home."""
    harness = CrashHarness(tmp_path_factory.mktemp("settled"), seed=12345, settings=Settings(runs=1),
                           log=lambda _line: None)
    harness.run()
    agent = AgentProcess(harness.home.root, env=harness.agent_env).start()
    harness._manual_ingest()  # at least one live delivery
    harness.check(final=True)  # consistent to begin with
    yield harness
    agent.stop()


def test_the_checker_catches_a_lost_file(settled: CrashHarness) -> None:
    ghost = settled.manual / "never-delivered.zip"
    ghost.write_bytes(b"PK\x03\x04 ghost")
    settled.fed.append(Fed("ghost", "manual", _sha(ghost.read_bytes()), (_sha(ghost.read_bytes()),), ghost))
    ghost.unlink()
    try:
        with pytest.raises(HarnessFailure, match="LOST: manual file ghost"):
            settled.check(final=False)
    finally:
        settled.fed.pop()


def test_the_checker_catches_a_stray_temporary_and_a_proof_of_nothing(settled: CrashHarness) -> None:
    stray = settled.home.vault_tmp / "01STRAY.part"
    fake = settled.home.proofs / "01FAKEFAKEFAKEFAKEFAKEFAKE.json"
    try:
        stray.write_bytes(b"x")
        fake.write_text("{}")
        with pytest.raises(HarnessFailure) as failure:
            settled.check(final=True)
    finally:
        stray.unlink(missing_ok=True)
        fake.unlink(missing_ok=True)
    assert "stray file in vault/tmp: 01STRAY.part" in str(failure.value)
    assert "a proof exists for 01FAKEFAKEFAKEFAKEFAKEFAKE, which is not purged" in str(failure.value)


def test_the_checker_catches_a_vanished_vault_object(settled: CrashHarness) -> None:
    victim = next(iter(settled.home.objects.iterdir()))
    saved = victim.read_bytes()
    victim.unlink()
    try:
        with pytest.raises(HarnessFailure, match="vault verify"):
            settled.check(final=True)
    finally:
        victim.write_bytes(saved)
    settled.check(final=True)


# ---- the test hooks are refused outside the test suite -----------------------------------------------------


@pytest.mark.parametrize("hook", [FAULTS_ENV, CLOCK_ENV])
@pytest.mark.parametrize("testing", ["1", ""])
def test_test_hooks_make_the_agent_refuse_to_start_outside_pytest(tmp_path: Path, hook: str, testing: str) -> None:
    """Fault points and the shifted clock are honoured only with RETENTION_AGENT_TESTING=1 under pytest."""
    home = make_home(tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env[hook] = "ingest.after-key" if hook == FAULTS_ENV else str(tmp_path / "offset")
    if testing:
        env[TESTING_ENV] = testing
    done = subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(home.root), "run"],
                          env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 1, done
    message = done.stderr.decode()
    assert FAULTS_ENV in message and "test" in message, message
    assert not home.socket.exists()


def test_without_testing_flag_fault_points_are_ignored_even_under_pytest(tmp_path: Path) -> None:
    """RETENTION_AGENT_TESTING unset: a fault name in the environment is refused at start, never fired."""
    home = make_home(tmp_path / "home")
    env = {**os.environ, FAULTS_ENV: "ingest.after-pending"}
    env.pop(TESTING_ENV, None)
    done = subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(home.root), "run"],
                          env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 1 and FAULTS_ENV in done.stderr.decode()
