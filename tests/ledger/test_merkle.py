"""The ledger's Merkle tree against RFC 9162 / RFC 6962 published test vectors and an independent implementation.

The vectors are Certificate Transparency's reference data (transparency-dev/merkle,
``testonly/constants.go``, also used by the C++ and Go CT logs): eight leaf inputs, the tree head
for every size 0..8, two inclusion and two consistency proofs.
"""

from __future__ import annotations

import hashlib

import pytest

from circulith.ledger import merkle

CT_ENTRIES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CT_CONSISTENCY = [
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CT_LEAVES = [merkle.leaf_hash(e) for e in CT_ENTRIES]


# An independent, literal transcription of RFC 9162 section 2.1's recursive definitions.
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: list[bytes]) -> bytes:
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _k(len(entries))
    return hashlib.sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:])).digest()


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    if len(entries) == 1:
        return []
    k = _k(len(entries))
    if m < k:
        return ref_path(m, entries[:k]) + [ref_mth(entries[k:])]
    return ref_path(m - k, entries[k:]) + [ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, entries[:k], b) + [ref_mth(entries[k:])]
    return ref_subproof(m - k, entries[k:], False) + [ref_mth(entries[:k])]


def test_tree_heads_match_the_published_vectors():
    assert CT_ROOTS[0] == merkle.EMPTY_ROOT
    for n in range(9):
        assert merkle.root_hash(CT_LEAVES[:n]) == CT_ROOTS[n], n


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(index, size, path):
    expected = [bytes.fromhex(h) for h in path]
    assert merkle.inclusion_path(CT_LEAVES, index, size) == expected
    assert merkle.verify_inclusion(CT_LEAVES[index], index, size, expected, CT_ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(first, second, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert merkle.consistency_proof(CT_LEAVES, first, second) == expected
    assert merkle.verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], expected)


ENTRIES = [f"event-{i}".encode() for i in range(70)]
LEAVES = [merkle.leaf_hash(e) for e in ENTRIES]


def test_roots_and_proofs_agree_with_the_literal_definitions_for_every_size():
    for n in range(70):
        root = merkle.root_hash(LEAVES[:n])
        assert root == ref_mth(ENTRIES[:n])
        for m in range(n):
            path = merkle.inclusion_path(LEAVES, m, n)
            assert path == ref_path(m, ENTRIES[:n])
            assert merkle.verify_inclusion(LEAVES[m], m, n, path, root)
        for m in range(1, n):
            proof = merkle.consistency_proof(LEAVES, m, n)
            assert proof == ref_subproof(m, ENTRIES[:n], True)
            assert merkle.verify_consistency(m, n, merkle.root_hash(LEAVES[:m]), root, proof)


def test_mangled_proofs_and_wrong_roots_are_refused():
    n = 37
    root = merkle.root_hash(LEAVES[:n])
    for m in range(n):
        path = merkle.inclusion_path(LEAVES, m, n)
        assert not merkle.verify_inclusion(LEAVES[m], m, n, path[:-1], root)
        assert not merkle.verify_inclusion(LEAVES[m], m, n, [*path, b"\xab" * 32], root)
        assert not merkle.verify_inclusion(LEAVES[(m + 1) % n], m, n, path, root)
        flipped = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert not merkle.verify_inclusion(LEAVES[m], m, n, flipped, root)
    assert not merkle.verify_inclusion(LEAVES[0], n, n, [], root)
    for m in range(1, n):
        first_root = merkle.root_hash(LEAVES[:m])
        proof = merkle.consistency_proof(LEAVES, m, n)
        assert not merkle.verify_consistency(m, n, first_root, root, proof[:-1])
        assert not merkle.verify_consistency(m, n, first_root, root, [*proof, b"\xcd" * 32])
        assert not merkle.verify_consistency(m, n, merkle.root_hash(LEAVES[1 : m + 1]), root, proof)
        assert not merkle.verify_consistency(m, n, first_root, merkle.root_hash(LEAVES[1 : n + 1]), proof)
    assert merkle.verify_consistency(5, 5, merkle.root_hash(LEAVES[:5]), merkle.root_hash(LEAVES[:5]), [])
    assert not merkle.verify_consistency(5, 5, merkle.root_hash(LEAVES[:5]), merkle.root_hash(LEAVES[:6]), [])
    assert merkle.verify_consistency(0, 8, merkle.EMPTY_ROOT, root, [])


@pytest.mark.parametrize("block", [1, 2, 4, 8, 16])
def test_block_roots_rebuild_the_root_and_locate_a_change(block):
    for n in (1, 5, 13, 16, 37, 64, 69):
        roots = merkle.block_roots(LEAVES[:n], block)
        assert merkle.root_from_blocks(roots) == merkle.root_hash(LEAVES[:n])
        changed = list(LEAVES[:n])
        changed[n // 2] = merkle.leaf_hash(b"forged")
        differ = [i for i, (a, b) in enumerate(zip(roots, merkle.block_roots(changed, block), strict=True)) if a != b]
        assert differ == [(n // 2) // block]


def test_compact_range_extends_a_frontier_to_every_later_tree_head():
    for m in range(40):
        cr = merkle.CompactRange(m, merkle.frontier(LEAVES[:m]))
        assert cr.root() == merkle.root_hash(LEAVES[:m])
        for n in range(m, 70):
            if n > m:
                cr.append(LEAVES[n - 1])
            assert cr.root() == merkle.root_hash(LEAVES[:n]), (m, n)
    with pytest.raises(ValueError):
        merkle.CompactRange(5, [LEAVES[0]])


def test_one_tree_over_the_whole_log_serves_every_prefix_alike():
    """:class:`merkle.MerkleTree` built once over 70 leaves gives, for every prefix, the root of the literal
    definition, the same block roots and frontier as the prefix alone, and the RFC's proofs."""
    tree = merkle.MerkleTree(LEAVES)
    assert tree.root(0) == merkle.EMPTY_ROOT
    for n in range(1, 71):
        assert tree.root(n) == ref_mth(ENTRIES[:n])
        assert tree.frontier(n) == merkle.frontier(LEAVES[:n])
        for block in (1, 4, 16):
            assert tree.block_roots(block, n) == merkle.block_roots(LEAVES[:n], block)
        for m in range(n):
            assert tree.inclusion_path(m, n) == ref_path(m, ENTRIES[:n])
            assert tree.consistency_proof(m, n) == (ref_subproof(m, ENTRIES[:n], True) if m else [])
    with pytest.raises(ValueError):
        tree.root(71)
    with pytest.raises(ValueError):
        tree.inclusion_path(5, 5)
    with pytest.raises(ValueError):
        merkle.MerkleTree([b"short"])
