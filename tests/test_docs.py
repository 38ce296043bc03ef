"""The documentation: the generated references are current and complete, the guides cover what their readers
meet, links resolve, and the DPO's verification commands in docs/dpo-guide.md work — executed, as written,
against a real proof made by a real purge and a real signed report.

Run for real: ``ssh-keygen -Y verify`` through ``sh`` (the Linux command from the guide; the macOS one is the
same text, checked to be), ``retention-agent proof verify`` and ``retention-agent dpo verify``.
NOT run: the Windows command (``cmd /c "…"``) — checked to be exactly the Linux command inside ``cmd /c``, and
the command the proof's own certificate prints.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from retention_agent import errors
from retention_agent.clock import ManualClock
from retention_agent.evidence import proof, sshsig
from retention_agent.lifecycle.purge import Purger
from retention_agent.rules.access import PURPOSES, ROLES
from retention_agent.runtime.context import AgentContext
from retention_agent.status.checklist import IDS as CHECKLIST_IDS
from tests.conftest import ME

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLE_ID = "01KB4ZX3W8J5Q3M3K0Q7Z1Y2AB"
EXAMPLE_REPORT = "report-2026-10"
REGENERATE = "run scripts/gen_docs.py"


def load_gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_docs = load_gen_docs()


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# ---- generated references -----------------------------------------------------------------------------------


def test_the_generated_references_are_current() -> None:
    stale = gen_docs.stale_pages(DOCS)
    assert not stale, f"stale: {', '.join(stale)}; {REGENERATE}"


def test_every_command_has_a_docstring_with_an_example_and_its_own_section() -> None:
    text = read("commands.md")
    commands = list(gen_docs.walk_commands(gen_docs.cli_main))
    assert len(commands) > 30
    for path, command in commands:
        _description, examples = gen_docs.split_help(path, command)  # raises for a missing docstring or example
        assert all(example.startswith(("retention-agent", "sudo retention-agent")) for example in examples), path
        assert f"\n## {' '.join(path)}\n" in text, f"{' '.join(path)} is not in docs/commands.md; {REGENERATE}"
    for name in ("service install", "service uninstall", "service status", "notifier"):
        assert f"\n## retention-agent {name}\n" in text


def test_a_command_without_an_example_is_refused() -> None:
    import click

    @click.command()
    def bare() -> None:
        """Does something."""

    with pytest.raises(gen_docs.DocsError, match="no 'Example:' line"):
        gen_docs.split_help(("retention-agent", "bare"), bare)


def test_every_error_is_documented_with_id_exit_code_and_hint() -> None:
    text = read("errors.md")
    for cls in errors.catalogue():
        if not cls.__module__.startswith(f"{errors.__name__}."):
            continue
        assert f"\n## {cls.error_id}\n" in text, f"{cls.error_id} is not in docs/errors.md; {REGENERATE}"
        assert f"Exit code {cls.exit_code} · class `{cls.__name__}`" in text
        assert cls.message in text
    for error_id in ("uninstall-refused", "uninstall-purge-incomplete", "service-step-failed", "home-not-empty"):
        assert f"\n## {error_id}\n" in text


def test_every_configuration_key_is_documented_with_its_default() -> None:
    text = read("configuration.md")
    keys = list(gen_docs.config_keys())
    assert {key for key, *_ in keys} == set(gen_docs.CONFIG_DESCRIPTIONS), "descriptions and keys differ"
    for key, _section, _kind, default in keys:
        assert f"| `{key.split('.')[-1]}` |" in text and f"`{default}`" in text, key
    assert "| `max_without_ceremony_months` | whole number | `24` |" in text
    assert '| `patterns` | list of text | `["*.xlsx", "*.zip", "*.7z", "*.pdf", "*.eml"]` |' in text


# ---- the guides -------------------------------------------------------------------------------------------------

GUIDES = ("gebruikershandleiding.md", "privacy-officer.md", "dpo-guide.md", "administrator.md", "architecture.md",
          "threat-model.md", "limitations.md", "README.md")


@pytest.mark.parametrize("name", GUIDES)
def test_the_guide_exists_and_its_links_resolve(name: str) -> None:
    text = read(name)
    assert len(text) > 1000 or name == "README.md"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (DOCS / target).exists(), f"{name} links to a missing {target}"


def test_the_staff_guide_names_every_purpose_and_role_and_the_staff_commands() -> None:
    text = read("gebruikershandleiding.md")
    for code in (*PURPOSES, *ROLES):
        assert f"`{code}`" in text, code
    for command in ("retention-agent ingest", "retention-agent ceremony set", "retention-agent open",
                    "retention-agent deliveries", "retention-agent whoami", "retention-agent notifier --once"):
        assert command in text, command


def test_the_officer_guide_covers_roles_checklist_holds_reports_status_and_uninstalling() -> None:
    text = read("privacy-officer.md")
    for code in (*ROLES, *CHECKLIST_IDS):
        assert f"`{code}`" in text, code
    for command in ("retention-agent staff add", "retention-agent status", "retention-agent hold",
                    "retention-agent release", "retention-agent report", "retention-agent checklist set",
                    "retention-agent audit verify", "retention-agent keys public", "service uninstall"):
        assert command in text, command


def test_the_limitations_say_what_was_not_run_and_what_a_purge_cannot_reach() -> None:
    text = read("limitations.md")
    for phrase in ("Windows and macOS have not been run", "systemd itself has not been run", "SSD",
                   "Key-store residue", "e-mail server's retention", "Copies the agent does not track"):
        assert phrase in text, phrase
    assert "have never been\ninstalled on Windows or macOS" in read("administrator.md")


# ---- the DPO's commands, executed ---------------------------------------------------------------------------------


def command_after(marker: str) -> str:
    """The one-line command in the fenced block that follows ``<!-- marker -->`` in dpo-guide.md."""
    text = read("dpo-guide.md")
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```[a-z]*\n(.+?)\n```", text, re.S)
    assert found, f"no block after <!-- {marker} --> in dpo-guide.md"
    lines = found.group(1).splitlines()
    assert len(lines) == 1, f"the {marker} command must be one line"
    return lines[0]


@pytest.fixture
def purged(ctx: AgentContext, tmp_path: Path) -> tuple[Path, str, dict[str, object]]:
    """A real purge after a real ingest; the proof, its signature and allowed_signers in a folder of their own,
    as the DPO receives them."""
    received = ctx.ingest.receive(io.BytesIO(b"%PDF-1.4\n% synthetic delivery\n"), channel="manual",
                                  source="manual", quarantine=False, actor=ME)
    result = Purger(ctx)(received.delivery_id, trigger="early", reason="test of the DPO guide", requested_by=ME,
                         due_at=None)
    assert result["purged_at"]
    folder = tmp_path / "dpo"
    folder.mkdir()
    for name in proof.proof_file_names(received.delivery_id):
        shutil.copyfile(ctx.home.proofs / name, folder / name)
    (folder / "allowed_signers").write_text(allowed_signers(ctx) + "\n")
    doc = json.loads((folder / f"{received.delivery_id}.json").read_text())
    return folder, received.delivery_id, doc


def allowed_signers(ctx: AgentContext) -> str:
    """What ``retention-agent keys public`` prints for this installation."""
    return sshsig.allowed_signers_line(ctx.identity, ("deletion-proof", "dpo-report"), ctx.signing_key.public_bytes())


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_the_linux_command_of_the_dpo_guide_verifies_a_real_proof_and_refuses_a_changed_one(
        purged: tuple[Path, str, dict[str, object]]) -> None:
    folder, delivery, doc = purged
    assert doc["signer"] == "retention-agent@de-panne"  # the identity the guide's example uses
    command = command_after("dpo-verify-linux").replace(EXAMPLE_ID, delivery)
    done = sh(command, folder)
    assert done.returncode == 0, done.stderr
    assert 'Good "deletion-proof" signature for retention-agent@de-panne with ED25519 key' in done.stdout + done.stderr

    data = bytearray((folder / f"{delivery}.json").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / f"{delivery}.json").write_bytes(bytes(data))
    changed = sh(command, folder)
    assert changed.returncode != 0
    assert "Could not verify signature" in changed.stdout + changed.stderr


def test_the_macos_and_windows_commands_are_the_linux_command_and_what_the_certificate_prints(
        purged: tuple[Path, str, dict[str, object]]) -> None:
    _folder, delivery, doc = purged
    linux = command_after("dpo-verify-linux")
    assert command_after("dpo-verify-macos") == linux
    windows = command_after("dpo-verify-windows")
    assert windows == f'cmd /c "{linux}"'
    printed = proof.verify_commands(doc)
    assert printed["posix"] == linux.replace(EXAMPLE_ID, delivery)
    assert printed["windows"] == windows.replace(EXAMPLE_ID, delivery)


def test_the_proof_verify_command_of_the_dpo_guide_works_offline(
        purged: tuple[Path, str, dict[str, object]]) -> None:
    folder, delivery, _doc = purged
    command = command_after("dpo-verify-tool").replace(EXAMPLE_ID, delivery)
    assert command.startswith("retention-agent ")
    argv = [sys.executable, "-m", "retention_agent", *command.split()[1:]]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "RETENTION_AGENT_LANG": "en"})
    assert done.returncode == 0, done.stderr
    assert f"Proof verified: delivery {delivery} was destroyed" in done.stdout


def test_the_report_commands_of_the_dpo_guide_verify_a_real_report(ctx: AgentContext, tmp_path: Path) -> None:
    from retention_agent.reports.generate import make_report
    from retention_agent.reports.period import parse_period

    assert isinstance(ctx.clock, ManualClock)
    ctx.ingest.receive(io.BytesIO(b"%PDF-1.4\n% in october\n"), channel="manual", source="manual",
                       quarantine=False, actor=ME)
    ctx.clock.advance(timedelta(days=1))
    meta = make_report(ctx, parse_period("2026-10"))
    folder = tmp_path / "rapporten"
    folder.mkdir()
    for fmt in ("json", "sig"):
        shutil.copyfile(ctx.home.reports / meta["files"][fmt], folder / meta["files"][fmt])
    (folder / "allowed_signers").write_text(allowed_signers(ctx) + "\n")
    name = Path(meta["files"]["json"]).stem
    command = command_after("dpo-verify-report-linux").replace(EXAMPLE_REPORT, name)
    done = sh(command, folder)
    assert done.returncode == 0, done.stderr
    assert 'Good "dpo-report" signature' in done.stdout + done.stderr

    folder_command = command_after("dpo-verify-folder")
    assert folder_command == "retention-agent dpo verify rapporten/"
    argv = [sys.executable, "-m", "retention_agent", *folder_command.split()[1:]]
    checked = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "RETENTION_AGENT_LANG": "en"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
