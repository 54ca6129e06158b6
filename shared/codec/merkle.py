"""SM3 hash tree over a frame's records, after RFC 6962 / RFC 9162 §2.1.

leaf hash = SM3(0x00 || leaf bytes), node hash = SM3(0x01 || left || right);
the tree over n leaves splits at the largest power of two below n, which the
level-by-level construction here reproduces by carrying an odd last node up
unchanged.  An inclusion proof is the list of sibling hashes from the leaf up.
"""

from shared.codec.sm3 import sm3

HASH_SIZE = 32


def leaf_hash(leaf_bytes):
    return sm3(b'\x00' + leaf_bytes)


def node_hash(left, right):
    return sm3(b'\x01' + left + right)


def root(hashes):
    """Root over a non-empty list of leaf hashes."""
    if not hashes:
        raise ValueError('a hash tree needs at least one leaf')
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(hashes, index):
    """Sibling hashes proving leaf `index` (bottom first)."""
    if not 0 <= index < len(hashes):
        raise ValueError('leaf index out of range')
    path = []
    level = list(hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
        index //= 2
    return path


def root_from_proof(leaf, index, size, path):
    """The root that `path` proves for leaf hash `leaf` at `index` of `size` leaves,
    or None when the path has the wrong length for that position."""
    if not 0 <= index < size:
        return None
    h = leaf
    used = 0
    while size > 1:
        if index & 1:
            if used >= len(path):
                return None
            h = node_hash(path[used], h)
            used += 1
        elif index + 1 < size:
            if used >= len(path):
                return None
            h = node_hash(h, path[used])
            used += 1
        index //= 2
        size = (size + 1) // 2
    if used != len(path):
        return None
    return h
