"""Merkle tree hashing against RFC 6962 vectors, a recursive reference, and corrupted proofs.

Known answers come from transparency-dev/merkle: hashes from ``proof/verify_test.go`` (shared with
certificate-transparency-go), proof shapes for larger trees from ``proof/proof_test.go``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_agent.evidence.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    inclusion_proof_after,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# ---- reference implementation: RFC 6962 §2.1 read literally -----------------------------------------------


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = ref_split(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_split(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def compact_of(leaves: Sequence[bytes]) -> CompactRange:
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact


# ---- known answers ---------------------------------------------------------------------------------------

H = bytes.fromhex
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")

RFC6962_ENTRIES = [
    H(""),
    H("00"),
    H("10"),
    H("2021"),
    H("3031"),
    H("40414243"),
    H("5051525354555657"),
    H("606162636465666768696a6b6c6d6e6f"),
]
RFC6962_LEAVES = [leaf_hash(e) for e in RFC6962_ENTRIES]
RFC6962_ROOTS = [
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf index, tree size, proof); verify_test.go counts leaves from 1, these from 0.
RFC6962_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
# (old size, new size, proof)
RFC6962_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# proof_test.go gives proofs as tree nodes; written here as the leaf range [a, b) each proof hash covers
# (a "rehashed" run of nodes is the single range they cover together).
INCLUSION_SHAPES = {
    (1, 0): [],
    (2, 0): [(1, 2)],
    (2, 1): [(0, 1)],
    (3, 1): [(0, 1), (2, 3)],
    (7, 0): [(1, 2), (2, 4), (4, 7)],
    (7, 1): [(0, 1), (2, 4), (4, 7)],
    (7, 2): [(3, 4), (0, 2), (4, 7)],
    (7, 3): [(2, 3), (0, 2), (4, 7)],
    (7, 4): [(5, 6), (6, 7), (0, 4)],
    (7, 5): [(4, 5), (6, 7), (0, 4)],
    (7, 6): [(4, 6), (0, 4)],
    (4, 2): [(3, 4), (0, 2)],
    (5, 3): [(2, 3), (0, 2), (4, 5)],
    (6, 3): [(2, 3), (0, 2), (4, 6)],
    (6, 4): [(5, 6), (0, 4)],
    (15, 10): [(11, 12), (8, 10), (12, 15), (0, 8)],
    (31, 24): [(25, 26), (26, 28), (28, 31), (16, 24), (0, 16)],
    (95, 81): [(80, 81), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)],
}
CONSISTENCY_SHAPES = {
    (1, 2): [(1, 2)],
    (1, 4): [(1, 2), (2, 4)],
    (1, 6): [(1, 2), (2, 4), (4, 6)],
    (2, 3): [(2, 3)],
    (2, 8): [(2, 4), (4, 8)],
    (3, 7): [(2, 3), (3, 4), (0, 2), (4, 7)],
    (4, 7): [(4, 7)],
    (5, 7): [(4, 5), (5, 6), (6, 7), (0, 4)],
    (6, 7): [(4, 6), (6, 7), (0, 4)],
    (7, 8): [(6, 7), (7, 8), (4, 6), (0, 4)],
    (1, 1): [],
    (5, 5): [],
    (8, 8): [],
    (2, 4): [(2, 4)],
    (3, 5): [(2, 3), (3, 4), (0, 2), (4, 5)],
    (3, 6): [(2, 3), (3, 4), (0, 2), (4, 6)],
    (4, 6): [(4, 6)],
    (1, 7): [(1, 2), (2, 4), (4, 7)],
    (10, 15): [(8, 10), (10, 12), (12, 15), (0, 8)],
    (24, 31): [(16, 24), (24, 31), (0, 16)],
    (81, 95): [(80, 81), (81, 82), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)],
}


def test_hash_primitives() -> None:
    assert EMPTY_ROOT == H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert root([]) == EMPTY_ROOT
    assert leaf_hash(b"") == RFC6962_ROOTS[0]
    assert node_hash(RFC6962_LEAVES[0], RFC6962_LEAVES[1]) == RFC6962_ROOTS[1]


@pytest.mark.parametrize("size", range(1, 9))
def test_known_roots(size: int) -> None:
    want = RFC6962_ROOTS[size - 1]
    assert root(RFC6962_LEAVES[:size]) == want
    assert ref_mth(RFC6962_LEAVES[:size]) == want
    assert compact_of(RFC6962_LEAVES[:size]).root() == want


@pytest.mark.parametrize(("index", "size", "proof"), RFC6962_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(RFC6962_LEAVES[:size], index) == proof
    assert verify_inclusion(RFC6962_LEAVES[index], index, size, proof, RFC6962_ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), RFC6962_CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(RFC6962_LEAVES[:new], old) == proof
    assert verify_consistency(old, new, RFC6962_ROOTS[old - 1], RFC6962_ROOTS[new - 1], proof)


@pytest.mark.parametrize(("size", "index"), INCLUSION_SHAPES)
def test_inclusion_proof_shapes(size: int, index: int) -> None:
    leaves = leaves_of(size)
    want = [ref_mth(leaves[a:b]) for a, b in INCLUSION_SHAPES[size, index]]
    assert inclusion_proof(leaves, index) == want


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 3000), data=st.data())
def test_an_inclusion_proof_from_the_frontier_before_a_leaf_is_the_same_proof(size: int, data: st.DataObject) -> None:
    """What a purge's proof uses: the compact range before its entry and the entries from it on."""
    index = data.draw(st.integers(0, size - 1))
    leaves = leaves_of(size)
    before = CompactRange()
    before.extend(leaves[:index])
    proof = inclusion_proof_after(before, leaves[index:])
    assert proof == inclusion_proof(leaves, index)
    assert verify_inclusion(leaves[index], index, size, proof, root(leaves))


def test_an_inclusion_proof_from_the_frontier_needs_the_leaf() -> None:
    with pytest.raises(ValueError, match="the leaf itself"):
        inclusion_proof_after(CompactRange(), [])


@pytest.mark.parametrize(("old", "new"), CONSISTENCY_SHAPES)
def test_consistency_proof_shapes(old: int, new: int) -> None:
    leaves = leaves_of(new)
    want = [ref_mth(leaves[a:b]) for a, b in CONSISTENCY_SHAPES[old, new]]
    assert consistency_proof(leaves, old) == want


# ---- agreement with the recursive definition -------------------------------------------------------------


def test_root_and_compact_range_match_reference_for_every_size_up_to_130() -> None:
    leaves = leaves_of(130)
    compact = CompactRange()
    assert compact.root() == EMPTY_ROOT
    for n in range(1, 131):
        compact.append(leaves[n - 1])
        want = ref_mth(leaves[:n])
        assert root(leaves[:n]) == want, n
        assert compact.root() == want, n
        assert compact.size == n
        assert len(compact.to_hashes()) == n.bit_count()


def test_proofs_match_reference_and_verify_for_every_size_up_to_70() -> None:
    leaves = leaves_of(70)
    for n in range(1, 71):
        tree, tree_root = leaves[:n], ref_mth(leaves[:n])
        for i in range(n):
            proof = inclusion_proof(tree, i)
            assert proof == ref_path(i, tree), (i, n)
            assert verify_inclusion(tree[i], i, n, proof, tree_root), (i, n)
        for m in range(1, n):
            proof = consistency_proof(tree, m)
            assert proof == ref_subproof(m, tree, True), (m, n)
            assert verify_consistency(m, n, ref_mth(tree[:m]), tree_root, proof), (m, n)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=3000), st.data())
def test_properties_on_larger_trees(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    tree_root = ref_mth(leaves)
    assert root(leaves) == tree_root
    assert compact_of(leaves).root() == tree_root
    if n == 0:
        return
    i = data.draw(st.integers(0, n - 1), label="index")
    assert inclusion_proof(leaves, i) == ref_path(i, leaves)
    assert verify_inclusion(leaves[i], i, n, inclusion_proof(leaves, i), tree_root)
    m = data.draw(st.integers(0, n), label="old size")
    proof = consistency_proof(leaves, m)
    assert verify_consistency(m, n, ref_mth(leaves[:m]), tree_root, proof)


def test_odd_node_promotion_equals_rfc_split_on_a_large_tree() -> None:
    leaves = leaves_of(5000 + 77)
    assert root(leaves) == ref_mth(leaves) == compact_of(leaves).root()


# ---- CompactRange persistence ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=50))
def test_compact_range_restores_and_continues(n: int, more: int) -> None:
    leaves = leaves_of(n + more)
    saved = compact_of(leaves[:n])
    restored = CompactRange.from_hashes(saved.size, saved.to_hashes())
    assert restored == saved
    assert restored.root() == saved.root()
    for leaf in leaves[n:]:
        restored.append(leaf)
    assert restored.root() == ref_mth(leaves)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=700), max_size=5))  # blocks of 256 and loose leaves
def test_extending_in_parts_equals_appending_one_by_one(parts: list[int]) -> None:
    leaves = leaves_of(sum(parts))
    compact, start = CompactRange(), 0
    for part in parts:
        compact.extend(leaves[start:start + part])
        start += part
        assert compact == compact_of(leaves[:start])
    assert compact.root() == ref_mth(leaves)


def test_extend_refuses_a_bad_hash_and_names_it() -> None:
    compact = CompactRange()
    with pytest.raises(ValueError, match="hash 2 must be 32 bytes"):
        compact.extend([SOME_HASH, SOME_HASH, b"short", SOME_HASH])
    with pytest.raises(ValueError, match="hash 0 must be 32 bytes"):
        compact.extend(["0" * 32])  # type: ignore[list-item]
    assert compact.size == 0


def test_leaf_hashes_of_many_entries_equal_leaf_hash_of_each() -> None:
    entries = [b"", b"\x00", b"entry", bytes(range(256))]
    assert leaf_hashes(entries) == [leaf_hash(entry) for entry in entries]
    assert leaf_hashes(iter(entries)) == [leaf_hash(entry) for entry in entries]


def test_compact_range_to_hashes_is_a_copy() -> None:
    compact = compact_of(leaves_of(3))
    compact.to_hashes().clear()
    assert compact.root() == ref_mth(leaves_of(3))


@pytest.mark.parametrize(
    ("size", "hashes"),
    [
        (3, [SOME_HASH]),
        (0, [SOME_HASH]),
        (2, [SOME_HASH, SOME_HASH]),
        (1, [b"short"]),
        (-1, []),
        (1 << 64, []),
    ],
)
def test_compact_range_rejects_bad_state(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(ValueError):
        CompactRange.from_hashes(size, hashes)


# ---- bad arguments to builders -----------------------------------------------------------------------------


def test_builders_reject_wrong_sizes() -> None:
    leaves = leaves_of(4)
    with pytest.raises(ValueError):
        root([*leaves, b"\x00" * 31])
    with pytest.raises(ValueError):
        node_hash(b"\x00" * 33, SOME_HASH)
    with pytest.raises(ValueError):
        CompactRange().append(b"")
    for index in (-1, 4):
        with pytest.raises(ValueError):
            inclusion_proof(leaves, index)
    with pytest.raises(ValueError):
        inclusion_proof([], 0)
    for old in (-1, 5):
        with pytest.raises(ValueError):
            consistency_proof(leaves, old)
    assert consistency_proof(leaves, 0) == []
    assert consistency_proof(leaves, 4) == []


# ---- corrupted proofs (after transparency-dev/merkle proof/verify_test.go) --------------------------------


class InclusionProbe(NamedTuple):
    leaf_index: int
    size: int
    root: bytes
    leaf: bytes
    proof: list[bytes]
    desc: str

    def accepted(self) -> bool:
        return verify_inclusion(self.leaf, self.leaf_index, self.size, self.proof, self.root)


class ConsistencyProbe(NamedTuple):
    old: int
    new: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]
    desc: str

    def accepted(self) -> bool:
        return verify_consistency(self.old, self.new, self.old_root, self.new_root, self.proof)


def corrupt_inclusion(good: InclusionProbe) -> list[InclusionProbe]:
    # No "size ± 1": sizes whose audit paths have the same shape (leaf 0 in trees of 7 and 8 leaves) accept
    # the same proof; the verifier cannot tell, and need not, since size and root come signed together.
    index, size, proof = good.leaf_index, good.size, good.proof
    probes = [
        good._replace(leaf_index=index - 1, desc="index - 1"),
        good._replace(leaf_index=index + 1, desc="index + 1"),
        good._replace(leaf_index=index ^ 2, desc="index ^ 2"),
        good._replace(size=size * 2, desc="size * 2"),
        good._replace(size=size // 2, desc="size / 2"),
        good._replace(leaf=b"WrongLeaf", desc="wrong leaf"),
        good._replace(leaf=SOME_HASH, desc="other leaf"),
        good._replace(root=EMPTY_ROOT, desc="empty root"),
        good._replace(root=SOME_HASH, desc="random root"),
        good._replace(proof=[*proof, b""], desc="trailing garbage"),
        good._replace(proof=[*proof, good.root], desc="trailing root"),
        good._replace(proof=[b"", *proof], desc="preceding garbage"),
        good._replace(proof=[good.root, *proof], desc="preceding root"),
    ]
    for i in range(len(proof)):
        probes += [good._replace(proof=p, desc=f"flipped bit in proof[{i}]") for p in bit_flips(proof, i)]
        probes.append(good._replace(proof=proof[:i] + proof[i + 1 :], desc=f"removed proof[{i}]"))
        probes.append(good._replace(proof=[*proof[:i], SOME_HASH, *proof[i:]], desc=f"inserted at {i}"))
    return probes


def corrupt_consistency(good: ConsistencyProbe) -> list[ConsistencyProbe]:
    # No "new ± 1", for the same reason as in corrupt_inclusion.
    old, new, proof = good.old, good.new, good.proof
    probes = [
        good._replace(old=old - 1, desc="old - 1"),
        good._replace(old=old + 1, desc="old + 1"),
        good._replace(old=old ^ 2, desc="old ^ 2"),
        good._replace(new=new * 2, desc="new * 2"),
        good._replace(new=new // 2, desc="new / 2"),
        good._replace(old_root=b"WrongRoot", desc="wrong old root"),
        good._replace(new_root=b"WrongRoot", desc="wrong new root"),
        good._replace(old_root=SOME_HASH, desc="other old root"),
        good._replace(new_root=SOME_HASH, desc="other new root"),
        good._replace(old_root=good.new_root, new_root=good.old_root, desc="swapped roots"),
        good._replace(proof=[], desc="empty proof"),
        good._replace(proof=[*proof, b""], desc="trailing garbage"),
        good._replace(proof=[*proof, good.old_root], desc="trailing old root"),
        good._replace(proof=[*proof, good.new_root], desc="trailing new root"),
        good._replace(proof=[b"", *proof], desc="preceding garbage"),
        good._replace(proof=[good.old_root, *proof], desc="preceding old root"),
        good._replace(proof=[good.new_root, *proof], desc="preceding new root"),
        good._replace(proof=[proof[0], *proof], desc="preceding proof[0]"),
    ]
    for i in range(len(proof)):
        probes += [good._replace(proof=p, desc=f"flipped bit in proof[{i}]") for p in bit_flips(proof, i)]
        probes.append(good._replace(proof=proof[:i] + proof[i + 1 :], desc=f"removed proof[{i}]"))
        probes.append(good._replace(proof=[*proof[:i], SOME_HASH, *proof[i:]], desc=f"inserted at {i}"))
    return probes


def bit_flips(proof: list[bytes], i: int) -> list[list[bytes]]:
    """Copies of ``proof`` with one bit of element ``i`` flipped: every bit of the first and last byte."""
    flipped = []
    for pos in (0, len(proof[i]) - 1):
        for bit in range(8):
            element = bytearray(proof[i])
            element[pos] ^= 1 << bit
            flipped.append([*proof[:i], bytes(element), *proof[i + 1 :]])
    return flipped


def assert_all_rejected(probes: Sequence[InclusionProbe | ConsistencyProbe], good: object) -> None:
    accepted = [p.desc for p in probes if p.accepted()]
    assert accepted == [], good


def test_corrupted_known_inclusion_proofs_fail() -> None:
    for index, size, proof in RFC6962_INCLUSION:
        good = InclusionProbe(index, size, RFC6962_ROOTS[size - 1], RFC6962_LEAVES[index], proof, "good")
        assert good.accepted()
        assert_all_rejected(corrupt_inclusion(good), good)


def test_corrupted_known_consistency_proofs_fail() -> None:
    for old, new, proof in RFC6962_CONSISTENCY:
        if not proof:
            continue
        good = ConsistencyProbe(old, new, RFC6962_ROOTS[old - 1], RFC6962_ROOTS[new - 1], proof, "good")
        assert good.accepted()
        assert_all_rejected(corrupt_consistency(good), good)


def test_corrupted_proofs_fail_for_every_size_up_to_40() -> None:
    leaves = leaves_of(40)
    roots = [ref_mth(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        for i in range(n):
            good = InclusionProbe(i, n, roots[n], leaves[i], ref_path(i, leaves[:n]), "good")
            assert good.accepted()
            assert_all_rejected(corrupt_inclusion(good), good)
        for m in range(1, n):
            proof = ref_subproof(m, leaves[:n], True)
            good_c = ConsistencyProbe(m, n, roots[m], roots[n], proof, "good")
            assert good_c.accepted()
            assert_all_rejected(corrupt_consistency(good_c), good_c)


# ---- edge cases of the verifiers (transparency-dev TestVerifyInclusion / TestVerifyConsistency) ----------


def test_single_leaf_inclusion() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    assert not verify_inclusion(b"", 0, 1, [], b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_probes_without_a_tree(index: int, size: int) -> None:
    assert not verify_inclusion(SOME_HASH, index, size, [], b"")
    assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT)
    assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


ROOT_1 = hashlib.sha256(b"don't care 1").digest()
ROOT_2 = hashlib.sha256(b"don't care 2").digest()


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "valid"),
    [
        (0, 0, ROOT_1, ROOT_2, [], False),
        (1, 1, ROOT_1, ROOT_2, [], False),
        (0, 0, ROOT_1, ROOT_1, [], True),
        (0, 1, ROOT_1, ROOT_2, [], True),
        (1, 1, ROOT_2, ROOT_2, [], True),
        (1, 0, ROOT_1, ROOT_2, [], False),
        (2, 1, ROOT_1, ROOT_2, [], False),
        (1, 2, ROOT_1, ROOT_2, [], False),
        (0, 0, EMPTY_ROOT, ROOT_2, [], False),
        (1, 1, EMPTY_ROOT, ROOT_2, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_consistency_edge_cases(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], valid: bool
) -> None:
    assert verify_consistency(old, new, old_root, new_root, proof) is valid


@pytest.mark.parametrize(
    "proof",
    [
        [b"\x00" * 31],
        [b"\x00" * 33],
        ["not bytes"],
        [None],
        [SOME_HASH] * 10_000,
    ],
)
def test_verifiers_never_raise_on_malformed_proofs(proof: list[bytes]) -> None:
    leaves = leaves_of(8)
    assert not verify_inclusion(leaves[0], 0, 8, proof, root(leaves))
    assert not verify_consistency(3, 8, root(leaves[:3]), root(leaves), proof)


@pytest.mark.parametrize(("index", "size"), [(-1, 8), (0, -8), (True, 8), (0, 1 << 64), (0.0, 8)])
def test_verifiers_never_raise_on_malformed_sizes(index: int, size: int) -> None:
    leaves = leaves_of(8)
    proof = inclusion_proof(leaves, 0)
    assert not verify_inclusion(leaves[0], index, size, proof, root(leaves))
    assert not verify_consistency(index, size, leaves[0], root(leaves), proof)


def test_proof_lengths_are_logarithmic() -> None:
    leaves = leaves_of(1025)
    assert len(inclusion_proof(leaves, 0)) == 11
    assert len(consistency_proof(leaves, 1)) == 11


def test_a_proof_does_not_pin_the_tree_size_on_its_own() -> None:
    # Documents a property of RFC 9162 verification, not a bug: leaf 0's path has the same shape in trees
    # of 7 and 8 leaves, so the size-8 proof passes for "size 7" against the size-8 root. Size and root
    # must come from one signed checkpoint, never from separate sources.
    index, size, proof = RFC6962_INCLUSION[1]
    assert (index, size) == (0, 8)
    assert verify_inclusion(RFC6962_LEAVES[0], 0, 7, proof, RFC6962_ROOTS[7])
    assert not verify_inclusion(RFC6962_LEAVES[0], 0, 7, proof, RFC6962_ROOTS[6])
