"""Tamper suite: every way to alter the audit log, a vault object, a proof or a checkpoint file is caught by
the right ``verify`` of the real command line, with exit code 4 (DESIGN.md section 5, invariant 5).

One home is built once (deliveries ingested through the real agent, two purged with proofs, an old audit
checkpoint kept "elsewhere"); each audit-log case alters a private copy of it, so cases cannot hide each
other. Vault objects are altered and restored on one running agent. Proofs are checked offline with
``proof verify`` (and, where it says so, also with the real ``ssh-keygen -Y verify``).

Reports and ``dpo verify`` have their own tamper tests (tests of the reports capability).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retention_agent.api.client import Client
from retention_agent.canonical import canonical
from retention_agent.evidence import merkle
from retention_agent.vault import format as vault_format
from tests.conftest import ME, AgentProcess, cli, make_home

EN = {"RETENTION_AGENT_LANG": "en"}
INTEGRITY = 4


@dataclass(frozen=True)
class Pristine:
    root: Path
    home: Path
    live: list[dict[str, str]]  # live deliveries: id, sha256
    purged: list[str]
    old_checkpoint: Path  # taken before the last activity: a copy the DPO holds
    allowed_signers: Path


def _ok(done: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert done.returncode == 0, (done.returncode, done.stderr.decode())
    return done


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    root = tmp_path_factory.mktemp("tamper")
    home = make_home(root / "home")
    agent = AgentProcess(home.root, env=EN).start()
    try:
        roles = [a for r in ("officer", "import", "read", "destroy") for a in ("--role", r)]
        _ok(cli(home.root, "staff", "add", ME, "--name", "Officer", *roles, env=EN))
        sources = []
        for n, size in enumerate((200_000, 5_000, 70_000, 1_000, 3_000)):  # the first spans 4 chunks
            path = root / f"delivery-{n}.xlsx"
            path.write_bytes(hashlib.sha256(str(n).encode()).digest() * (size // 32))
            sources.append(str(path))
        _ok(cli(home.root, "ingest", *sources, env=EN))
        rows = json.loads(_ok(cli(home.root, "deliveries", "--json", env=EN)).stdout)
        purged = [rows[3]["id"], rows[4]["id"]]
        for delivery in purged:
            _ok(cli(home.root, "purge", delivery, "--reason", "tamper suite", "--yes", env=EN))
        old = root / "dpo-held-checkpoint.txt"
        old.write_bytes(_ok(cli(home.root, "audit", "checkpoint", env=EN)).stdout)
        for _ in range(3):  # activity after the DPO's checkpoint
            _ok(cli(home.root, "deliveries", "--json", env=EN))
        signers = root / "allowed_signers"
        signers.write_bytes(_ok(cli(home.root, "keys", "public", env=EN)).stdout)
        _ok(cli(home.root, "audit", "verify", "--checkpoint", str(old), env=EN))
        _ok(cli(home.root, "vault", "verify", env=EN))
    finally:
        assert agent.stop() == 0
    live = [{"id": r["id"], "sha256": r["sha256"]} for r in rows[:3]]
    return Pristine(root, home.root, live, purged, old, signers)


# ---- the audit log ------------------------------------------------------------------------------------


@pytest.fixture
def copy(pristine: Pristine, tmp_path: Path) -> Path:
    """A private copy of the pristine home (the agent is stopped, so the copy is consistent)."""
    target = tmp_path / "home"
    shutil.copytree(pristine.home, target, symlinks=True)
    return target


def _audit_rows(db: sqlite3.Connection) -> list[tuple[int, bytes]]:
    return [(int(s), bytes(e)) for s, e in db.execute("SELECT seq, entry FROM audit ORDER BY seq")]


def _rechain(db: sqlite3.Connection, entries: list[dict[str, object]]) -> None:
    """What a careful forger does: renumber and re-chain every entry and rewrite the Merkle frontier, so
    that the log is consistent in itself (only a signature over an old root can still give it away)."""
    db.execute("DELETE FROM audit")
    frontier, head = merkle.CompactRange(), ""
    for seq, fields in enumerate(entries, start=1):
        fields = {**fields, "seq": seq, "prev": head}
        data = canonical(fields)
        db.execute("INSERT INTO audit(seq, entry) VALUES (?, ?)", (seq, data))
        frontier.append(merkle.leaf_hash(data))
        head = hashlib.sha256(data).hexdigest()
    state = {"size": frontier.size, "hashes": [h.hex() for h in frontier.to_hashes()], "head": head}
    db.execute("UPDATE meta SET value = ? WHERE key = 'audit.frontier'", (json.dumps(state),))


def _edit_middle(db: sqlite3.Connection) -> None:
    seq, entry = _audit_rows(db)[4]
    fields = json.loads(entry)
    fields["outcome"] = "denied" if fields["outcome"] != "denied" else "granted"
    db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (canonical(fields), seq))


def _edit_bytes_only(db: sqlite3.Connection) -> None:
    seq, entry = _audit_rows(db)[2]
    db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (entry.replace(b'"ok"', b'"OK"', 1) + b" ", seq))


def _edit_last(db: sqlite3.Connection) -> None:
    """The newest entry: no later entry chains to it, and no stored checkpoint may cover it yet."""
    seq, entry = _audit_rows(db)[-1]
    fields = json.loads(entry)
    fields["actor"] = "someone-else"
    db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (canonical(fields), seq))


def _insert_renumbered(db: sqlite3.Connection) -> None:
    rows = _audit_rows(db)
    forged = {**json.loads(rows[5][1]), "action": "staff.changed", "actor": "intruder"}
    db.execute("UPDATE audit SET seq = -seq WHERE seq > 6")
    db.execute("UPDATE audit SET seq = 1 - seq WHERE seq < 0")
    db.execute("INSERT INTO audit(seq, entry) VALUES (7, ?)", (canonical({**forged, "seq": 7}),))


def _insert_and_rechain(db: sqlite3.Connection) -> None:
    entries = [json.loads(e) for _, e in _audit_rows(db)]
    entries.insert(6, {**entries[5], "action": "staff.changed", "actor": "intruder"})
    _rechain(db, entries)


def _delete_middle(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit WHERE seq = 6")


def _delete_and_rechain(db: sqlite3.Connection) -> None:
    entries = [json.loads(e) for _, e in _audit_rows(db)]
    del entries[5]
    _rechain(db, entries)


def _reorder(db: sqlite3.Connection) -> None:
    rows = _audit_rows(db)
    (a, first), (b, second) = rows[3], rows[4]
    db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (second, a))
    db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (first, b))


def _reorder_and_rechain(db: sqlite3.Connection) -> None:
    entries = [json.loads(e) for _, e in _audit_rows(db)]
    entries[3], entries[4] = entries[4], entries[3]
    _rechain(db, entries)


def _truncate_naively(db: sqlite3.Connection) -> None:
    last = _audit_rows(db)[-1][0]
    db.execute("DELETE FROM audit WHERE seq > ?", (last - 3,))


AUDIT_CASES: dict[str, Callable[[sqlite3.Connection], None]] = {
    "edit an entry": _edit_middle,
    "edit bytes without re-encoding": _edit_bytes_only,
    "edit the newest entry": _edit_last,
    "insert an entry (renumbering the rest)": _insert_renumbered,
    "insert an entry and re-chain the rest": _insert_and_rechain,
    "delete an entry": _delete_middle,
    "delete an entry and re-chain the rest": _delete_and_rechain,
    "swap two entries": _reorder,
    "swap two entries and re-chain": _reorder_and_rechain,
    "truncate the log": _truncate_naively,
}
REWRITES = ["insert an entry and re-chain the rest", "delete an entry and re-chain the rest",
            "swap two entries and re-chain"]


def _tamper_db(home: Path, change: Callable[[sqlite3.Connection], None]) -> None:
    db = sqlite3.connect(home / "agent.db", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        change(db)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def _verify_audit(home: Path, *checkpoints: Path) -> tuple[int, str]:
    """``audit verify`` through the real command line; or the agent's own refusal to start on that log
    (it appends to the log at start-up and refuses a log that does not match its record: exit 4 too)."""
    agent = AgentProcess(home, env=EN)
    try:
        agent.start()
    except AssertionError:
        code = agent.wait_exit()
        return code, "refused at start-up: " + agent.output.read_text(errors="replace")
    try:
        args = [a for p in checkpoints for a in ("--checkpoint", str(p))]
        done = cli(home, "audit", "verify", *args, env=EN)
        return done.returncode, done.stdout.decode() + done.stderr.decode()
    finally:
        agent.kill()  # a throwaway copy: no graceful stop needed


@pytest.mark.parametrize("case", list(AUDIT_CASES))
def test_an_altered_audit_log_fails_audit_verify(copy: Path, case: str) -> None:
    _tamper_db(copy, AUDIT_CASES[case])
    code, output = _verify_audit(copy)
    assert code == INTEGRITY, (case, output)
    assert "Finding:" in output or "The audit log does not verify" in output, output


@pytest.mark.parametrize("case", REWRITES)
def test_a_rewritten_log_without_its_stored_checkpoints_fails_against_the_dpos_checkpoint(
        pristine: Pristine, copy: Path, case: str) -> None:
    """A forger who also removes the agent's own signed checkpoints is still caught by a copy held elsewhere."""

    def rewrite(db: sqlite3.Connection) -> None:
        AUDIT_CASES[case](db)
        db.execute("DELETE FROM checkpoints")

    _tamper_db(copy, rewrite)
    code, output = _verify_audit(copy, pristine.old_checkpoint)
    assert code == INTEGRITY, output
    assert "checkpoint file 1" in output


def test_a_log_truncated_below_the_dpos_checkpoint_and_made_consistent_fails(pristine: Pristine, copy: Path) -> None:
    """Truncated, re-chained, frontier rewritten, stored checkpoints gone: only the held checkpoint tells."""
    held = int(pristine.old_checkpoint.read_text().splitlines()[1])

    def truncate(db: sqlite3.Connection) -> None:
        entries = [json.loads(e) for _, e in _audit_rows(db)]
        _rechain(db, entries[: held - 4])
        db.execute("DELETE FROM checkpoints")

    _tamper_db(copy, truncate)
    code, output = _verify_audit(copy, pristine.old_checkpoint)
    assert code == INTEGRITY, output
    assert "truncated" in output


def test_the_untouched_copy_verifies(pristine: Pristine, copy: Path) -> None:
    """The control: the same procedure without a change exits 0 (so the cases above test the change)."""
    _tamper_db(copy, lambda db: None)
    code, output = _verify_audit(copy, pristine.old_checkpoint)
    assert code == 0, output


# ---- checkpoint files ------------------------------------------------------------------------------------


def _replace_line(text: str, index: int, new: str) -> str:
    lines = text.split("\n")
    lines[index] = new
    return "\n".join(lines)


def _flip_b64(value: str, at: int = 10) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[at % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _root_changed(text: str) -> str:
    return _replace_line(text, 2, _flip_b64(text.split("\n")[2]))


def _size_changed(text: str) -> str:
    return _replace_line(text, 1, str(int(text.split("\n")[1]) - 1))


def _signature_changed(text: str) -> str:
    lines = text.split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith("\u2014 "))
    dash, name, signature = lines[index].split(" ")
    return _replace_line(text, index, f"{dash} {name} {_flip_b64(signature, at=20)}")


def _origin_changed(text: str) -> str:
    return _replace_line(text, 0, text.split("\n")[0] + "x")


CHECKPOINT_CASES = {"root changed": _root_changed, "size changed": _size_changed,
                    "signature changed": _signature_changed, "origin changed": _origin_changed}


@pytest.fixture(scope="module")
def running(pristine: Pristine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One agent on one more copy, for the cases that alter files and put them back."""
    home = tmp_path_factory.mktemp("running") / "home"
    shutil.copytree(pristine.home, home, symlinks=True)
    agent = AgentProcess(home, env=EN).start()
    yield home
    agent.stop()


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_an_altered_checkpoint_file_fails_audit_verify(pristine: Pristine, running: Path, tmp_path: Path,
                                                       case: str) -> None:
    altered = tmp_path / "checkpoint.txt"
    altered.write_text(CHECKPOINT_CASES[case](pristine.old_checkpoint.read_text()))
    done = cli(running, "audit", "verify", "--checkpoint", str(altered), env=EN)
    assert done.returncode == INTEGRITY, (case, done.stderr.decode())
    assert "checkpoint file 1" in done.stderr.decode()
    assert cli(running, "audit", "verify", "--checkpoint", str(pristine.old_checkpoint), env=EN).returncode == 0


# ---- vault objects ------------------------------------------------------------------------------------------


def _object(home: Path, delivery: str) -> Path:
    return home / "vault" / "objects" / f"{delivery}.rav"


def _flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


CHUNK = vault_format.DEFAULT_CHUNK_SIZE + vault_format.TAG_SIZE
HEADER = vault_format.HEADER_SIZE
VAULT_CASES: dict[str, Callable[[bytes], bytes]] = {
    "flip a ciphertext byte": lambda d: _flip(d, HEADER + 100),
    "flip a tag byte": lambda d: _flip(d, HEADER + CHUNK - 1),
    "flip the last byte": lambda d: _flip(d, len(d) - 1),
    "truncate one byte": lambda d: d[:-1],
    "truncate at a chunk boundary": lambda d: d[: HEADER + CHUNK],
    "drop a middle chunk": lambda d: d[: HEADER + CHUNK] + d[HEADER + 2 * CHUNK:],
    "swap two chunks": lambda d: d[:HEADER] + d[HEADER + CHUNK: HEADER + 2 * CHUNK] + d[HEADER: HEADER + CHUNK]
    + d[HEADER + 2 * CHUNK:],
    "append bytes": lambda d: d + b"\0" * 16,
    "header: magic": lambda d: _flip(d, 0),
    "header: version": lambda d: d[:8] + bytes([d[8] + 1]) + d[9:],
    "header: algorithm": lambda d: d[:9] + bytes([d[9] + 1]) + d[10:],
    "header: chunk size": lambda d: _flip(d, 12),
    "header: key id": lambda d: _flip(d, 14),
    "header: nonce prefix": lambda d: _flip(d, HEADER - 1),
    "empty file": lambda d: b"",
}


OPENED = {"flip a ciphertext byte", "truncate at a chunk boundary", "drop a middle chunk", "header: version"}


def _api(home: Path, op: str) -> Any:
    with Client(home / "agent.sock") as client:
        return client.call(op)


def _vault_verify(home: Path) -> tuple[int, dict[str, object]]:
    done = cli(home, "vault", "verify", "--json", env=EN)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        return done.returncode, {"stderr": done.stderr.decode()}


@pytest.mark.parametrize("case", list(VAULT_CASES))
def test_an_altered_vault_object_fails_vault_verify_and_is_named(pristine: Pristine, running: Path,
                                                                 case: str) -> None:
    big, other = pristine.live[0]["id"], pristine.live[1]["id"]
    path = _object(running, big)
    original = path.read_bytes()
    path.write_bytes(VAULT_CASES[case](original))
    try:
        code, result = _vault_verify(running)
        opened = cli(running, "open", big, "--purpose", "invite", "--stdout", env=EN) if case in OPENED else None
    finally:
        path.write_bytes(original)
    assert code == INTEGRITY, (case, result)
    assert result.get("corrupt") == [big], (case, result)  # named, and the other objects still checked
    assert result.get("checked") == len(pristine.live)
    assert other not in json.dumps(result.get("corrupt"))
    if opened is not None:  # and no byte of plaintext leaves the vault
        assert opened.returncode == INTEGRITY and opened.stdout == b"", (case, opened.stderr.decode())
    assert _api(running, "vault.verify")["ok"] is True


def test_objects_swapped_between_deliveries_fail_both(pristine: Pristine, running: Path) -> None:
    a, b = (_object(running, d["id"]) for d in pristine.live[:2])
    first, second = a.read_bytes(), b.read_bytes()
    a.write_bytes(second)
    b.write_bytes(first)
    try:
        code, result = _vault_verify(running)
    finally:
        a.write_bytes(first)
        b.write_bytes(second)
    assert code == INTEGRITY
    assert sorted(result["corrupt"]) == sorted(d["id"] for d in pristine.live[:2])  # type: ignore[arg-type]


def test_an_object_replaced_by_a_same_key_reencryption_of_other_content_is_a_mismatch_or_corrupt(
        pristine: Pristine, running: Path) -> None:
    """An object copied over another with the other's name but its own key id: never accepted."""
    a, c = _object(running, pristine.live[0]["id"]), _object(running, pristine.live[2]["id"])
    original = c.read_bytes()
    c.write_bytes(a.read_bytes())
    try:
        code, result = _vault_verify(running)
    finally:
        c.write_bytes(original)
    assert code == INTEGRITY and result["corrupt"] == [pristine.live[2]["id"]]


def test_a_missing_an_extra_and_a_keyless_object_are_each_reported(pristine: Pristine, running: Path) -> None:
    gone = _object(running, pristine.live[1]["id"])
    saved = gone.read_bytes()
    extra = _object(running, "01EXTRAEXTRAEXTRAEXTRAEXTR")
    with sqlite3.connect(f"file:{running / 'agent.db'}?mode=ro", uri=True) as db:
        key_id = db.execute("SELECT key_id FROM deliveries WHERE id = ?", (pristine.live[2]["id"],)).fetchone()[0]
    key = running / "keys" / f"data-key--{key_id}.key"
    saved_key = key.read_bytes()
    gone.unlink()
    extra.write_bytes(saved)
    key.unlink()
    try:
        code, result = _vault_verify(running)
    finally:
        gone.write_bytes(saved)
        extra.unlink()
        key.write_bytes(saved_key)
        key.chmod(0o600)
    assert code == INTEGRITY
    assert result["missing"] == [pristine.live[1]["id"]]
    assert result["extra"] == ["01EXTRAEXTRAEXTRAEXTRAEXTR"]
    assert result["keyless"] == [pristine.live[2]["id"]]
    assert _api(running, "vault.verify")["ok"] is True


# ---- proofs ----------------------------------------------------------------------------------------------


def _proof_verify(proof: Path, signature: Path, signers: Path) -> subprocess.CompletedProcess[bytes]:
    return cli(proof.parent, "proof", "verify", str(proof), "--signature", str(signature), "--allowed-signers",
               str(signers), env=EN)


def _ssh_keygen_verify(proof: Path, signature: Path, signers: Path, identity: str) -> int:
    with open(proof, "rb") as data:
        return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", identity, "-n",
                               "deletion-proof", "-s", str(signature)], stdin=data, capture_output=True,
                              check=False).returncode


@pytest.fixture
def proofs(pristine: Pristine, tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """Copies of the two proofs and their signatures: (a.json, a.json.sig, b.json, b.json.sig)."""
    found = []
    for delivery in pristine.purged:
        for suffix in (".json", ".json.sig"):
            target = tmp_path / f"{delivery}{suffix}"
            shutil.copyfile(pristine.home / "proofs" / f"{delivery}{suffix}", target)
            found.append(target)
    return found[0], found[1], found[2], found[3]


def _identity(signers: Path) -> str:
    return signers.read_text().split()[0]


def test_the_untouched_proofs_verify_with_proof_verify_and_ssh_keygen(pristine: Pristine, proofs: tuple[Path, ...]
                                                                    ) -> None:
    a, a_sig, b, b_sig = proofs
    for proof, sig in ((a, a_sig), (b, b_sig)):
        assert _proof_verify(proof, sig, pristine.allowed_signers).returncode == 0
        assert _ssh_keygen_verify(proof, sig, pristine.allowed_signers, _identity(pristine.allowed_signers)) == 0


def _change_digit(data: bytes) -> bytes:
    at = data.index(b'"size": ') + len(b'"size": ')
    return data[:at] + bytes([ord("1") if data[at] != ord("1") else ord("2")]) + data[at + 1:]


PROOF_JSON_CASES: dict[str, Callable[[bytes], bytes]] = {
    "one byte changed": lambda d: _flip(d, len(d) // 2),
    "a number changed": _change_digit,
    "a check made true by hand": lambda d: d.replace(b'"object_absent": true', b'"object_absent": true '),
    "whitespace added": lambda d: d + b"\n",
    "a field removed": lambda d: d.replace(b'  "channel": "manual",\n', b""),
    "the signer changed": lambda d: d.replace(b'"signer": "retention-agent@de-panne"',
                                               b'"signer": "retention-agent@de-pann"'),
    "truncated": lambda d: d[: len(d) // 2],
    "empty": lambda d: b"",
}
@pytest.mark.parametrize("case", list(PROOF_JSON_CASES))
def test_an_altered_proof_fails_proof_verify_and_ssh_keygen(pristine: Pristine, proofs: tuple[Path, ...],
                                                            case: str) -> None:
    a, a_sig, _b, _b_sig = proofs
    original = a.read_bytes()
    altered = PROOF_JSON_CASES[case](original)
    assert altered != original, case
    a.write_bytes(altered)
    done = _proof_verify(a, a_sig, pristine.allowed_signers)
    assert done.returncode == INTEGRITY, (case, done.stderr.decode())
    assert a.name in done.stderr.decode()
    assert _ssh_keygen_verify(a, a_sig, pristine.allowed_signers, _identity(pristine.allowed_signers)) != 0


def test_an_altered_signature_file_fails(pristine: Pristine, proofs: tuple[Path, ...]) -> None:
    a, a_sig, _b, _b_sig = proofs
    lines = a_sig.read_text().splitlines()
    body = "".join(lines[1:-1])
    raw = bytearray(base64.b64decode(body))
    raw[-5] ^= 0x01  # inside the Ed25519 signature
    encoded = base64.b64encode(bytes(raw)).decode()
    a_sig.write_text("\n".join([lines[0], *[encoded[i:i + 70] for i in range(0, len(encoded), 70)], lines[-1]])
                     + "\n")
    done = _proof_verify(a, a_sig, pristine.allowed_signers)
    assert done.returncode == INTEGRITY, done.stderr.decode()
    assert _ssh_keygen_verify(a, a_sig, pristine.allowed_signers, _identity(pristine.allowed_signers)) != 0


def test_a_proof_with_the_signature_of_another_proof_fails(pristine: Pristine, proofs: tuple[Path, ...]) -> None:
    a, _a_sig, _b, b_sig = proofs
    done = _proof_verify(a, b_sig, pristine.allowed_signers)
    assert done.returncode == INTEGRITY, done.stderr.decode()
    assert _ssh_keygen_verify(a, b_sig, pristine.allowed_signers, _identity(pristine.allowed_signers)) != 0


def test_a_proof_of_another_delivery_renamed_to_this_one_does_not_pass_as_it(pristine: Pristine,
                                                                            proofs: tuple[Path, ...]) -> None:
    """b's proof and signature under a's names verify as b's proof, and never name a's delivery."""
    a, a_sig, b, b_sig = proofs
    shutil.copyfile(b, a)
    shutil.copyfile(b_sig, a_sig)
    done = _proof_verify(a, a_sig, pristine.allowed_signers)
    doc = json.loads(a.read_bytes())
    assert doc["delivery_id"] == pristine.purged[1] != pristine.purged[0]
    assert done.returncode in (0, INTEGRITY)  # valid as b's proof, or refused because the name lies
    assert pristine.purged[0] not in done.stdout.decode()


def test_a_proof_checked_against_another_installations_key_fails(pristine: Pristine, proofs: tuple[Path, ...],
                                                                 tmp_path: Path) -> None:
    other = make_home(tmp_path / "other", municipality="De Panne")
    agent = AgentProcess(other.root, env=EN).start()
    try:
        signers = tmp_path / "other_signers"
        signers.write_bytes(_ok(cli(other.root, "keys", "public", env=EN)).stdout)
    finally:
        agent.stop()
    a, a_sig, _b, _b_sig = proofs
    assert _identity(signers) == _identity(pristine.allowed_signers)  # same municipality, another key
    done = _proof_verify(a, a_sig, signers)
    assert done.returncode == INTEGRITY, done.stderr.decode()
    assert _ssh_keygen_verify(a, a_sig, signers, _identity(signers)) != 0
