"""``proof export ID --out DIR``: the proof, its .sig, its PDF and the allowed_signers line, written by the caller.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_proof_export.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retention_agent.errors import ExportWriteError
from retention_agent.session.exports import add_signer_line, write_new

# ---- the writers, on their own ------------------------------------------------------------------------------


def test_an_existing_different_file_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "proof.json"
    write_new(target, b"first")
    write_new(target, b"first")  # the same bytes: fine
    with pytest.raises(ExportWriteError):
        write_new(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["proof.json"], "no temporary file is left behind"


def test_allowed_signers_gains_a_missing_line_once(tmp_path: Path) -> None:
    signers = tmp_path / "allowed_signers"
    signers.write_text("retention-agent@other namespaces=\"deletion-proof\" ssh-ed25519 AAAAother")
    line = 'retention-agent@de-panne namespaces="deletion-proof,dpo-report" ssh-ed25519 AAAAours'
    add_signer_line(signers, line)
    add_signer_line(signers, line)
    assert signers.read_text().splitlines() == [
        "retention-agent@other namespaces=\"deletion-proof\" ssh-ed25519 AAAAother", line]
