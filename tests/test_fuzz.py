"""Fuzzing the parsers of untrusted input with hypothesis (and a short atheris run): each either accepts its
input or refuses it with its one documented error; nothing else escapes, nothing hangs.

Parsers: the vault object header and body, mail files, API frames and requests (over a real socketpair, and
the server loop itself), the configuration file, signed checkpoints, proofs of deletion, the audit chain.
Other test modules hold their own known-answer and tamper tests; these are the property tests over random
and mutated input. Examples are limited so that the module stays well under a minute.
"""

from __future__ import annotations

import base64
import email.message
import hashlib
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention_agent import config
from retention_agent.api import protocol
from retention_agent.api.peer import Peer
from retention_agent.api.server import Session, serve_connection
from retention_agent.audit.log import verify_entries
from retention_agent.canonical import canonical
from retention_agent.copies import readers, wire
from retention_agent.crypto import SigningKey
from retention_agent.errors import (
    ConfigError,
    ConfigSyntaxError,
    DocumentInvalidError,
    FormatVersionError,
    SignatureInvalidError,
)
from retention_agent.evidence import checkpoint, merkle, proof, proof_build, proof_verify, sshsig
from retention_agent.intake import mailfile
from retention_agent.rules import rrn
from retention_agent.vault import format as vault_format
from tests import copies_support as copies_fixtures

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = bytes(range(32))
SIGNING = SigningKey.from_private_bytes(bytes(range(1, 33)))


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, byte) edits: 0 replace, 1 insert, 2 delete."""
    out = bytearray(data)
    for kind, position, value in edits:
        if not out and kind != 1:
            continue
        at = position % (len(out) + (1 if kind == 1 else 0)) if out or kind == 1 else 0
        if kind == 0:
            out[at] = value
        elif kind == 1:
            out.insert(at, value)
        else:
            del out[at]
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4)


# ---- vault objects ----------------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=200))
def test_header_parse_accepts_or_refuses_with_one_error(data: bytes) -> None:
    try:
        header = vault_format.Header.parse(data)
    except (vault_format.ObjectCorrupt, vault_format.UnsupportedVersion):
        return
    assert header.to_bytes() == data  # whatever parses is exactly what would be written


_PLAIN = b"inburgeraars;" * 700  # ~9 KB: three 4 KiB chunks
_OBJECT = io.BytesIO()
vault_format.encrypt(io.BytesIO(_PLAIN), _OBJECT, KEY, b"k" * 16, 4096, nonce_prefix=b"n" * 7)


@FAST
@given(EDITS)
def test_a_mutated_object_never_decrypts_to_other_plaintext(edits: list[tuple[int, int, int]]) -> None:
    data = _mutate(_OBJECT.getvalue(), edits)
    out = io.BytesIO()
    try:
        result = vault_format.decrypt(io.BytesIO(data), out, KEY)
    except (vault_format.ObjectCorrupt, vault_format.UnsupportedVersion):
        return
    assert data == _OBJECT.getvalue()  # only the untouched object decrypts
    assert out.getvalue() == _PLAIN and result.plaintext_size == len(_PLAIN)


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_as_an_object_are_refused(data: bytes) -> None:
    with pytest.raises((vault_format.ObjectCorrupt, vault_format.UnsupportedVersion)):
        vault_format.decrypt(io.BytesIO(vault_format.MAGIC + data), None, KEY)


# ---- mail files --------------------------------------------------------------------------------------------


_header_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    message = email.message.EmailMessage()
    message["From"] = draw(st.sampled_from(["agii@integratie-inburgering.be", "x", "", "=?utf-8?q?=C3=A9?= <a@b>"]))
    message["Subject"] = draw(_header_text)
    message.set_content(draw(st.text(max_size=100)))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.one_of(st.none(), _header_text))
        message.add_attachment(draw(st.binary(max_size=300)), maintype="application", subtype="octet-stream",
                               filename=name)
    if message.is_multipart():
        message.set_boundary("==fuzz-boundary==")  # email would draw one from the random module
    return draw(st.sampled_from([lambda b: b, lambda b: b[: len(b) // 2],
                                 lambda b: b.replace(b"--", b"-", 1), lambda b: b.replace(b"base64", b"base65")])
                )(message.as_bytes())


@FAST
@given(st.one_of(messages(), st.binary(max_size=2000), st.text(max_size=500).map(str.encode)))
def test_mail_files_give_attachments_or_mail_file_error(data: bytes) -> None:
    try:
        found = mailfile.attachments(data, 4096)
    except mailfile.MailFileError:
        found = []
    for part in found:
        assert isinstance(part.data, bytes) and len(part.data) <= 4096
        assert "/" not in part.filename and "\\" not in part.filename
    assert isinstance(mailfile.looks_like_mail(data[:8192]), bool)
    mailfile.message_id(data)
    try:
        mailfile.envelope(data)
    except mailfile.MailFileError:
        pass


def test_a_deeply_nested_message_is_refused_not_a_crash() -> None:
    boundary = "b"
    body = "From: a@b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    for _ in range(600):
        body += f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    try:
        mailfile.attachments(body.encode(), 4096)
    except mailfile.MailFileError:
        pass


# ---- the API protocol --------------------------------------------------------------------------------------


def _frames() -> st.SearchStrategy[bytes]:
    kind = st.sampled_from([b"J", b"D", b"E", b"X", b"\0"])
    payload = st.one_of(st.binary(max_size=64),
                        st.builds(lambda o: json.dumps(o).encode(), st.dictionaries(
                            st.sampled_from(["v", "op", "args", "x"]),
                            st.one_of(st.integers(), st.text(max_size=8), st.none(), st.lists(st.integers()),
                                      st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)))))
    frame = st.builds(lambda k, p, lie: k + max(len(p) + lie, 0).to_bytes(4, "big") + p, kind, payload,
                      st.sampled_from([0, 0, 0, 1, -1, 1 << 24]))
    return st.lists(frame, max_size=5).map(b"".join) | st.binary(max_size=200)


@FAST
@given(_frames())
def test_frames_over_a_socket_parse_or_raise_protocol_errors(data: bytes) -> None:
    left, right = socket.socketpair()
    try:
        try:
            left.sendall(data)
        except OSError:
            return
        left.close()
        while True:
            try:
                kind, _payload = protocol.read_frame(right)
            except (protocol.ProtocolViolation, protocol.ConnectionClosed):
                return
            assert kind in protocol.KINDS
    finally:
        right.close()


@FAST
@given(st.dictionaries(st.sampled_from(["v", "op", "args"]) | st.text(max_size=5),
                       st.one_of(st.none(), st.integers(), st.text(max_size=10), st.booleans(),
                                 st.lists(st.integers(), max_size=2),
                                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))))
def test_requests_parse_or_raise_protocol_violation(message: dict[str, Any]) -> None:
    try:
        op, args = protocol.parse_request(message)
    except protocol.ProtocolViolation:
        return
    assert isinstance(op, str) and isinstance(args, dict)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames())
def test_the_server_loop_survives_any_bytes(data: bytes) -> None:
    """The agent's own connection loop: it answers, ends that connection, and never raises."""
    server_end, client_end = socket.socketpair()
    seen: list[str] = []

    def handler(session: Session, op: str, args: dict[str, Any]) -> None:
        seen.append(op)
        if op == "upload":
            session.reply("send")
            for _chunk in session.receive_stream():
                pass
        session.reply({"op": op})

    def drain() -> None:
        try:
            while client_end.recv(65536):
                pass
        except OSError:
            pass  # the server ended the connection with our data unread

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        client_end.sendall(data)
        client_end.shutdown(socket.SHUT_WR)
        try:
            serve_connection(Session(server_end, Peer("fuzz", 0, None)), handler)
        except protocol.ProtocolViolation:
            assert "upload" in seen  # only an upload's data stream may be cut: the server's _serve ends it
    finally:
        server_end.close()
        reader.join(timeout=5)
        client_end.close()


# ---- configuration -----------------------------------------------------------------------------------------


_toml_scalar = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.booleans(), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                                                max_size=12))
_KEYS = ["municipality", "key_store", "language", "legal_basis", "retention", "workspace", "audit", "inbox",
         "mailbox", "smtp", "reports", "register", "tick_seconds", "path", "settle_seconds", "port", "patterns",
         "name", "host", "username", "wipe_after_hours", "reminder_days_before", "unknown"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else f"{value!r}".replace("inf", "1.0")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    lines = []
    for key in draw(st.lists(st.sampled_from(_KEYS), max_size=5, unique=True)):
        lines.append(f"{key} = {_toml_value(draw(_toml_scalar | st.lists(_toml_scalar, max_size=3)))}")
    for table in draw(st.lists(st.sampled_from(["retention", "workspace", "audit", "smtp", "[inbox]",
                                                "[mailbox]", "reports", "register", "bogus"]), max_size=3)):
        lines.append(f"[{table}]")
        for key in draw(st.lists(st.sampled_from(_KEYS), max_size=4, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(_toml_scalar | st.lists(_toml_scalar, max_size=3)))}")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(toml_documents(), st.text(max_size=300), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
def test_config_load_gives_a_config_or_a_config_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-config.toml"
    path.write_text('municipality = "De Panne"\n' + text if text.startswith("[") else text, encoding="utf-8",
                    errors="surrogatepass")
    try:
        loaded = config.load(path)
    except (ConfigError, ConfigSyntaxError) as exc:
        assert str(path) in exc.params.get("file", str(path))
        return
    assert loaded.municipality.strip()


@FAST
@given(st.binary(max_size=200))
def test_config_files_that_are_not_text_give_a_syntax_error(data: bytes) -> None:
    path = Path(f"/tmp/ra-fuzz-config-{threading.get_ident()}.toml")
    path.write_bytes(b"\xff" + data)
    try:
        with pytest.raises((ConfigError, ConfigSyntaxError)):
            config.load(path)
    finally:
        path.unlink()


# ---- checkpoints -------------------------------------------------------------------------------------------


ORIGIN = "retention-agent/de-panne/0123456789abcdef0123456789abcdef"
_NOTE = checkpoint.sign(checkpoint.Checkpoint(ORIGIN, 42, hashlib.sha256(b"root").digest()), ORIGIN, SIGNING)


@FAST
@given(EDITS)
def test_a_mutated_checkpoint_never_verifies_as_another_one(edits: list[tuple[int, int, int]]) -> None:
    data = _mutate(_NOTE.encode(), edits)
    try:
        found = checkpoint.verify(data, ORIGIN, SIGNING.public_bytes())
    except (checkpoint.CheckpointFormatError, checkpoint.CheckpointSignatureError):
        return
    assert found == checkpoint.parse(_NOTE)[0]  # accepted only if it still says exactly the same


@FAST
@given(st.text(max_size=300))
def test_checkpoint_text_parses_or_raises_a_format_error(text: str) -> None:
    try:
        checkpoint.parse(text)
    except checkpoint.CheckpointFormatError:
        pass
    try:
        checkpoint.verify(text, ORIGIN, SIGNING.public_bytes())
    except (checkpoint.CheckpointFormatError, checkpoint.CheckpointSignatureError):
        pass


# ---- proofs of deletion ------------------------------------------------------------------------------------


def _valid_proof() -> dict[str, Any]:
    delivery = "01JD5Z8K3Q4W7E2R9T6YABCDEF"
    installation = "0123456789abcdef0123456789abcdef"
    origin = f"retention-agent/de-panne/{installation}"
    entries, head = [], ""
    for seq, (action, subject) in enumerate([("delivery.received", [delivery]), ("delivery.purged", [delivery])],
                                            start=1):
        entry = canonical({"v": 1, "seq": seq, "time": f"2026-11-28T00:0{seq}:00Z", "actor": "agent",
                           "action": action, "subject": subject, "outcome": "ok", "details": {}, "prev": head})
        entries.append(entry)
        head = hashlib.sha256(entry).hexdigest()
    leaves = [merkle.leaf_hash(e) for e in entries]
    note = checkpoint.sign(checkpoint.Checkpoint(origin, 2, merkle.root(leaves)), origin, SIGNING)
    facts = proof_build.ProofFacts(
        municipality="De Panne", installation_id=installation, legal_basis="VCMP-05-2024", delivery_id=delivery,
        received_at="2026-09-01T08:12:30Z", channel="zivver", sha256=hashlib.sha256(b"d").hexdigest(), size=48213,
        ceremony_date="2026-10-28", deadline="2026-11-28", due_at="2026-11-27T23:00:00Z",
        purged_at="2026-11-28T00:02:00Z", lateness_seconds=60, trigger="schedule", reason="deadline",
        steps=[{"step": s, "done_at": "2026-11-28T00:01:30Z", "result": "ok"}
               for s in ("key", "object", "workspace", "rows", "scrub")],
        verification=dict.fromkeys(proof.REQUIRED_CHECKS, True), key_store_backend="file", openings_count=1,
        distinct_accounts_count=1, untracked_copies_count=0,
        audit={"checkpoint": note, "entry_seq": 2, "entry": entries[1].decode(), "tree_size": 2,
               "inclusion_proof": [h.hex() for h in merkle.inclusion_proof(leaves, 1)]})
    return proof_build.build_proof(facts)


_PROOF = _valid_proof()
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.text(max_size=30),
                       st.sampled_from(["", "2026-13-01", "2026-11-28T00:02:00Z", "deadline", "zivver"]))
_json_value = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


_PROOF_PATHS = _paths(_PROOF)[1:]


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    copy = json.loads(json.dumps(doc))
    target = copy
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


def test_the_valid_proof_verifies() -> None:
    data = proof.proof_bytes(_PROOF)
    signature = sshsig.sign(SIGNING, proof.NAMESPACE, data)
    assert proof_verify.verify_proof(data, signature, SIGNING.public_bytes()) == _PROOF


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PROOF_PATHS), _json_value, st.booleans())
def test_a_signed_proof_with_any_field_changed_verifies_only_as_itself(path: tuple[Any, ...], value: Any,
                                                                        delete: bool) -> None:
    """Signed by the right key, so only the format and the audit evidence can refuse it, with exit 4."""
    doc = _replace(_PROOF, path, value, delete)
    data = proof.proof_bytes(doc)
    try:
        found = proof_verify.verify_proof(data, sshsig.sign(SIGNING, proof.NAMESPACE, data), SIGNING.public_bytes())
    except (SignatureInvalidError, DocumentInvalidError, FormatVersionError) as exc:
        assert exc.exit_code == 4
        return
    assert found == doc


@FAST
@given(EDITS)
def test_a_mutated_proof_file_with_its_old_signature_never_verifies(edits: list[tuple[int, int, int]]) -> None:
    data = proof.proof_bytes(_PROOF)
    signature = sshsig.sign(SIGNING, proof.NAMESPACE, data)
    changed = _mutate(data, edits)
    try:
        proof_verify.verify_proof(changed, signature, SIGNING.public_bytes())
    except (SignatureInvalidError, DocumentInvalidError, FormatVersionError):
        return
    assert changed == data


# ---- the audit chain ---------------------------------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(st.integers(-2, 12), st.one_of(st.binary(max_size=60), st.builds(
    lambda d: canonical(d), st.dictionaries(st.sampled_from(["seq", "prev", "v", "x"]),
                                            st.one_of(st.integers(0, 12), st.text(max_size=8)))))), max_size=12),
       st.lists(st.text(max_size=80), max_size=2))
def test_audit_verification_reports_findings_and_never_raises(rows: list[tuple[int, bytes]],
                                                              notes: list[str]) -> None:
    from retention_agent.audit.log import parse_checkpoints

    expected, rejected = parse_checkpoints([(f"n{i}", n) for i, n in enumerate(notes)], ORIGIN,
                                           SIGNING.public_bytes())
    report = verify_entries(iter(rows), expected)
    assert report.size == len(rows)
    assert len(rejected) == len(notes)
    if rows:
        assert not report.ok or all(seq == i for i, (seq, _) in enumerate(rows, start=1))
    assert base64.b64encode(bytes.fromhex(report.root))


def _reference_check_entry(position: int, seq: int, entry: bytes, previous: str) -> str:
    """``audit._check_entry`` as it was before it was made faster: the two must always agree."""
    if seq != position:
        return "entry {n} is out of place (numbered {seq}): entries were removed, inserted or moved"
    try:
        fields = json.loads(entry)
    except ValueError:
        return "entry {n} is not readable: it was changed"
    if not isinstance(fields, dict) or fields.get("seq") != seq or canonical(fields) != bytes(entry):
        return "entry {n} was changed"
    if fields.get("prev") != previous:
        return "entry {n} does not follow entry {prev}: an entry before it was changed"
    return ""


_ENTRY = canonical({"v": 1, "seq": 7, "time": "2026-11-28T00:07:00Z", "actor": "mia", "action": "delivery.opened",
                    "subject": ["01JD5Z8K3Q4W7E2R9T6YABCDEF"], "outcome": "ok",
                    "details": {"purpose": "invite", "note": "é \" \\ \u2028 \x01", "n": [1, 2.5, None, True]},
                    "prev": "ab" * 32})
_ENCODINGS = st.sampled_from([lambda b: b, lambda b: b"\xef\xbb\xbf" + b, lambda b: b.decode().encode("utf-16"),
                              lambda b: b.decode().encode("utf-32-le"), lambda b: b" " + b, lambda b: b + b"\n"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.builds(_mutate, st.just(_ENTRY), EDITS), st.just(_ENTRY), st.binary(max_size=80),
                 st.builds(lambda d: canonical(d), st.dictionaries(st.sampled_from(["seq", "prev", "v"]),
                                                                   st.one_of(st.integers(6, 8), st.text(max_size=3),
                                                                             st.floats(allow_nan=True))))),
       _ENCODINGS, st.integers(6, 8), st.sampled_from(["ab" * 32, ""]))
def test_the_fast_entry_check_agrees_with_the_reference(entry: bytes, encode: Any, seq: int, previous: str) -> None:
    from retention_agent.audit.log import _check_entry

    try:
        data = encode(entry)
    except UnicodeDecodeError:
        data = entry
    assert _check_entry(7, seq, data, previous) == _reference_check_entry(7, seq, data, previous)


def _reference_walk(rows: list[tuple[int, bytes]], expected: list[tuple[str, checkpoint.Checkpoint]]) -> Any:
    """``audit.verify_entries`` as it was before it took entries in batches: every entry parsed and re-encoded."""
    findings: list[Any] = []
    leaves: list[bytes] = []
    by_size: dict[int, list[tuple[str, checkpoint.Checkpoint]]] = {}
    for source, cp in expected:
        by_size.setdefault(cp.size, []).append((source, cp))

    def check_roots(size: int) -> None:
        for source, cp in by_size.get(size, []):
            if merkle.root(leaves) != cp.root_hash:
                findings.append(("the first {size} entries no longer match {source}: entries were changed",
                                 {"size": cp.size, "source": source}))

    check_roots(0)
    previous = ""
    for position, (seq, entry) in enumerate(rows, start=1):
        problem = _reference_check_entry(position, seq, entry, previous)
        if problem and len(findings) < 20:
            findings.append((problem, {"n": position, "prev": position - 1, "seq": seq}))
        previous = hashlib.sha256(entry).hexdigest()
        leaves.append(merkle.leaf_hash(entry))
        check_roots(position)
    for size, sources in by_size.items():
        if size > len(leaves):
            findings.extend(("the log has {found} entries but {source} covers {size}: the log was truncated",
                             {"found": len(leaves), "source": source, "size": size}) for source, _ in sources)
    return len(leaves), merkle.root(leaves).hex(), findings


def _chain(count: int) -> list[dict[str, Any]]:
    """Entries as the agent writes them, linked."""
    fields, previous = [], ""
    for seq in range(1, count + 1):
        entry = {"v": 1, "seq": seq, "time": f"2026-11-28T10:{seq % 60:02d}:00Z", "actor": f"uid:{1000 + seq % 3}",
                 "action": "delivery.opened", "subject": [f"D{seq:025d}"] if seq % 4 else [], "outcome": "ok",
                 "details": {"purpose": "invite", "n": seq, "nested": {"prev": "x", "seq": 1}}, "prev": previous}
        fields.append(entry)
        previous = hashlib.sha256(canonical(entry)).hexdigest()
    return fields


# Changes that keep every entry canonical JSON: on these the batched walk must say exactly what the old one said.
CANONICAL_CHANGES = st.sampled_from(["edit", "edit-prev", "edit-seq", "delete", "swap", "insert", "renumber",
                                     "rechain-from", "subject-with-brace", "duplicate-prev-key-nested"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 40), st.lists(st.tuples(CANONICAL_CHANGES, st.integers(0, 39)), max_size=3),
       st.lists(st.integers(0, 42), max_size=3), st.sampled_from([1, 2, 3, 7, 8192]))
def test_the_batched_walk_says_what_the_entry_by_entry_walk_said(
        count: int, changes: list[tuple[str, int]], checkpoint_sizes: list[int], batch_size: int) -> None:
    entries = _chain(count)
    signed = [checkpoint.Checkpoint(ORIGIN, size, merkle.root([merkle.leaf_hash(canonical(e))
                                                               for e in entries[:size]]))
              for size in checkpoint_sizes if size <= count]
    signed += [checkpoint.Checkpoint(ORIGIN, size, hashlib.sha256(b"elsewhere").digest())
               for size in checkpoint_sizes if size > count]
    rows = [(e["seq"], canonical(e)) for e in entries]
    for change, at in changes:
        if not rows:
            break
        i = at % len(rows)
        fields = json.loads(rows[i][1])
        if change == "edit":
            fields["outcome"] = "forged"
        elif change == "edit-prev":
            fields["prev"] = "ab" * 32
        elif change == "edit-seq":
            fields["seq"] += 1
        elif change == "subject-with-brace":
            fields["subject"] = ["{x}", "]"]
        elif change == "duplicate-prev-key-nested":
            fields["details"] = {"z": {"prev": fields["prev"], "seq": fields["seq"], "subject": []}}
            fields["prev"] = ""
        if change == "delete":
            del rows[i]
        elif change == "swap":
            j = (i + 1) % len(rows)
            rows[i], rows[j] = rows[j], rows[i]
        elif change == "insert":
            rows.insert(i, rows[i])
        elif change == "renumber":
            rows[i] = (rows[i][0] + 1, rows[i][1])
        elif change == "rechain-from":
            previous = hashlib.sha256(rows[i - 1][1]).hexdigest() if i else ""
            for k in range(i, len(rows)):
                fields = json.loads(rows[k][1])
                fields["prev"], fields["outcome"] = previous, "rewritten"
                rows[k] = (rows[k][0], canonical(fields))
                previous = hashlib.sha256(rows[k][1]).hexdigest()
        else:
            rows[i] = (rows[i][0], canonical(fields))
    expected = [(f"checkpoint {n}", cp) for n, cp in enumerate(signed)]
    report = verify_entries(iter(rows), expected, batch_size=batch_size)
    assert (report.size, report.root, report.findings) == _reference_walk(rows, expected)


@pytest.mark.parametrize("checkpoint_sizes", [[], [30], [10, 50], [60]])
@pytest.mark.parametrize("batch_size", [7, 8192])
def test_when_every_entry_is_broken_the_first_findings_are_named_as_before(checkpoint_sizes: list[int],
                                                                           batch_size: int) -> None:
    entries = _chain(60)
    for fields in entries:
        fields["prev"] = "ab" * 32  # every link broken
    rows = [(e["seq"], canonical(e)) for e in entries]
    expected = [(f"checkpoint {size}", checkpoint.Checkpoint(ORIGIN, size, hashlib.sha256(b"other").digest()))
                for size in checkpoint_sizes]
    report = verify_entries(iter(rows), expected, batch_size=batch_size)
    assert (report.size, report.root, report.findings) == _reference_walk(rows, expected)
    assert len([message for message, _ in report.findings if message.startswith("entry ")]) == 20 - sum(
        size <= 20 for size in checkpoint_sizes)


def test_the_fast_link_check_takes_entries_as_the_agent_writes_them_and_nothing_broken() -> None:
    from retention_agent.audit.log import _links_hold

    entries = [canonical(e) for e in _chain(9)]
    links = [b"", *(hashlib.sha256(e).hexdigest().encode() for e in entries[:-1])]
    numbers = list(range(1, 10))
    assert _links_hold(1, numbers, entries, links)
    assert _links_hold(7, [7], [_ENTRY], [b"ab" * 32])
    assert not _links_hold(2, numbers, entries, links)  # numbered from the wrong place
    assert not _links_hold(1, numbers, entries, [b"", *links[2:], b""])  # a link not as recorded
    assert not _links_hold(1, [1, 2, 4, 3, 5, 6, 7, 8, 9], entries, links)
    last = entries[8][:-1]
    for hiding in (b',"w":{}}', b',"seq":10}', b',"prev":1}', b',"pr\\u0065v":1}', b'} '):
        assert not _links_hold(1, numbers, [*entries[:8], last + hiding], links), hiding
    # a key that ends in "prev" (its first quote escaped) is not the entry's prev
    fields = json.loads(entries[8])
    sneaky = canonical({**fields, "prev": "evil", 'prev"prev': fields["prev"]})
    assert json.loads(sneaky)["prev"] == "evil"
    assert not _links_hold(1, numbers, [*entries[:8], sneaky], links)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.builds(_mutate, st.just(_ENTRY), EDITS), st.just(_ENTRY),
                 st.builds(canonical, st.fixed_dictionaries(
                     {"action": st.just("opened"), "prev": st.sampled_from(["ab" * 32, "", "cd" * 32])},
                     optional={"seq": st.one_of(st.integers(6, 8), st.just("7")),
                               "subject": st.lists(st.text(max_size=3)), "time": st.text(max_size=3),
                               "v": st.integers(0, 2), "w": st.just({"prev": "ab" * 32})}))),
       st.sampled_from(["ab" * 32, ""]))
def test_what_the_fast_link_check_accepts_links_as_a_parser_reads_it(entry: bytes, previous: str) -> None:
    """The batched walk skips the parse of entries whose links hold; in any entry that is JSON, those are then
    the links a parser reads (only an entry that is not canonical JSON goes unnamed, and the chain, the
    agent's record and the checkpoints still bind its bytes)."""
    from retention_agent.audit.log import _links_hold

    if not _links_hold(7, [7], [entry], [previous.encode()]):
        return
    try:
        fields = json.loads(entry)
    except ValueError:
        return
    assert fields["seq"] == 7
    assert fields["prev"] == previous


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 30), st.integers(0, 28), EDITS, st.sampled_from([1, 4, 8192]))
def test_any_byte_change_before_the_last_entry_is_a_finding(count: int, at: int, edits: list[tuple[int, int, int]],
                                                            batch_size: int) -> None:
    rows = [(e["seq"], canonical(e)) for e in _chain(count)]
    i = at % (count - 1)
    changed = _mutate(rows[i][1], edits)
    rows[i] = (rows[i][0], changed)
    report = verify_entries(iter(rows), batch_size=batch_size)
    assert bool(report.findings) == (changed != canonical(_chain(count)[i]))


# ---- the copy sweep's document readers and a session's report ------------------------------------------------

_NUMBERS = [rrn.make((1980 + n, 1 + n % 12, 1 + n), 10 + n) for n in range(6)]
_SEEDS = {"text": copies_fixtures.mail_merge_csv(_NUMBERS),
          "xlsx": copies_fixtures.xlsx(copies_fixtures.rows(_NUMBERS)),
          "docx": copies_fixtures.docx([rrn.written(d) for d in _NUMBERS]),
          "pdf": copies_fixtures.pdf([rrn.written(d) for d in _NUMBERS])}


def _read_document(kind: str, data: bytes) -> None:
    started = time.monotonic()
    try:
        found = readers.numbers(kind, data, deadline=started + 5)
    except readers.Unreadable:
        found = set()
    assert all(rrn.is_valid(d) for d in found)
    assert time.monotonic() - started < 20  # bounded: no hang


@FAST
@given(st.sampled_from(sorted(_SEEDS)), EDITS)
def test_a_mutated_document_gives_valid_numbers_or_unreadable(kind: str, edits: list[tuple[int, int, int]]) -> None:
    _read_document(kind, _mutate(_SEEDS[kind], edits))


@FAST
@given(st.sampled_from(sorted(_SEEDS)), st.binary(max_size=4000))
def test_random_bytes_as_a_document_give_valid_numbers_or_unreadable(kind: str, data: bytes) -> None:
    _read_document(kind, data)


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                               max_size=5), max_leaves=20))
def test_a_session_report_is_parsed_or_refused_with_a_value_error(raw: Any) -> None:
    try:
        report = wire.parse_report(raw)
    except ValueError:
        return
    assert all(found.path.isprintable() for found in report.found)


# ---- atheris: coverage-guided, a short run of every target -------------------------------------------------


def test_atheris_finds_nothing_in_a_short_run() -> None:
    """``python -m tests.harness.atheris_targets all`` for a few thousand inputs (long: -max_total_time=…)."""
    done = subprocess.run([sys.executable, "-m", "tests.harness.atheris_targets", "all", "-runs=6000",
                           "-max_total_time=25", "-seed=1"], capture_output=True, timeout=120,
                          cwd=Path(__file__).parent.parent, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert b"Done " in done.stderr
