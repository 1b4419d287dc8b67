"""The Merkle tree over the ledger, exactly as RFC 9162 (Certificate Transparency v2) section 2.1 defines it.

Pure computation over leaf hashes (32-byte SHA-256 digests). With ``D[n]`` the list of ``n`` leaf
inputs and ``k`` the largest power of two smaller than ``n``:

* the leaf hash is ``SHA-256(0x00 || d)`` and an interior node ``SHA-256(0x01 || left || right)``;
* ``MTH({}) = SHA-256()``, ``MTH({d0}) = SHA-256(0x00 || d0)``, ``MTH(D[n]) = SHA-256(0x01 ||
  MTH(D[0:k]) || MTH(D[k:n]))`` (section 2.1.1);
* inclusion proofs ``PATH(m, D[n])`` (2.1.3.1) and their verification (2.1.3.2);
* consistency proofs ``PROOF(m, D[n])`` / ``SUBPROOF`` (2.1.4.1) and their verification (2.1.4.2).

The RFC's recursive definition splits at the largest power of two below ``n``; the same tree is built
bottom-up by pairing neighbours level by level and carrying an odd last node up unchanged, which is
how :func:`root_hash` computes it in linear time. Both are checked against each other and against the
published Certificate Transparency test vectors in the tests. :class:`MerkleTree` keeps every perfect
subtree of that bottom-up build, so that one pass over the leaves serves the roots of every prefix, the
block roots, the frontier and the proofs (each then a handful of node hashes).

The ledger's leaf input for the event at global position ``i`` (0-based: global sequence number
``i + 1``) is the 32-byte content digest of that event (:func:`circulith.ledger.hashing.content_sha256`),
which covers the event's content and its positions in both chains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""``MTH({})``: the root of the empty tree."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf input."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _reduce(nodes: Sequence[bytes]) -> bytes:
    level = list(nodes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of the leaves whose hashes are given (in order)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _reduce(leaf_hashes)


def subtree_hash(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """``MTH(D[start:end])``."""
    return root_hash(leaf_hashes[start:end])


class MerkleTree:
    """The tree over ``leaf_hashes`` with every perfect subtree aligned to its size hashed once.

    Level ``j`` holds the roots of the complete subtrees of ``2**j`` leaves starting at multiples of
    ``2**j`` (one pass: about as many node hashes as leaves). Any subtree RFC 9162 names (the tree of a
    prefix, its halves, a block, a proof's nodes) starts at a multiple of the power of two it splits at,
    so :meth:`subtree` needs a node hash per level at most.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]):
        level = b"".join(leaf_hashes)
        if len(level) != HASH_BYTES * len(leaf_hashes):
            raise ValueError("every leaf hash must be 32 bytes")
        self.size = len(leaf_hashes)
        self._levels = [level]
        sha = hashlib.sha256
        while len(level) >= 2 * HASH_BYTES:  # node_hash of each pair, sliced from the level in one piece
            level = b"".join([sha(b"\x01" + level[i : i + 2 * HASH_BYTES]).digest()
                              for i in range(0, len(level) - 2 * HASH_BYTES + 1, 2 * HASH_BYTES)])
            self._levels.append(level)

    def _check(self, size: int | None) -> int:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"no tree of {size} leaves in a log of {self.size}")
        return size

    def subtree(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` (``0 <= start < end <= size``)."""
        if not 0 <= start < end <= self.size:
            raise ValueError(f"no subtree [{start}, {end}) in a tree of {self.size} leaves")
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            j = n.bit_length() - 1
            at = (start >> j) * HASH_BYTES
            return self._levels[j][at : at + HASH_BYTES]
        k = _largest_power_of_two_below(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """``MTH`` of the first ``size`` leaves (all of them by default)."""
        size = self._check(size)
        return self.subtree(0, size) if size else EMPTY_ROOT

    def block_roots(self, block: int, size: int | None = None) -> list[bytes]:
        """As :func:`block_roots`, over the first ``size`` leaves."""
        size = self._check(size)
        if block < 1 or block & (block - 1):
            raise ValueError(f"the block size must be a power of two, not {block}")
        return [self.subtree(i, min(i + block, size)) for i in range(0, size, block)]

    def frontier(self, size: int | None = None) -> list[bytes]:
        """As :func:`frontier`, of the first ``size`` leaves."""
        size = self._check(size)
        out, start = [], 0
        for b in range(size.bit_length() - 1, -1, -1):
            if size >> b & 1:
                out.append(self.subtree(start, start + (1 << b)))
                start += 1 << b
        return out

    def inclusion_path(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[size])``, as :func:`inclusion_path`."""
        size = self._check(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf #{index} is not in a tree of {size} leaves")
        return _path(self, index, 0, size)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[second])``, as :func:`consistency_proof`."""
        second = self._check(second)
        if not 0 <= first <= second:
            raise ValueError(f"no consistency proof from {first} to {second} leaves (the log has {self.size})")
        return [] if first in (0, second) else _subproof(self, first, 0, second, True)


def block_roots(leaf_hashes: Sequence[bytes], block: int) -> list[bytes]:
    """``MTH`` of consecutive blocks of ``block`` leaves (a power of two; the last block may be shorter).

    Every block is a node of the tree over all the leaves (the tree splits at powers of two), so the
    tree's root follows from the block roots alone (:func:`root_from_blocks`): a holder of the block
    roots can tell which block of events changed.
    """
    if block < 1 or block & (block - 1):
        raise ValueError(f"the block size must be a power of two, not {block}")
    return [root_hash(leaf_hashes[i : i + block]) for i in range(0, len(leaf_hashes), block)]


def root_from_blocks(roots: Sequence[bytes]) -> bytes:
    """``MTH`` of a tree given the roots of its blocks (:func:`block_roots`), in order."""
    if not roots:
        return EMPTY_ROOT
    return _reduce(roots)


def inclusion_path(leaf_hashes: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """``PATH(index, D[size])``: the audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    size = len(leaf_hashes) if size is None else size
    if not 0 <= index < size <= len(leaf_hashes):
        raise ValueError(f"leaf #{index} is not in a tree of {size} leaves")
    return _path(MerkleTree(leaf_hashes[:size]), index, 0, size)


def _path(tree: MerkleTree, m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*_path(tree, m, lo, lo + k), tree.subtree(lo + k, hi)]
    return [*_path(tree, m - k, lo + k, hi), tree.subtree(lo, lo + k)]


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Whether ``path`` proves that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` with ``root``.

    The algorithm of RFC 9162 section 2.1.3.2.
    """
    if not 0 <= index < size or len(root) != HASH_BYTES or any(len(p) != HASH_BYTES for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int | None = None) -> list[bytes]:
    """``PROOF(first, D[second])``: proves the tree of ``first`` leaves is a prefix of the tree of ``second``.

    Empty when ``first`` is 0 or equals ``second`` (nothing to prove).
    """
    second = len(leaf_hashes) if second is None else second
    if not 0 <= first <= second <= len(leaf_hashes):
        raise ValueError(f"no consistency proof from {first} to {second} leaves (the log has {len(leaf_hashes)})")
    if first in (0, second):
        return []
    return _subproof(MerkleTree(leaf_hashes[:second]), first, 0, second, True)


def _subproof(tree: MerkleTree, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [tree.subtree(lo, hi)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(tree, m, lo, lo + k, whole), tree.subtree(lo + k, hi)]
    return [*_subproof(tree, m - k, lo + k, hi, False), tree.subtree(lo, lo + k)]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree (``second``, ``second_root``) extends (``first``, ``first_root``).

    The algorithm of RFC 9162 section 2.1.4.2; the cases the RFC leaves out are decided as a log
    client must: equal sizes need equal roots and an empty proof, and every tree extends the empty one.
    """
    if not 0 <= first <= second or any(len(h) != HASH_BYTES for h in (first_root, second_root, *proof)):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class CompactRange:
    """The roots of the perfect subtrees that make up a tree of ``size`` leaves (its right frontier).

    Appending leaves merges equal-sized subtrees; :meth:`root` folds them right to left, which is
    ``MTH`` by RFC 9162's split at the largest power of two. A holder of a checkpoint's frontier can
    extend it with the events that came after and obtain the later tree head without the earlier leaves.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()):
        if size < 0 or len(nodes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(max(size, 0)).count('1')} frontier nodes, not {len(nodes)}")
        self.size = size
        self._sizes = [1 << b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        self._nodes = list(nodes)

    @property
    def nodes(self) -> list[bytes]:
        """The frontier, largest subtree first."""
        return list(self._nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self._nodes.append(leaf)
        self._sizes.append(1)
        while len(self._sizes) > 1 and self._sizes[-1] == self._sizes[-2]:
            right, left = self._nodes.pop(), self._nodes.pop()
            self._sizes[-2] *= 2
            self._sizes.pop()
            self._nodes.append(node_hash(left, right))
        self.size += 1

    def root(self) -> bytes:
        """``MTH`` of the leaves so far."""
        if not self._nodes:
            return EMPTY_ROOT
        h = self._nodes[-1]
        for node in reversed(self._nodes[:-1]):
            h = node_hash(node, h)
        return h


def frontier(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The right frontier (:class:`CompactRange` nodes) of the tree over ``leaf_hashes``."""
    out, start = [], 0
    n = len(leaf_hashes)
    for b in range(n.bit_length() - 1, -1, -1):
        if n >> b & 1:
            out.append(root_hash(leaf_hashes[start : start + (1 << b)]))
            start += 1 << b
    return out

