"""Portable pure-Python SM2 signatures (GB/T 32918.2-2016) on sm2p256v1.

The fallback backend: used on MicroPython and where no OpenSSL 3 with SM2 is
found.  Not constant-time (see docs/crypto.md); the gateway prefers OpenSSL.
Nonces come from os.urandom, never from the `random` module.
"""

import os

from shared.codec import sm3 as _sm3

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

DEFAULT_ID = b'1234567812345678'


def _inv(x, m):
    """Modular inverse by the extended Euclidean algorithm (no 3-argument pow needed)."""
    a, b = x % m, m
    u, v = 1, 0
    while b:
        q = a // b
        a, b = b, a - q * b
        u, v = v, u - q * v
    if a != 1:
        raise ValueError('not invertible')
    return u % m


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


# Points in Jacobian coordinates (X, Y, Z); Z == 0 is the point at infinity.
_INF = (1, 1, 0)


def _double(pt):
    x, y, z = pt
    if z == 0 or y == 0:
        return _INF
    # a = -3: M = 3 (X - Z^2)(X + Z^2)
    zz = z * z % P
    m = 3 * (x - zz) * (x + zz) % P
    yy = y * y % P
    s = 4 * x * yy % P
    x3 = (m * m - 2 * s) % P
    y3 = (m * (s - x3) - 8 * yy * yy) % P
    z3 = 2 * y * z % P
    return (x3, y3, z3)


def _add(p1, p2):
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    if u1 == u2:
        if s1 != s2:
            return _INF
        return _double(p1)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = h * z1 * z2 % P
    return (x3, y3, z3)


def _affine(pt):
    x, y, z = pt
    if z == 0:
        raise ValueError('point at infinity')
    zi = _inv(z, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def _window_table(pt, w):
    table = [_INF, pt]
    for _ in range((1 << w) - 2):
        table.append(_add(table[-1], pt))
    return table


def _mul(k, pt):
    """k * pt with a 4-bit fixed window (variable base)."""
    table = _window_table(pt, 4)
    acc = _INF
    for i in range(63, -1, -1):
        acc = _double(_double(_double(_double(acc))))
        d = (k >> (4 * i)) & 15
        if d:
            acc = _add(acc, table[d])
    return acc


_G_TABLE = None


def _g_table():
    # Fixed-base table: for each of the 64 nibbles i, the multiples d * 16^i * G.
    global _G_TABLE
    if _G_TABLE is None:
        rows = []
        base = (GX, GY, 1)
        for _ in range(64):
            row = _window_table(base, 4)
            rows.append(row)
            base = _add(row[15], base)
        _G_TABLE = rows
    return _G_TABLE


def _mul_g(k):
    rows = _g_table()
    acc = _INF
    for i in range(64):
        d = (k >> (4 * i)) & 15
        if d:
            acc = _add(acc, rows[i][d])
    return acc


def public_point(d):
    return _affine(_mul_g(d))


def za(x, y, uid=DEFAULT_ID):
    entl = (len(uid) * 8).to_bytes(2, 'big')
    data = (entl + uid + A.to_bytes(32, 'big') + B.to_bytes(32, 'big') + GX.to_bytes(32, 'big')
            + GY.to_bytes(32, 'big') + x.to_bytes(32, 'big') + y.to_bytes(32, 'big'))
    return _sm3.sm3(data)


def _e(x, y, msg, uid):
    return int.from_bytes(_sm3.sm3(za(x, y, uid) + bytes(msg)), 'big')


def random_scalar():
    """Uniform integer in [1, N - 2] from the OS random source (rejection sampling)."""
    while True:
        k = int.from_bytes(os.urandom(32), 'big')
        if 1 <= k <= N - 2:
            return k


def sign(d, x, y, msg, uid=DEFAULT_ID, k=None):
    """Raw r||s (64 bytes). k is for known-answer tests only; normally drawn per signature."""
    e = _e(x, y, msg, uid)
    dinv = _inv(1 + d, N)
    while True:
        kk = k if k is not None else random_scalar()
        x1, _ = _affine(_mul_g(kk))
        r = (e + x1) % N
        if r == 0 or r + kk == N:
            if k is not None:
                raise ValueError('unusable k')
            continue
        s = dinv * (kk - r * d) % N
        if s == 0:
            if k is not None:
                raise ValueError('unusable k')
            continue
        return r.to_bytes(32, 'big') + s.to_bytes(32, 'big')


def verify(x, y, msg, sig, uid=DEFAULT_ID):
    if len(sig) != 64:
        return False
    r = int.from_bytes(sig[:32], 'big')
    s = int.from_bytes(sig[32:], 'big')
    if not (1 <= r < N and 1 <= s < N):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    e = _e(x, y, msg, uid)
    pt = _add(_mul_g(s), _mul(t, (x, y, 1)))
    if pt[2] == 0:
        return False
    x1, _ = _affine(pt)
    return (e + x1) % N == r
