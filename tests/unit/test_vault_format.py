"""Vault object format v1: known answers, tamper-every-byte, truncation, splicing, round trips, memory."""

from __future__ import annotations

import hashlib
import io
import resource
import struct
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_agent.vault import format as vf

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
KEY_ID = bytes(range(0x10, 0x20))
PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
SMALL = 4096  # the smallest chunk size: many chunks from little data
SEALED = SMALL + vf.TAG_SIZE

# Computed once with format.encrypt and committed; test_known_answer_* rebuild them independently.
KAT_PLAINTEXT = b"AgII delivery 2025-01"
KAT_OBJECT_HEX = (
    "52415641554c5400010100001000101112131415161718191a1b1c1d1e1fa0a1a2a3a4a5a6"
    "36060057986285ac6a13bd5db6ae8968353e06d9f3db33c304724690abd028690d8eec9027"
)
KAT2_PLAINTEXT = bytes(i % 251 for i in range(2 * SMALL + 100))
KAT2_OBJECT_SHA256 = "a0d608b18ef42333083a154147591c544b8ba24e0c6353bf121aa53277f8645c"


def _encrypt(
    plaintext: bytes,
    key: bytes = KEY,
    *,
    key_id: bytes = KEY_ID,
    chunk_size: int = SMALL,
    prefix: bytes | None = PREFIX,
) -> bytes:
    out = io.BytesIO()
    vf.encrypt(io.BytesIO(plaintext), out, key, key_id, chunk_size, nonce_prefix=prefix)
    return out.getvalue()


def _decrypt(obj: bytes, key: bytes = KEY) -> tuple[bytes, vf.DecryptResult]:
    out = io.BytesIO()
    result = vf.decrypt(io.BytesIO(obj), out, key)
    return out.getvalue(), result


def _chunks(obj: bytes, chunk_size: int = SMALL) -> tuple[bytes, list[bytes]]:
    sealed = chunk_size + vf.TAG_SIZE
    body = obj[vf.HEADER_SIZE :]
    return obj[: vf.HEADER_SIZE], [body[i : i + sealed] for i in range(0, len(body), sealed)]


def _independent_object(key: bytes, key_id: bytes, prefix: bytes, chunk_size: int, plaintext: bytes) -> bytes:
    """The documented construction, written straight against AES-GCM (not through format.py)."""
    header = b"RAVAULT\x00" + struct.pack(">BBI", 1, 1, chunk_size) + key_id + prefix
    pieces = [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)]
    if not pieces or len(pieces[-1]) == chunk_size:
        pieces.append(b"")  # the last chunk is always shorter than chunk_size, possibly empty
    aead = AESGCM(key)
    out = [header]
    for counter, piece in enumerate(pieces):
        flag = b"\x01" if counter == len(pieces) - 1 else b"\x00"
        out.append(aead.encrypt(prefix + struct.pack(">I", counter) + flag, piece, header))
    return b"".join(out)


def _expect_corrupt(obj: bytes, written_at_most: bytes) -> None:
    """Decryption fails with ObjectCorrupt and ``dest`` got nothing beyond ``written_at_most``."""
    out = io.BytesIO()
    with pytest.raises(vf.ObjectCorrupt):
        vf.decrypt(io.BytesIO(obj), out, KEY)
    assert written_at_most.startswith(out.getvalue())


# ---- known answers ---------------------------------------------------------------------------------------


def test_known_answer_single_chunk() -> None:
    obj = _encrypt(KAT_PLAINTEXT)
    assert obj.hex() == KAT_OBJECT_HEX
    assert obj == _independent_object(KEY, KEY_ID, PREFIX, SMALL, KAT_PLAINTEXT)
    header, (chunk,) = _chunks(obj)
    nonce = PREFIX + b"\x00\x00\x00\x00" + b"\x01"
    assert AESGCM(KEY).decrypt(nonce, chunk, header) == KAT_PLAINTEXT


def test_known_answer_multi_chunk() -> None:
    obj = _encrypt(KAT2_PLAINTEXT)
    assert hashlib.sha256(obj).hexdigest() == KAT2_OBJECT_SHA256
    assert obj == _independent_object(KEY, KEY_ID, PREFIX, SMALL, KAT2_PLAINTEXT)
    header, chunks = _chunks(obj)
    first = AESGCM(KEY).decrypt(PREFIX + b"\x00\x00\x00\x00\x00", chunks[0], header)
    assert first == KAT2_PLAINTEXT[:SMALL]


def test_header_layout() -> None:
    header = vf.Header.parse(bytes.fromhex(KAT_OBJECT_HEX)[: vf.HEADER_SIZE])
    assert vf.HEADER_SIZE == 37
    assert header == vf.Header(key_id=KEY_ID, nonce_prefix=PREFIX, chunk_size=SMALL)
    assert header.version == 1 and header.algorithm == 1
    assert header.nonce(258, last=True) == PREFIX + b"\x00\x00\x01\x02\x01"


def test_results_report_hash_and_sizes() -> None:
    out = io.BytesIO()
    result = vf.encrypt(io.BytesIO(KAT2_PLAINTEXT), out, KEY, KEY_ID, SMALL)
    expected_hash = hashlib.sha256(KAT2_PLAINTEXT).hexdigest()
    assert result == vf.EncryptResult(expected_hash, len(KAT2_PLAINTEXT), len(out.getvalue()))
    assert vf.decrypt(io.BytesIO(out.getvalue()), None, KEY) == vf.DecryptResult(
        expected_hash, len(KAT2_PLAINTEXT)
    )


def test_random_nonce_prefix_differs_between_objects() -> None:
    first, second = _encrypt(b"x", prefix=None), _encrypt(b"x", prefix=None)
    assert first[: vf.HEADER_SIZE - vf.NONCE_PREFIX_SIZE] == second[: vf.HEADER_SIZE - vf.NONCE_PREFIX_SIZE]
    assert first != second


# ---- tampering ---------------------------------------------------------------------------------------------


def _expected_error(position: int, value: int) -> type[Exception]:
    newer = position in (8, 9) and value > 1  # version and algorithm bytes
    return vf.UnsupportedVersion if newer else vf.ObjectCorrupt


def _clean_prefix(plaintext: bytes, position: int) -> bytes:
    """What ``dest`` may hold when the byte at ``position`` is bad: the chunks entirely before it."""
    if position < vf.HEADER_SIZE:
        return b""
    return plaintext[: (position - vf.HEADER_SIZE) // SEALED * SMALL]


@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_every_flipped_byte_is_detected(mask: int) -> None:
    plaintext = bytes(i % 253 for i in range(10_000))
    obj = _encrypt(plaintext)
    assert len(_chunks(obj)[1]) == 3
    for position in range(len(obj)):
        tampered = bytearray(obj)
        tampered[position] ^= mask
        out = io.BytesIO()
        with pytest.raises(_expected_error(position, tampered[position])):
            vf.decrypt(io.BytesIO(bytes(tampered)), out, KEY)
        assert out.getvalue() == _clean_prefix(plaintext, position)[: len(out.getvalue())]
        assert len(out.getvalue()) % SMALL == 0  # whole verified chunks only, never part of the bad one
        assert len(out.getvalue()) <= len(_clean_prefix(plaintext, position))


def test_newer_version_and_algorithm_say_upgrade() -> None:
    obj = bytearray(_encrypt(b"data"))
    obj[8] = 2
    with pytest.raises(vf.UnsupportedVersion) as info:
        vf.decrypt(io.BytesIO(bytes(obj)), None, KEY)
    assert (info.value.found, info.value.known, info.value.field) == (2, 1, "version")
    with pytest.raises(vf.UnsupportedVersion):  # a future header may be longer or shorter
        vf.Header.parse(b"RAVAULT\x00\x02")
    obj[8], obj[9] = 1, 7
    with pytest.raises(vf.UnsupportedVersion) as info:
        vf.read_header(io.BytesIO(bytes(obj)))
    assert (info.value.found, info.value.field) == (7, "algorithm")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RAVAULT",
        b"RAVAULT\x00",
        b"RAVAULT\x00\x00",
        b"PK\x03\x04" + bytes(40),
        bytes.fromhex(KAT_OBJECT_HEX)[: vf.HEADER_SIZE - 1],
        bytes.fromhex(KAT_OBJECT_HEX)[: vf.HEADER_SIZE] + b"\x00",
        b"RAVAULT\x00\x01\x01" + struct.pack(">I", 4095) + bytes(23),
        b"RAVAULT\x00\x01\x01" + struct.pack(">I", 16 * 1024 * 1024 + 1) + bytes(23),
    ],
)
def test_malformed_headers_are_corrupt(data: bytes) -> None:
    with pytest.raises(vf.ObjectCorrupt):
        vf.Header.parse(data)


def test_truncation_at_every_length_is_detected() -> None:
    plaintext = bytes(i % 251 for i in range(2 * SMALL + 1000))
    obj = _encrypt(plaintext)
    for length in range(len(obj)):
        _expect_corrupt(obj[:length], written_at_most=plaintext[: max(0, length - vf.HEADER_SIZE)])


def test_truncation_at_chunk_boundaries_of_exact_multiple() -> None:
    plaintext = bytes(3 * SMALL)  # ends with an empty last chunk
    obj = _encrypt(plaintext)
    header, chunks = _chunks(obj)
    assert [len(c) for c in chunks] == [SEALED, SEALED, SEALED, vf.TAG_SIZE]
    for keep in range(len(chunks)):
        _expect_corrupt(header + b"".join(chunks[:keep]), written_at_most=plaintext[: keep * SMALL])


@pytest.mark.parametrize("extra", [b"\x00", b"garbage", bytes(SEALED), bytes(SEALED + 5)])
@pytest.mark.parametrize("size", [0, 100, SMALL, 2 * SMALL + 7])
def test_appended_data_is_detected_and_last_chunk_withheld(extra: bytes, size: int) -> None:
    plaintext = bytes(i % 7 for i in range(size))
    _expect_corrupt(_encrypt(plaintext) + extra, written_at_most=plaintext[: size // SMALL * SMALL])


def test_reordered_chunks_are_detected() -> None:
    plaintext = bytes(i % 251 for i in range(3 * SMALL + 10))
    header, chunks = _chunks(_encrypt(plaintext))
    swapped = [chunks[1], chunks[0], chunks[2], chunks[3]]
    _expect_corrupt(header + b"".join(swapped), written_at_most=b"")
    dropped = [chunks[0], chunks[2], chunks[3]]
    _expect_corrupt(header + b"".join(dropped), written_at_most=plaintext[:SMALL])
    duplicated = [chunks[0], chunks[0], *chunks[1:]]
    _expect_corrupt(header + b"".join(duplicated), written_at_most=plaintext[:SMALL])


@pytest.mark.parametrize(
    ("other_prefix", "other_key", "other_key_id"),
    [
        (bytes(7), KEY, KEY_ID),  # same key and key id, another object
        (PREFIX, OTHER_KEY, KEY_ID),  # another key
        (PREFIX, KEY, bytes(16)),  # same key and prefix, another key id in the header
    ],
)
def test_chunks_cannot_move_between_objects(
    other_prefix: bytes, other_key: bytes, other_key_id: bytes
) -> None:
    plaintext = bytes(i % 251 for i in range(2 * SMALL + 10))
    header, chunks = _chunks(_encrypt(plaintext))
    other_header, other_chunks = _chunks(
        _encrypt(plaintext, other_key, key_id=other_key_id, prefix=other_prefix)
    )
    spliced = header + chunks[0] + other_chunks[1] + chunks[2]
    _expect_corrupt(spliced, written_at_most=plaintext[:SMALL])
    with pytest.raises(vf.ObjectCorrupt):
        vf.decrypt(io.BytesIO(spliced), None, other_key)
    if other_header != header:  # our chunks under the other object's header
        _expect_corrupt(other_header + b"".join(chunks), written_at_most=b"")


def test_wrong_key_is_corrupt_and_releases_nothing() -> None:
    obj = _encrypt(KAT2_PLAINTEXT)
    out = io.BytesIO()
    with pytest.raises(vf.ObjectCorrupt):
        vf.decrypt(io.BytesIO(obj), out, OTHER_KEY)
    assert out.getvalue() == b""


def test_full_size_chunk_flagged_last_is_refused() -> None:
    """The spec says the last chunk is shorter than chunk_size; an encoder that disagrees is refused."""
    header = b"RAVAULT\x00" + struct.pack(">BBI", 1, 1, SMALL) + KEY_ID + PREFIX
    chunk = AESGCM(KEY).encrypt(PREFIX + bytes(4) + b"\x01", bytes(SMALL), header)
    _expect_corrupt(header + chunk, written_at_most=b"")


# ---- round trips -------------------------------------------------------------------------------------------

EDGE_SIZES = [0, 1, SMALL - 1, SMALL, SMALL + 1, 2 * SMALL, 2 * SMALL + 1, 3 * SMALL - 1]


@settings(max_examples=60, deadline=None)
@given(
    size=st.sampled_from(EDGE_SIZES) | st.integers(0, 3 * SMALL + 1),
    chunk_size=st.sampled_from([SMALL, SMALL + 1, 3 * SMALL + 7]),
    data=st.data(),
)
def test_round_trip(size: int, chunk_size: int, data: st.DataObject) -> None:
    plaintext = data.draw(st.binary(min_size=size, max_size=size))
    obj = _encrypt(plaintext, chunk_size=chunk_size, prefix=None)
    assert len(obj) == vf.HEADER_SIZE + size + vf.TAG_SIZE * (size // chunk_size + 1)
    decrypted, result = _decrypt(obj)
    assert decrypted == plaintext
    assert result == vf.DecryptResult(hashlib.sha256(plaintext).hexdigest(), size)
    assert vf.read_header(io.BytesIO(obj)).key_id == KEY_ID


@settings(max_examples=50, deadline=None)
@given(
    key_id=st.binary(min_size=16, max_size=16),
    prefix=st.binary(min_size=7, max_size=7),
    chunk_size=st.integers(vf.MIN_CHUNK_SIZE, vf.MAX_CHUNK_SIZE),
)
def test_header_round_trip(key_id: bytes, prefix: bytes, chunk_size: int) -> None:
    header = vf.Header.new(key_id, chunk_size, nonce_prefix=prefix)
    assert vf.Header.parse(header.to_bytes()) == header
    assert len(header.to_bytes()) == vf.HEADER_SIZE


class _Trickle(io.RawIOBase):
    """A raw stream that returns at most 5 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        piece = self._data[self._pos : self._pos + min(5, len(buffer))]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


def test_short_reads_are_tolerated() -> None:
    plaintext = bytes(i % 13 for i in range(SMALL + 50))
    out = io.BytesIO()
    vf.encrypt(_Trickle(plaintext), out, KEY, KEY_ID, SMALL, nonce_prefix=PREFIX)  # type: ignore[arg-type]
    assert out.getvalue() == _encrypt(plaintext)
    decrypted = io.BytesIO()
    vf.decrypt(_Trickle(out.getvalue()), decrypted, KEY)  # type: ignore[arg-type]
    assert decrypted.getvalue() == plaintext


class _GrowsAfterEnd(io.RawIOBase):
    """Reports end of stream once at ``pause``, then yields more (a file appended to while it is read)."""

    def __init__(self, data: bytes, pause: int) -> None:
        self._data, self._pos, self._pause = data, 0, pause

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(len(self._data), self._pos + len(buffer))
        if self._pos < self._pause:
            end = min(end, self._pause)
        elif self._pos == self._pause:
            self._pause = -1
            return 0
        piece = self._data[self._pos : end]
        buffer[: len(piece)] = piece
        self._pos = end
        return len(piece)


def test_data_after_reported_end_is_detected_before_the_last_chunk_is_released() -> None:
    plaintext = bytes(i % 251 for i in range(SMALL + 100))
    obj = _encrypt(plaintext)
    out = io.BytesIO()
    with pytest.raises(vf.ObjectCorrupt):
        vf.decrypt(_GrowsAfterEnd(obj + b"more", pause=len(obj)), out, KEY)  # type: ignore[arg-type]
    assert out.getvalue() == plaintext[:SMALL]
    decrypted = io.BytesIO()  # the same stream without the extra bytes is fine
    vf.decrypt(_GrowsAfterEnd(obj, pause=len(obj)), decrypted, KEY)  # type: ignore[arg-type]
    assert decrypted.getvalue() == plaintext


def test_read_header_leaves_stream_at_first_chunk() -> None:
    source = io.BytesIO(_encrypt(b"abc"))
    assert vf.read_header(source).key_id == KEY_ID
    assert source.tell() == vf.HEADER_SIZE


@pytest.mark.parametrize(
    ("key", "key_id", "chunk_size"),
    [
        (bytes(31), KEY_ID, SMALL),
        (KEY, bytes(15), SMALL),
        (KEY, KEY_ID, vf.MIN_CHUNK_SIZE - 1),
        (KEY, KEY_ID, vf.MAX_CHUNK_SIZE + 1),
    ],
)
def test_encrypt_refuses_bad_parameters(key: bytes, key_id: bytes, chunk_size: int) -> None:
    with pytest.raises(ValueError):
        vf.encrypt(io.BytesIO(b"x"), io.BytesIO(), key, key_id, chunk_size)


# ---- 200 MB streamed round trip in constant memory ---------------------------------------------------------


class PatternStream(io.RawIOBase):
    """``size`` deterministic bytes repeating a 1 MiB + 13 pattern, generated on demand (never held whole)."""

    def __init__(self, size: int, seed: bytes = b"retention-agent") -> None:
        blocks = (hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(32_769))
        self._pattern = memoryview(b"".join(blocks)[: 1024 * 1024 + 13])
        self._size, self._pos = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._pos)
        done = 0
        while done < wanted:
            offset = (self._pos + done) % len(self._pattern)
            take = min(wanted - done, len(self._pattern) - offset)
            view[done : done + take] = self._pattern[offset : offset + take]
            done += take
        self._pos += wanted
        return wanted


def _sha256_of(stream: io.RawIOBase | io.BufferedIOBase) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    while block := stream.read(1024 * 1024):
        hasher.update(block)
        size += len(block)
    return hasher.hexdigest(), size


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def test_200_mb_round_trip_in_constant_memory(tmp_path: Path) -> None:
    size = 200 * 1024 * 1024
    expected = _sha256_of(io.BufferedReader(PatternStream(size)))
    obj_path, out_path = tmp_path / "object.ravault", tmp_path / "plain.out"
    started, rss_before = time.monotonic(), _max_rss_bytes()
    tracemalloc.start()
    try:
        with obj_path.open("wb") as dest:
            encrypted = vf.encrypt(io.BufferedReader(PatternStream(size)), dest, KEY, KEY_ID)
        with obj_path.open("rb") as source, out_path.open("wb") as dest:
            decrypted = vf.decrypt(source, dest, KEY)
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rss_growth = _max_rss_bytes() - rss_before
    assert (encrypted.plaintext_sha256, encrypted.plaintext_size) == expected
    assert (decrypted.plaintext_sha256, decrypted.plaintext_size) == expected
    assert encrypted.object_size == obj_path.stat().st_size
    with out_path.open("rb") as written:
        assert _sha256_of(written) == expected
    assert python_peak < 20 * 1024 * 1024, python_peak
    assert rss_growth < 20 * 1024 * 1024, rss_growth
    assert time.monotonic() - started < 20
