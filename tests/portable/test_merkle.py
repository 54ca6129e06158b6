from shared.codec import merkle
from shared.codec.sm3 import sm3


def _rfc6962_root(leaves):
    # MTH of RFC 6962 §2.1 written recursively, independent of merkle.root
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sm3(b'\x01' + _rfc6962_root(leaves[:k]) + _rfc6962_root(leaves[k:]))


def _leaves(n):
    return [merkle.leaf_hash(bytes((i & 0xFF, i >> 8))) for i in range(n)]


def test_root_matches_rfc6962_definition():
    for n in range(1, 34):
        leaves = _leaves(n)
        assert merkle.root(leaves) == _rfc6962_root(leaves), n


def test_leaf_and_node_hashes_are_domain_separated():
    a = merkle.leaf_hash(b'x')
    assert a == sm3(b'\x00x')
    assert merkle.node_hash(a, a) == sm3(b'\x01' + a + a)


def test_every_leaf_proves_and_proofs_are_short():
    for n in (1, 2, 3, 5, 8, 13, 17):
        leaves = _leaves(n)
        root = merkle.root(leaves)
        for i in range(n):
            path = merkle.inclusion_proof(leaves, i)
            assert len(path) <= 5
            assert merkle.root_from_proof(leaves[i], i, n, path) == root


def test_wrong_proofs_fail():
    leaves = _leaves(11)
    root = merkle.root(leaves)
    path = merkle.inclusion_proof(leaves, 6)
    assert merkle.root_from_proof(leaves[7], 6, 11, path) != root
    assert merkle.root_from_proof(leaves[6], 7, 11, path) != root
    path9 = merkle.inclusion_proof(leaves, 9)
    assert merkle.root_from_proof(leaves[9], 9, 16, path9) != root
    assert merkle.root_from_proof(leaves[9], 9, 10, path9) != root
    assert merkle.root_from_proof(leaves[6], 6, 11, path[:-1]) is None
    assert merkle.root_from_proof(leaves[6], 6, 11, path + [leaves[0]]) is None
    assert merkle.root_from_proof(leaves[6], 11, 11, path) is None
    tampered = list(path)
    tampered[1] = leaves[0]
    assert merkle.root_from_proof(leaves[6], 6, 11, tampered) != root
