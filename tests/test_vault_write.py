"""The vault's write with its read-back check running behind the writer, on real files and real threads.

What is checked: the read-back sees exactly what is in the temporary file (not what the writer meant to
write), ends where the file ends, and stops when the writer fails; it compares every decrypted chunk with
the received one, holding only a few of them; the background SHA-256 equals hashlib's; an object the
read-back finds altered (a byte flipped in the file once written, bytes after its end, a cipher that sealed
other bytes than it received), or a source that fails half-way, makes the ingest fail and leaves no object,
temporary, key, pending row or thread behind; ``authenticate`` accepts exactly what ``decrypt``
accepts, and objects of the old 64 KiB default chunk size stay readable.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from retention_agent import crypto
from retention_agent.errors import VaultIntegrityError
from retention_agent.runtime.context import AgentContext
from retention_agent.vault import format as vault_format
from retention_agent.vault import vault as vault_module
from retention_agent.vault.streams import (
    BackgroundSha256,
    FileFollower,
    PlaintextMismatch,
    ReceivedChunks,
    ReportingWriter,
    WriterFailed,
)
from tests.retention_support import wait_for
from tests.vault_support import assert_vault_consistent, db_rows

WORKER_THREADS = ("vault-sha256", "vault-read-back")


def _workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in WORKER_THREADS]


def _read_all(follower: FileFollower, size: int, into: list[bytes]) -> None:
    while block := follower.read(size):
        into.append(block)


# ---- the pieces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("read_size", [1, 1000, 65536, 1 << 20])
def test_the_follower_reads_what_the_writer_wrote_while_it_writes(tmp_path: Path, read_size: int) -> None:
    path = tmp_path / "object.part"
    pieces = [secrets.token_bytes(n) for n in (37, 5000, 0, 70000, 1, 300000)]
    with open(path, "wb") as out:
        follower = FileFollower(path)
        got: list[bytes] = []
        reader = threading.Thread(target=_read_all, args=(follower, read_size, got))
        reader.start()
        writer = ReportingWriter(out, follower)
        for piece in pieces:
            writer.write(piece)
            time.sleep(0.01)  # the reader catches up and must wait, not see an end of file
        assert reader.is_alive(), "no end of file before the writer finished"
        follower.finish()
        reader.join(timeout=10)
        follower.close()
    assert b"".join(got) == b"".join(pieces)


def test_after_finish_the_follower_reads_to_the_real_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "object.part"
    with open(path, "wb") as out:
        follower = FileFollower(path)
        ReportingWriter(out, follower).write(b"reported")
        out.write(b" and more")  # in the file, never reported
        out.flush()
        assert follower.read(8) == b"reported"
        follower.finish()
        assert follower.read(100) == b" and more"
        assert follower.read(1) == b""
        follower.close()


def _released_when_the_writer_gives_up(wait: Callable[[], object], ready: threading.Condition,
                                       give_up: Callable[[], None]) -> None:
    """``wait`` (the reader's call) waits on ``ready`` until ``give_up`` is called, then raises WriterFailed."""
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            wait()
        except WriterFailed as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    # until the reader waits for the writer (a waiter on the condition; CPython keeps them in a list)
    wait_for(lambda: len(ready._waiters) == 1, 10, "the reader waiting")  # type: ignore[attr-defined]
    give_up()
    reader.join(timeout=10)
    assert not reader.is_alive() and len(outcome) == 1


def test_a_waiting_follower_is_released_when_the_writer_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "object.part"
    path.write_bytes(b"")
    follower = FileFollower(path)
    _released_when_the_writer_gives_up(lambda: follower.read(10), follower._ready, follower.abandon)
    follower.close()


@pytest.mark.parametrize("sizes", [[], [0], [1], [5, 0, 1 << 20, 3], [65536] * 40])
def test_background_sha256_equals_hashlib(sizes: list[int]) -> None:
    chunks = [secrets.token_bytes(n) for n in sizes]
    with BackgroundSha256() as digest:
        for chunk in chunks:
            digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()
    with pytest.raises(ValueError, match="after hexdigest"):
        digest.update(b"late")


def test_background_sha256_ends_its_thread_when_the_caller_fails() -> None:
    with pytest.raises(RuntimeError), BackgroundSha256() as digest:
        digest.update(b"half")
        raise RuntimeError("the caller failed")
    assert _workers() == []


def test_received_chunks_accept_exactly_the_same_bytes_in_the_same_order() -> None:
    chunks = [secrets.token_bytes(n) for n in (4096, 4096, 17)]
    same = ReceivedChunks()
    for chunk in chunks:
        same.put(chunk)
    same.end()
    for chunk in chunks:
        assert same.write(bytes(chunk)) == len(chunk)
    same.check_complete()

    def fed(decrypted: list[bytes]) -> ReceivedChunks:
        received = ReceivedChunks()
        for chunk in chunks:
            received.put(chunk)
        received.end()
        for chunk in decrypted:
            received.write(chunk)
        return received

    flipped = bytearray(chunks[1])
    flipped[-1] ^= 1
    for decrypted in ([chunks[0], bytes(flipped)], [chunks[1]], [chunks[0], chunks[1], chunks[2], b""],
                      [chunks[0], chunks[1], chunks[2][:-1]]):
        with pytest.raises(PlaintextMismatch):
            fed(decrypted)
    with pytest.raises(PlaintextMismatch):  # one chunk never read back
        fed(chunks[:2]).check_complete()


def test_received_chunks_hold_a_few_chunks_and_release_the_writer_when_the_read_back_ends() -> None:
    received = ReceivedChunks(limit=2)
    received.put(b"one")
    received.put(b"two")
    writer = threading.Thread(target=received.put, args=(b"three",))
    writer.start()
    wait_for(lambda: len(received._changed._waiters) == 1, 10, "the writer waiting for the read-back")
    assert len(received._chunks) == 2, "no more than the limit is held"
    assert received.write(b"one") == 3
    writer.join(timeout=10)
    assert list(received._chunks) == [b"two", b"three"]

    blocked = threading.Thread(target=received.put, args=(b"four",))
    blocked.start()
    wait_for(lambda: len(received._changed._waiters) == 1, 10, "the writer waiting again")
    received.close()  # the read-back failed: its verdict stands, the writer must not wait for it
    blocked.join(timeout=10)
    assert not blocked.is_alive()


def test_a_read_back_waiting_for_a_chunk_is_released_when_the_writer_gives_up() -> None:
    received = ReceivedChunks()
    _released_when_the_writer_gives_up(lambda: received.write(b"chunk"), received._changed, received.abandon)


def _object(plaintext: bytes, chunk_size: int = vault_format.MIN_CHUNK_SIZE) -> tuple[bytes, bytes]:
    key, out = os.urandom(32), io.BytesIO()
    vault_format.encrypt(io.BytesIO(plaintext), out, key, os.urandom(16), chunk_size)
    return key, out.getvalue()


def test_authenticate_accepts_exactly_what_decrypt_accepts() -> None:
    plaintext = secrets.token_bytes(3 * vault_format.MIN_CHUNK_SIZE + 17)
    key, sealed = _object(plaintext)
    assert vault_format.authenticate(io.BytesIO(sealed), key) == len(plaintext)
    flipped = bytearray(sealed)
    flipped[len(sealed) // 2] ^= 1
    for damaged in (bytes(flipped), sealed[:-1], sealed + b"\0", sealed[: vault_format.HEADER_SIZE]):
        for check in (lambda s: vault_format.authenticate(s, key), lambda s: vault_format.decrypt(s, None, key)):
            with pytest.raises(vault_format.ObjectCorrupt):
                check(io.BytesIO(damaged))


def test_objects_of_the_old_64_kib_default_stay_readable(ctx: AgentContext) -> None:
    plaintext = secrets.token_bytes(200_000)
    key_id = secrets.token_hex(16)
    key = ctx.vault.create_key(key_id)
    with open(ctx.vault.path("01OLDOBJECT"), "wb") as out:
        vault_format.encrypt(io.BytesIO(plaintext), out, key, bytes.fromhex(key_id), 64 * 1024)
    sink = io.BytesIO()
    assert ctx.vault.read("01OLDOBJECT", key_id, sink).plaintext_sha256 == hashlib.sha256(plaintext).hexdigest()
    assert sink.getvalue() == plaintext
    assert ctx.vault.authenticate("01OLDOBJECT", key_id) == len(plaintext)


# ---- the ingest: read-back failures leave nothing behind ----------------------------------------------------


class _TamperingSource(io.RawIOBase):
    """A received file that, at its end, appends bytes to the temporary object in ``vault/tmp``.

    Deterministic: the writer has written everything but the last chunk when the source reports its end,
    so the garbage, longer than the last chunk, is left after the object's end in the file.
    """

    def __init__(self, data: bytes, vault_tmp: Path) -> None:
        self._data = io.BytesIO(data)
        self._vault_tmp = vault_tmp

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        count = self._data.readinto(target)
        if not count:
            [temp] = self._vault_tmp.iterdir()
            with open(temp, "ab") as tail:
                tail.write(b"\0" * (vault_format.DEFAULT_CHUNK_SIZE + 100))
        return count


class _FailingSource(io.RawIOBase):
    """A received file that cannot be read after its first megabytes (a disk error, a vanished share)."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        if not self._left:
            raise OSError(5, "Input/output error")
        count = min(len(target), self._left)
        target[:count] = secrets.token_bytes(count)
        self._left -= count
        return count


def _receive(ctx: AgentContext, stream: io.RawIOBase) -> None:
    ctx.ingest.receive(io.BufferedReader(stream), channel="manual", source="manual", quarantine=False,
                       actor="agent")


def test_bytes_the_read_back_finds_after_the_object_fail_the_ingest_and_leave_nothing(ctx: AgentContext) -> None:
    data = secrets.token_bytes(3 * vault_format.DEFAULT_CHUNK_SIZE + 1234)

    with pytest.raises(VaultIntegrityError):
        _receive(ctx, _TamperingSource(data, ctx.home.vault_tmp))

    assert db_rows(ctx.home, "SELECT id FROM deliveries") == []
    assert_vault_consistent(ctx.home)
    assert _workers() == []
    ctx.ingest.receive(io.BytesIO(data), channel="manual", source="manual", quarantine=False, actor="agent")
    assert len(db_rows(ctx.home, "SELECT id FROM deliveries")) == 1, "the same file goes in once it is intact"


def test_a_source_that_fails_half_way_stops_the_read_back_and_leaves_nothing(ctx: AgentContext) -> None:
    with pytest.raises(OSError, match="Input/output error"):
        _receive(ctx, _FailingSource(good=2 * vault_format.DEFAULT_CHUNK_SIZE + 5))

    assert db_rows(ctx.home, "SELECT id FROM deliveries") == []
    assert_vault_consistent(ctx.home)
    assert _workers() == []


class _FlippingFile:
    """The temporary object's file, with one byte flipped in it right after the ``at``-th write reached it
    (before the writer reports that write, so the read-back reads the flipped byte: what the disk holds)."""

    def __init__(self, out: io.BufferedWriter, path: Path, at: int) -> None:
        self._out, self._path, self._at, self._writes = out, path, at, 0

    def __enter__(self) -> _FlippingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()

    def fileno(self) -> int:
        return self._out.fileno()

    def flush(self) -> None:
        self._out.flush()

    def write(self, data: bytes) -> int:
        offset = self._out.tell()
        count = self._out.write(data)
        self._out.flush()
        self._writes += 1
        if self._writes == self._at:
            with open(self._path, "r+b") as disk:  # another handle: as the disk would change it
                disk.seek(offset + len(data) // 2)
                [byte] = disk.read(1)
                disk.seek(-1, io.SEEK_CUR)
                disk.write(bytes([byte ^ 0x01]))
        return count


@pytest.mark.parametrize("at", [1, 2, 4], ids=["header", "first-chunk", "last-chunk"])
def test_a_byte_flipped_in_the_file_after_it_was_written_fails_the_ingest_and_leaves_nothing(
        ctx: AgentContext, monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    create = vault_module._create_private
    monkeypatch.setattr(vault_module, "_create_private",
                        lambda path: _FlippingFile(create(path), path, at))  # type: ignore[arg-type]
    data = secrets.token_bytes(2 * vault_format.DEFAULT_CHUNK_SIZE + 999)  # writes: header, 3 chunks

    with pytest.raises(VaultIntegrityError):
        _receive(ctx, io.BytesIO(data))

    assert db_rows(ctx.home, "SELECT id FROM deliveries") == []
    assert_vault_consistent(ctx.home)
    assert _workers() == []


def test_an_object_whose_tags_verify_but_that_decrypts_to_other_bytes_fails_the_ingest(
        ctx: AgentContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cipher that sealed other bytes than it was given (a fault between hashing and sealing): every tag
    verifies, so only the comparison with the received bytes catches it."""
    seal = crypto.ChunkCipher.seal
    calls = [0]

    def faulty_seal(self: crypto.ChunkCipher, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        calls[0] += 1
        if calls[0] == 2:
            plaintext = bytes([plaintext[0] ^ 0x80]) + plaintext[1:]
        return seal(self, nonce, plaintext, associated_data)

    monkeypatch.setattr(crypto.ChunkCipher, "seal", faulty_seal)
    data = secrets.token_bytes(3 * vault_format.DEFAULT_CHUNK_SIZE + 5)

    with pytest.raises(VaultIntegrityError) as raised:
        _receive(ctx, io.BytesIO(data))

    assert isinstance(raised.value.__cause__, PlaintextMismatch)
    assert db_rows(ctx.home, "SELECT id FROM deliveries") == []
    assert_vault_consistent(ctx.home)
    assert _workers() == []
