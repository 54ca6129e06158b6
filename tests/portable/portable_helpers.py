"""Shared fixtures of the portable tests (plain functions: no pytest on MicroPython)."""

from shared.codec import frame
from shared.codec import flags

# GM/T 0003.5-2012 example key (docs/reference: gm-crypto.md §3)
KAT_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
KAT_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
KAT_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
KAT_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
KAT_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
KAT_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
KAT_ZA = 'b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3'

# Written by `openssl genpkey -algorithm SM2` (OpenSSL 3.0.19): PKCS#8 and its SubjectPublicKeyInfo
OPENSSL_PRIVATE_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgeifPZGPHP0XWlPb0
tVl4lAJw4SohXkroYC4HknoD9MOhRANCAASo1f5OC71Qtq+PT0dZBO6UYq1xcx5K
xdLbiIhCMac3+ivRd+JE41GdwzSPcuuQBlerth+v2bCBgE1d+h4S6cj5
-----END PRIVATE KEY-----
"""
OPENSSL_PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEqNX+Tgu9ULavj09HWQTulGKtcXMe
SsXS24iIQjGnN/or0XfiRONRncM0j3LrkAZXq7Yfr9mwgYBNXfoeEunI+Q==
-----END PUBLIC KEY-----
"""

ENERGY = '080420101001'   # cement, purchased electricity, electricity, cumulative register, point 001
POWER = '080420114001'    # ... power, point 001
COAL = '080100201002'     # cement, fuel combustion, bituminous coal, cumulative, point 002
UNITS = {ENERGY: 'kWh', POWER: 'kW', COAL: 't'}
T0 = 1763884800000        # 2025-11-23T08:00:00Z in ms


def sample_records(n=12, seq0=100):
    """Minute data: an energy register of 11 significant digits, a power value, a coal
    register, one missing reading."""
    out = []
    seq = seq0
    for i in range(n):
        kind = i % 3
        ts = T0 + (i // 3) * 60000 + kind * 250
        if kind == 0:
            out.append(frame.Record(seq, ENERGY, ts, 123456789012 + i * 1717, -3, 0))
        elif kind == 1:
            if i == 4:
                out.append(frame.Record(seq, POWER, ts, None, 0, flags.FLAG_MISSING))
            else:
                out.append(frame.Record(seq, POWER, ts, 4125 + i, -1, 0))
        else:
            out.append(frame.Record(seq, COAL, ts, 98765432 + i, -2, flags.FLAG_MANUAL if i == 2 else 0))
        seq += 1
    return out


def raises(exc_type, fn, *args):
    """The exception fn(*args) raises, which must be exc_type (pytest.raises stand-in)."""
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError('%s not raised' % exc_type.__name__)
