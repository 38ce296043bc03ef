"""RFC 6962 / RFC 9162 Merkle tree hashing for the audit log: pure functions over 32-byte hashes.

- Leaf hash ``SHA-256(0x00 || entry)``, interior node ``SHA-256(0x01 || left || right)``, empty tree
  ``SHA-256("")`` (RFC 6962 §2.1, RFC 9162 §2.1.1). The 0x00/0x01 prefixes keep a leaf from posing as a node.
- The tree over n leaves splits at the largest power of two below n. Pairing level by level and promoting
  an unpaired last node unchanged builds the same tree, which is how :func:`root` computes it quickly.
- Inclusion proofs (RFC 6962 §2.1.1 PATH, verified per RFC 9162 §2.1.3.2) show that a leaf is in a tree;
  consistency proofs (RFC 6962 §2.1.2 PROOF, verified per RFC 9162 §2.1.4.2) show that an older tree is a
  prefix of a newer one, so a log that was truncated or rewritten is caught against an old checkpoint.
- :class:`CompactRange` keeps only the roots of the perfect subtrees covering the log (one per set bit of
  the size), so the agent appends and recomputes the root in O(log n) without rereading the log.

Builders raise ``ValueError`` on bad arguments; the ``verify_*`` functions never raise, they return False.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

HASH_SIZE: Final = 32
# Sizes are uint64 as in RFC 9162, so no valid proof is longer than this; longer ones are refused unread.
_MAX_PROOF_LENGTH: Final = 2 * 64
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_BLOCK_HEIGHT: Final = 8  # CompactRange.extend hashes blocks of 256 leaves at once


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of many entries (one call: verifying a long log hashes a million)."""
    sha256 = hashlib.sha256
    return [sha256(_LEAF_PREFIX + entry).digest() for entry in entries]


def node_hash(left: bytes, right: bytes) -> bytes:
    _require_hash(left, "left")
    _require_hash(right, "right")
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) over already-hashed leaves; :data:`EMPTY_ROOT` for no leaves."""
    _require_hashes(leaf_hashes)
    return _root(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree over ``leaf_hashes``, bottom first (RFC 6962 PATH)."""
    _require_hashes(leaf_hashes)
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaf_hashes)} leaves")
    return _path(leaf_hashes, index, 0, len(leaf_hashes))


def inclusion_proof_after(before: CompactRange, later_leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``before.size`` in the tree of ``before.size + len(later_leaves)`` leaves,
    knowing only the compact range of the leaves before it and the leaves from it on.

    Every left sibling on a leaf's path is a perfect subtree that ends at or before the leaf, and the largest
    such: exactly a node of the compact range of the leaves before it. So a proof for a recent entry of a log
    of a million costs a few hashes, not a million (equal to :func:`inclusion_proof` over all the leaves).
    """
    _require_hashes(later_leaves)
    if not later_leaves:
        raise ValueError("the leaf itself is needed")
    index, size = before.size, before.size + len(later_leaves)
    known: dict[tuple[int, int], bytes] = {}
    start = 0
    for height in sorted((h for h in range(64) if before.size >> h & 1), reverse=True):
        known[(start, start + (1 << height))] = before.to_hashes()[len(known)]
        start += 1 << height

    def subtree(begin: int, end: int) -> bytes:
        if end <= index:
            return known[(begin, end)]
        return _root(later_leaves, begin - index, end - index)

    def path(begin: int, end: int) -> list[bytes]:
        if end - begin == 1:
            return []
        k = _largest_power_of_two_below(end - begin)
        if index - begin < k:
            return [*path(begin, begin + k), subtree(begin + k, end)]
        return [*path(begin + k, end), subtree(begin, begin + k)]

    return path(0, size)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of the whole tree (RFC 6962 PROOF).

    Empty when ``old_size`` is 0 or the whole tree: those need no proof.
    """
    _require_hashes(leaf_hashes)
    new_size = len(leaf_hashes)
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    return _subproof(leaf_hashes, old_size, 0, new_size, complete=True)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf ``index`` of a ``size``-leaf tree hashing to ``root``?"""
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    if index >= size:
        return False
    if len(proof) > _MAX_PROOF_LENGTH:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0 or not _is_hash(p):
            return False
        if fn & 1 or fn == sn:
            r = _hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the ``old_size`` tree with ``old_root`` a prefix of the ``new_size`` one?

    Size 0 is the prefix of every tree, so it is consistent with an empty proof whatever the roots.
    """
    if not (_is_hash(old_root) and _is_hash(new_root) and _is_size(old_size) and _is_size(new_size)):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0
    if not 0 < len(proof) <= _MAX_PROOF_LENGTH:
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    return _check_consistency_path(old_size, new_size, old_root, new_root, proof)


class CompactRange:
    """The roots of the perfect subtrees covering leaves ``[0, size)``, largest (leftmost) first.

    There is one hash per set bit of ``size``; :meth:`to_hashes` and :meth:`from_hashes` persist them.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        if not _is_size(size):
            raise ValueError(f"a tree size is an integer in 0..2**64-1, not {size!r}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a range of {size} leaves has {size.bit_count()} hashes, not {len(hashes)}")
        _require_hashes(hashes)
        restored = cls()
        restored._size = size
        restored._hashes = list(hashes)
        return restored

    @property
    def size(self) -> int:
        return self._size

    def to_hashes(self) -> list[bytes]:
        return list(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        self.extend([leaf_hash])

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaves in order. Whole aligned blocks are hashed level by level, not leaf by leaf: this
        loop is most of the cost of verifying a long log."""
        _require_hashes(leaf_hashes)
        block = 1 << _BLOCK_HEIGHT
        start, count = 0, len(leaf_hashes)
        while start < count:
            if self._size % block == 0 and count - start >= block:
                self._push(_root(leaf_hashes, start, start + block), _BLOCK_HEIGHT)
                start += block
            else:
                self._push(leaf_hashes[start], 0)
                start += 1

    def _push(self, node: bytes, height: int) -> None:
        """Add the root of a perfect subtree of ``2**height`` leaves; the size is a multiple of that."""
        # Each trailing 1 bit of the old size is a perfect subtree the same height as the new node: merge.
        carry = self._size >> height
        while carry & 1:
            node = _hash_children(self._hashes.pop(), node)
            carry >>= 1
        self._hashes.append(node)
        self._size += 1 << height

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = _hash_children(left, result)
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


# ---- private helpers ------------------------------------------------------------------------------------


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes], begin: int, end: int) -> bytes:
    """MTH of ``leaves[begin:end]``, pairing level by level; an unpaired last node moves up unchanged."""
    if begin == end:
        return EMPTY_ROOT
    level = list(leaves[begin:end])
    prefixed = hashlib.sha256(_NODE_PREFIX)  # copying a primed hasher beats concatenating 65 bytes
    while len(level) > 1:
        pairs = iter(level)
        parents = []
        for left, right in zip(pairs, pairs, strict=False):
            h = prefixed.copy()
            h.update(left)
            h.update(right)
            parents.append(h.digest())
        if len(level) & 1:
            parents.append(level[-1])
        level = parents
    return level[0]


def _path(leaves: Sequence[bytes], index: int, begin: int, end: int) -> list[bytes]:
    """RFC 6962 PATH(index, leaves[begin:end]) with ``index`` relative to ``begin``."""
    if end - begin == 1:
        return []
    k = _largest_power_of_two_below(end - begin)
    if index < k:
        return [*_path(leaves, index, begin, begin + k), _root(leaves, begin + k, end)]
    return [*_path(leaves, index - k, begin + k, end), _root(leaves, begin, begin + k)]


def _subproof(leaves: Sequence[bytes], m: int, begin: int, end: int, *, complete: bool) -> list[bytes]:
    """RFC 6962 SUBPROOF(m, leaves[begin:end], complete)."""
    n = end - begin
    if m == n:
        return [] if complete else [_root(leaves, begin, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(leaves, m, begin, begin + k, complete=complete), _root(leaves, begin + k, end)]
    return [*_subproof(leaves, m - k, begin + k, end, complete=False), _root(leaves, begin, begin + k)]


def _check_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Steps 1-6 of RFC 9162 §2.1.4.2, for 0 < old_size < new_size and a non-empty proof of hashes."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _hash_children(c, fr)
            sr = _hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64


def _require_hash(value: bytes, what: str) -> None:
    if not _is_hash(value):
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")


def _require_hashes(values: Sequence[bytes]) -> None:
    if set(map(type, values)) <= {bytes} and set(map(len, values)) <= {HASH_SIZE}:  # C loops, not Python ones
        return
    for i, value in enumerate(values):
        if not _is_hash(value):
            raise ValueError(f"hash {i} must be {HASH_SIZE} bytes")
