"""The cheap first look at an upload (issue 14): the envelope and the gateway id only,
with msgpack's C skipping over everything else, so the server can look up the key and
check the signature over the body bytes before it decodes a single record or builds
a hash tree.  An unauthenticated request costs milliseconds, never the second a
100,000-record decode takes; the full decode (shared/codec/frame.py) follows only for
a frame whose signature verifies."""

from __future__ import annotations

import msgpack

from shared.codec.frame import SIGNATURE_SIZE, VERSION, FrameError, check_gateway_id


def peek(raw: bytes, max_bytes: int) -> tuple[str, bytes, bytes]:
    """(gateway id, body bytes, signature) of a frame; FrameError with the codes decode uses."""
    if len(raw) > max_bytes:
        raise FrameError('too_large', 'frame of %d bytes exceeds the limit of %d' % (len(raw), max_bytes))
    try:
        env = msgpack.unpackb(raw, raw=True, strict_map_key=False)
    except Exception as e:       # msgpack raises ValueError, TypeError (a map key that is a map) and its own
        raise FrameError('malformed', 'envelope is not one msgpack object (%s)' % (e,))
    if not isinstance(env, list) or len(env) != 3:
        raise FrameError('malformed', 'envelope must be a msgpack array [version, body, signature]')
    version, body, sig = env
    if type(version) is not int:
        raise FrameError('malformed', 'envelope version must be an integer')
    if version != VERSION:
        raise FrameError('version', 'frame version %d is not supported (this side speaks %d)' % (version, VERSION))
    if not isinstance(body, bytes):
        raise FrameError('malformed', 'envelope body must be msgpack bin')
    if not isinstance(sig, bytes) or len(sig) != SIGNATURE_SIZE:
        raise FrameError('malformed', 'signature must be a 64-byte bin (SM2 r||s)')
    return _gateway_of(body), body, sig


PREFIX_BYTES = 4096      # how much of a body the centre reads to learn who sends it


def gateway_in_prefix(prefix: bytes, sealed: bool) -> str | None:
    """The gateway id an upload names, from the first bytes of its body alone, or None when
    they do not tell (too short, or not shaped as a frame: the full checks will say why).
    Lets the centre refuse an unknown, revoked or over-budget gateway before it reads the
    rest of a large body."""
    try:
        unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=len(prefix) + 1)
        unpacker.feed(prefix)
        if unpacker.read_array_header() != (4 if sealed else 3):
            return None
        if sealed:
            header = msgpack.unpackb(unpacker.unpack(), raw=False, strict_map_key=False)
            gateway = header[1] if isinstance(header, list) and len(header) == 3 else None
        else:
            if type(unpacker.unpack()) is not int:
                return None
            gateway = _first_gw(prefix[unpacker.tell():])
        check_gateway_id(gateway)
        return gateway
    except Exception:           # out of data, another shape, a bad id: the full look decides
        return None


def _first_gw(data: bytes) -> str | None:
    """The first "gw" of the body map whose bin header starts `data`."""
    tag = data[0]
    size = {0xc4: 1, 0xc5: 2, 0xc6: 4}.get(tag)
    if size is None:
        return None
    body = data[1 + size:]
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(body) + 1)
    unpacker.feed(body)
    for _ in range(unpacker.read_map_header()):
        if unpacker.unpack() == 'gw':
            return unpacker.unpack()
        unpacker.skip()
    return None


def _gateway_of(body: bytes) -> str:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(body) + 1)
    unpacker.feed(body)
    try:
        entries = unpacker.read_map_header()
        for _ in range(entries):
            key = unpacker.unpack()
            if key == 'gw':
                gateway = unpacker.unpack()
                check_gateway_id(gateway)
                return gateway
            unpacker.skip()
    except FrameError:
        raise
    except (msgpack.UnpackValueError, msgpack.OutOfData) as e:       # truncated or not msgpack
        raise FrameError('malformed', 'body is not one msgpack object (%s)' % (type(e).__name__,))
    except Exception as e:                       # a map header on something else, a key of an odd type
        raise FrameError('body', 'body must be a msgpack map with a gateway id "gw" (%s)' % (type(e).__name__,))
    raise FrameError('body', 'body has no gateway id "gw"')
