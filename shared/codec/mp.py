"""MessagePack entry point: the msgpack C extension where present, else umsgpack.

Both paths give the same bytes for the objects Tanji signs (ints, floats, str,
bin, arrays, maps whose keys are written sorted) and raise ValueError for any
malformed input, so callers handle one exception type.
"""

from shared.codec import umsgpack

try:
    import msgpack as _c
except ImportError:
    _c = None

BACKEND = 'c' if _c is not None else 'pure'


def _ext_rejected(code, data):
    raise ValueError('msgpack ext type %d is not allowed' % code)


def _sorted_maps(obj):
    if isinstance(obj, dict):
        out = {}
        for k in sorted(obj.keys()):
            out[k] = _sorted_maps(obj[k])
        return out
    return obj


def packb(obj):
    """Encode obj. Maps are written with sorted keys (maps inside arrays are not re-sorted
    on the C path: Tanji puts maps only at the top of a body)."""
    if _c is None:
        return umsgpack.packb(obj)
    return _c.packb(_sorted_maps(obj), use_bin_type=True)


if _c is not None:
    _list_packer = _c.Packer(use_bin_type=True)


def packb_list(items):
    """Encode a list holding no maps (a record leaf): same bytes as packb, faster."""
    if _c is None:
        return umsgpack.packb(items)
    return _list_packer.pack(items)


def unpackb(data):
    """Decode exactly one object from data; ValueError on anything malformed."""
    if _c is None:
        return umsgpack.unpackb(data)
    try:
        return _c.unpackb(bytes(data), raw=False, strict_map_key=True, use_list=True,
                          ext_hook=_ext_rejected, timestamp=0)
    except ValueError:
        raise
    except Exception as e:  # ExtraData, FormatError, StackError, UnicodeDecodeError, TypeError ...
        raise ValueError('malformed msgpack: %s' % (e.__class__.__name__,))
