"""Fast SM2 backend: the system OpenSSL 3 libcrypto through ctypes (CPython only).

Keys are handed to OpenSSL as DER (SubjectPublicKeyInfo, PKCS#8) so OpenSSL's own
decoders check them; signatures cross the boundary as DER and are converted
to and from the strict 64-byte r||s form.  The distinguishing ID is always set
explicitly (OpenSSL 3 defaults to an empty one, which would not interoperate).
Only the two expensive calls (EVP_DigestSign, EVP_DigestVerify) release the
GIL, so verification still scales with threads; the short set-up calls keep
it, since handing the GIL over six times per signature stalls an event loop
behind any busy thread (the convoy effect).
"""

import ctypes
import ctypes.util

from shared.codec import sm2_der

_c_p = ctypes.c_void_p


class Unavailable(Exception):
    pass


def _load():
    names = []
    found = ctypes.util.find_library('crypto')
    if found:
        names.append(found)
    names += ['libcrypto.so.3', 'libcrypto.so']
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            lib.OpenSSL_version_num.restype = ctypes.c_ulong
            if lib.OpenSSL_version_num() < 0x30000000:
                continue
            lib.EVP_sm3.restype = _c_p
            if not lib.EVP_sm3():
                continue
        except AttributeError:
            continue
        return lib
    raise Unavailable('no OpenSSL 3 libcrypto with SM3/SM2 found')


_lib = _load()
_lib_gil = ctypes.PyDLL(_lib._name)


def _sig(name, restype, argtypes, release_gil=False):
    fn = getattr(_lib if release_gil else _lib_gil, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_d2i_PUBKEY = _sig('d2i_PUBKEY', _c_p, [_c_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long])
_d2i_AutoPrivateKey = _sig('d2i_AutoPrivateKey', _c_p, [_c_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long])
_EVP_PKEY_free = _sig('EVP_PKEY_free', None, [_c_p])
_EVP_PKEY_is_a = _sig('EVP_PKEY_is_a', ctypes.c_int, [_c_p, ctypes.c_char_p])
_EVP_MD_CTX_new = _sig('EVP_MD_CTX_new', _c_p, [])
_EVP_MD_CTX_free = _sig('EVP_MD_CTX_free', None, [_c_p])
_EVP_PKEY_CTX_new = _sig('EVP_PKEY_CTX_new', _c_p, [_c_p, _c_p])
_EVP_PKEY_CTX_free = _sig('EVP_PKEY_CTX_free', None, [_c_p])
_EVP_PKEY_CTX_set1_id = _sig('EVP_PKEY_CTX_set1_id', ctypes.c_int, [_c_p, ctypes.c_char_p, ctypes.c_int])
_EVP_MD_CTX_set_pkey_ctx = _sig('EVP_MD_CTX_set_pkey_ctx', None, [_c_p, _c_p])
_EVP_sm3 = _sig('EVP_sm3', _c_p, [])
_EVP_DigestSignInit = _sig('EVP_DigestSignInit', ctypes.c_int, [_c_p, _c_p, _c_p, _c_p, _c_p])
_EVP_DigestSign = _sig('EVP_DigestSign', ctypes.c_int,
                       [_c_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p, ctypes.c_size_t],
                       release_gil=True)
_EVP_DigestVerifyInit = _sig('EVP_DigestVerifyInit', ctypes.c_int, [_c_p, _c_p, _c_p, _c_p, _c_p])
_EVP_DigestVerify = _sig('EVP_DigestVerify', ctypes.c_int,
                         [_c_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t],
                         release_gil=True)
_ERR_clear_error = _sig('ERR_clear_error', None, [])
_OpenSSL_version = _sig('OpenSSL_version', ctypes.c_char_p, [ctypes.c_int])

VERSION = _OpenSSL_version(0).decode()
_SM3 = _EVP_sm3()


class _Key:
    """An EVP_PKEY owned by this object; freed when it is collected."""

    def __init__(self, der, private):
        buf = ctypes.c_char_p(der)
        pp = ctypes.pointer(buf)
        loader = _d2i_AutoPrivateKey if private else _d2i_PUBKEY
        self._pkey = loader(None, pp, len(der))
        if not self._pkey:
            _ERR_clear_error()
            raise ValueError('OpenSSL rejected the %s key' % ('private' if private else 'public'))
        if _EVP_PKEY_is_a(self._pkey, b'SM2') != 1:
            raise ValueError('OpenSSL did not load the key as an SM2 key')

    def __del__(self):
        pkey = getattr(self, '_pkey', None)
        if pkey and _EVP_PKEY_free is not None:  # module globals may be gone at interpreter exit
            _EVP_PKEY_free(pkey)
            self._pkey = None


def load_public(point65):
    return _Key(sm2_der.spki_from_point(point65), private=False)


def load_private(d, point65):
    return _Key(sm2_der.pkcs8_private(d, point65), private=True)


def _md_ctx(key, uid, verifying):
    mctx = _EVP_MD_CTX_new()
    pctx = _EVP_PKEY_CTX_new(key._pkey, None)
    if not mctx or not pctx:
        raise MemoryError('OpenSSL could not allocate a context')
    ok = _EVP_PKEY_CTX_set1_id(pctx, uid, len(uid)) == 1
    if ok:
        _EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
        init = _EVP_DigestVerifyInit if verifying else _EVP_DigestSignInit
        ok = init(mctx, None, _SM3, None, key._pkey) == 1
    if not ok:
        _EVP_MD_CTX_free(mctx)
        _EVP_PKEY_CTX_free(pctx)
        _ERR_clear_error()
        raise ValueError('OpenSSL could not set up SM2 with SM3')
    return mctx, pctx


def sign(key, msg, uid):
    mctx, pctx = _md_ctx(key, uid, verifying=False)
    try:
        out = ctypes.create_string_buffer(80)
        n = ctypes.c_size_t(80)
        if _EVP_DigestSign(mctx, out, ctypes.byref(n), msg, len(msg)) != 1:
            _ERR_clear_error()
            raise ValueError('OpenSSL SM2 signing failed')
        return sm2_der.sig_der_to_raw(out.raw[:n.value])
    finally:
        _EVP_MD_CTX_free(mctx)
        _EVP_PKEY_CTX_free(pctx)


def verify(key, msg, raw_sig, uid):
    der = sm2_der.sig_raw_to_der(raw_sig)
    mctx, pctx = _md_ctx(key, uid, verifying=True)
    try:
        ok = _EVP_DigestVerify(mctx, der, len(der), msg, len(msg)) == 1
        if not ok:
            _ERR_clear_error()
        return ok
    finally:
        _EVP_MD_CTX_free(mctx)
        _EVP_PKEY_CTX_free(pctx)
