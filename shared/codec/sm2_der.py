"""DER and PEM forms of SM2 keys and signatures (portable).

Public keys: SubjectPublicKeyInfo (91 bytes DER) with algorithm id-ecPublicKey
and the sm2p256v1 curve, as OpenSSL 3 and GmSSL 3 write it; the variant with the
SM2 OID in the algorithm field is accepted on input.  Private keys: PKCS#8 (what
`openssl genpkey` writes) and SEC1 ECPrivateKey.  Signatures: DER
SEQUENCE{INTEGER r, INTEGER s} <-> raw r||s.
"""

import binascii

OID_EC_PUBLIC_KEY = b'\x06\x07\x2a\x86\x48\xce\x3d\x02\x01'
OID_SM2 = b'\x06\x08\x2a\x81\x1c\xcf\x55\x01\x82\x2d'
SPKI_PREFIX = binascii.unhexlify('3059301306072a8648ce3d020106082a811ccf5501822d034200')


class DerError(ValueError):
    pass


def _byte_len(v):
    """Bytes needed for a non-negative integer (MicroPython ints have no bit_length)."""
    return (len('%x' % v) + 1) // 2 if v else 0


def _len_bytes(n):
    if n < 0x80:
        return bytes((n,))
    b = n.to_bytes(_byte_len(n), 'big')
    return bytes((0x80 | len(b),)) + b


def tlv(tag, body):
    return bytes((tag,)) + _len_bytes(len(body)) + body


def der_int(v):
    b = v.to_bytes(max(1, _byte_len(v)), 'big')
    if b[0] & 0x80:
        b = b'\x00' + b
    return tlv(0x02, b)


def read_tlv(buf, pos):
    """(tag, value, next_pos). Strict DER: definite, minimal lengths only."""
    if pos + 2 > len(buf):
        raise DerError('DER truncated')
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > len(buf):
            raise DerError('bad DER length')
        n = int.from_bytes(buf[pos:pos + k], 'big')
        if n < 0x80 or buf[pos] == 0:
            raise DerError('non-minimal DER length')
        pos += k
    if pos + n > len(buf):
        raise DerError('DER truncated')
    return tag, buf[pos:pos + n], pos + n


def read_seq(buf):
    """Children of one SEQUENCE filling buf exactly, as a list of (tag, value)."""
    tag, body, end = read_tlv(buf, 0)
    if tag != 0x30 or end != len(buf):
        raise DerError('expected one DER SEQUENCE')
    items = []
    pos = 0
    while pos < len(body):
        t, v, pos = read_tlv(body, pos)
        items.append((t, v))
    return items


def _read_uint(v):
    if not v or (v[0] & 0x80) or (len(v) > 1 and v[0] == 0 and not v[1] & 0x80):
        raise DerError('bad DER INTEGER')
    return int.from_bytes(v, 'big')


# Signatures

def sig_raw_to_der(raw):
    if len(raw) != 64:
        raise DerError('raw SM2 signature must be 64 bytes')
    return tlv(0x30, der_int(int.from_bytes(raw[:32], 'big')) + der_int(int.from_bytes(raw[32:], 'big')))


def sig_der_to_raw(der):
    items = read_seq(bytes(der))
    if len(items) != 2 or items[0][0] != 0x02 or items[1][0] != 0x02:
        raise DerError('DER signature is not SEQUENCE{r, s}')
    r = _read_uint(items[0][1])
    s = _read_uint(items[1][1])
    if r >> 256 or s >> 256:
        raise DerError('signature component too large')
    return r.to_bytes(32, 'big') + s.to_bytes(32, 'big')


# Public keys

def spki_from_point(point65):
    return SPKI_PREFIX + point65


def point_from_spki(der):
    items = read_seq(bytes(der))
    if len(items) != 2 or items[0][0] != 0x30 or items[1][0] != 0x03:
        raise DerError('not a SubjectPublicKeyInfo')
    alg = items[0][1]
    if alg not in (OID_EC_PUBLIC_KEY + OID_SM2, OID_SM2 + OID_SM2, OID_SM2):
        raise DerError('public key is not on the SM2 curve (sm2p256v1)')
    bits = items[1][1]
    if len(bits) < 2 or bits[0] != 0:
        raise DerError('bad public key BIT STRING')
    return bits[1:]


# Private keys

def sec1_private(d, point65, with_params):
    body = der_int(1) + tlv(0x04, d.to_bytes(32, 'big'))
    if with_params:
        body += tlv(0xA0, OID_SM2)
    body += tlv(0xA1, tlv(0x03, b'\x00' + point65))
    return tlv(0x30, body)


def pkcs8_private(d, point65):
    alg = tlv(0x30, OID_EC_PUBLIC_KEY + OID_SM2)
    return tlv(0x30, der_int(0) + alg + tlv(0x04, sec1_private(d, point65, False)))


def private_from_der(der):
    """(d, point65 or None) from PKCS#8 or SEC1 DER."""
    items = read_seq(bytes(der))
    if len(items) >= 3 and items[0] == (0x02, b'\x00') and items[1][0] == 0x30:
        if items[1][1] not in (OID_EC_PUBLIC_KEY + OID_SM2, OID_SM2 + OID_SM2, OID_SM2):
            raise DerError('private key is not an SM2 key')
        if items[2][0] != 0x04:
            raise DerError('bad PKCS#8 private key')
        return _from_sec1(items[2][1])
    return _from_sec1(der)


def _from_sec1(der):
    items = read_seq(bytes(der))
    if len(items) < 2 or items[0] != (0x02, b'\x01') or items[1][0] != 0x04:
        raise DerError('not an EC private key')
    if len(items[1][1]) > 32:
        raise DerError('private scalar longer than 32 bytes')
    d = int.from_bytes(items[1][1], 'big')
    point = None
    for tag, value in items[2:]:
        if tag == 0xA0 and value != OID_SM2:
            raise DerError('private key is not on the SM2 curve (sm2p256v1)')
        if tag == 0xA1:
            t, bits, _ = read_tlv(value, 0)
            if t != 0x03 or len(bits) < 2 or bits[0] != 0:
                raise DerError('bad public key in private key')
            point = bits[1:]
    return d, point


# PEM

def pem_encode(der, label):
    b64 = binascii.b2a_base64(der).replace(b'\n', b'').decode()
    lines = ['-----BEGIN %s-----' % label]
    for i in range(0, len(b64), 64):
        lines.append(b64[i:i + 64])
    lines.append('-----END %s-----' % label)
    return '\n'.join(lines) + '\n'


def pem_decode(text):
    """(label, der) of the first PEM block in text."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode()
    begin = text.find('-----BEGIN ')
    if begin < 0:
        raise DerError('no PEM block found')
    head_end = text.find('-----', begin + 11)
    if head_end < 0:
        raise DerError('bad PEM header')
    label = text[begin + 11:head_end]
    end_marker = '-----END ' + label + '-----'
    end = text.find(end_marker, head_end)
    if end < 0:
        raise DerError('PEM block for %s is not closed' % label)
    body = ''.join(text[head_end + 5:end].split())
    try:
        der = binascii.a2b_base64(body)
    except Exception:
        raise DerError('bad base64 in PEM block')
    return label, der
