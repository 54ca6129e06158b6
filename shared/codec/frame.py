"""The signed frame a gateway sends to a data centre (docs/protocol.md).

Envelope (fixed, so anyone can verify without our code): a msgpack array
    [version, body, signature]
version = 1; body = msgpack bin holding the msgpack-encoded body map;
signature = 64-byte bin, SM2 r||s over exactly the body bytes (SM3, user ID
1234567812345678; seed 001 §7.4).

Body map (keys written sorted):
    "codes": [[code, exponent, unit], ...]   data-item codes used, once each (seed 001 §7.2)
    "cv":    code-table version the codes come from
    "gw":    gateway id
    "recs":  [[code index, time step, value] or [..., flags] or [..., flags, skip], ...]
             in sequence order; a record's time = previous record's time (t0 for the
             first) + step * tu; its sequence number = previous one (s0 - 1 for the
             first) + skip (1 unless given)
    "root":  32-byte SM3 hash-tree root over the records' leaves
    "s0":    first sequence number the frame covers; the frame covers s0 .. the last
             record's sequence number, and numbers in that range without a record
             are declared lost by the gateway (its full-store policy, docs/protocol.md §4)
    "t0":    time base, Unix seconds UTC
    "tu":    time unit of the offsets, milliseconds
    "lost":  optional: [[first, last, cause], ...] why declared-lost numbers were lost
             (LOSS_CAUSES), sorted, disjoint, each range within the declared-lost numbers
A record's value is an integer mantissa scaled by its code's exponent, a
float64, or nil (then flags say why).  Each record's leaf is the canonical
msgpack of [gw, seq, code, time_ms, value, exponent, flags].
"""

from shared.codec import codes as _codes
from shared.codec import decimals, merkle, mp
from shared.codec.flags import FLAGS_MAX
from shared.codec.sm3 import sm3

VERSION = 1
SIGNATURE_SIZE = 64


INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
T0_MIN = 946684800        # 2000-01-01T00:00:00Z
T0_MAX = 4102444800       # 2100-01-01T00:00:00Z
STEP_MAX = (1 << 32) - 1
SKIP_MAX = (1 << 32) - 1
TIME_UNITS = (60000, 1000, 100, 10, 1)
BODY_KEYS = ('codes', 'cv', 'gw', 'recs', 'root', 's0', 't0', 'tu')
OPTIONAL_KEYS = ('lost',)
# why a gateway no longer holds readings it declares lost (docs/protocol.md §3)
LOSS_CAUSES = ('dropped', 'thinned', 'corrupt', 'unframeable', 'disk_full', 'wiped')
GATEWAY_ID_MAX = 64
UNIT_MAX = 32
DEFAULT_MAX_RECORDS = 100000


class FrameError(ValueError):
    """A frame that must be refused. `code` is the error code of the upload exchange."""

    def __init__(self, code, detail):
        super().__init__('%s: %s' % (code, detail))
        self.code = code
        self.detail = detail


class Record:
    """One reading: value is an int mantissa (x 10**exp), a float, or None."""

    __slots__ = ('seq', 'code', 'ts_ms', 'value', 'exp', 'flags')

    def __init__(self, seq, code, ts_ms, value, exp=0, flags=0):
        self.seq = seq
        self.code = code
        self.ts_ms = ts_ms
        self.value = value
        self.exp = exp
        self.flags = flags

    def value_text(self):
        """The value as exact text ('' when missing)."""
        if self.value is None:
            return ''
        if isinstance(self.value, float):
            return repr(self.value)
        return decimals.format(self.value, self.exp)

    def as_tuple(self):
        return (self.seq, self.code, self.ts_ms, self.value, self.exp, self.flags)

    def __eq__(self, other):
        return isinstance(other, Record) and self.as_tuple() == other.as_tuple()

    def __repr__(self):
        return 'Record(%r, %r, %r, %r, %r, %r)' % self.as_tuple()


def leaf_bytes(gateway_id, rec):
    """Canonical bytes of one record, the input of its hash-tree leaf."""
    if isinstance(rec.value, int) and rec.value is not True and rec.value is not False:
        exp = rec.exp
    else:
        exp = 0
    return mp.packb_list([gateway_id, rec.seq, rec.code, rec.ts_ms, rec.value, exp, rec.flags])


def leaf_hashes(gateway_id, records):
    return [merkle.leaf_hash(leaf_bytes(gateway_id, r)) for r in records]


def _is_int(v):
    return isinstance(v, int) and v is not True and v is not False


def record_problem(value, exp, flags, ts_ms):
    """Why a record cannot go into a frame (value, exponent, flags, time), or None.
    The one record check of build_body, decode and the gateway's outbox."""
    tv = type(value)
    if value is None:
        if not flags:
            return 'a missing value must carry a quality flag'
    elif tv is int:
        if not INT64_MIN <= value <= INT64_MAX:
            return 'value mantissa outside the 64-bit range'
    elif tv is float:
        if value != value or value in _INFINITIES:
            return 'value is NaN or infinite'
    else:
        return 'value must be an integer, a float or nil'
    if type(flags) is not int or not 0 <= flags <= FLAGS_MAX:
        return 'quality flags must be an integer 0..65535'
    if tv is int and (type(exp) is not int or not -decimals.MAX_EXP <= exp <= decimals.MAX_EXP):
        return 'exponent outside [-12, 12]'
    if type(ts_ms) is not int or not _MS_MIN <= ts_ms < _MS_MAX:
        return 'time must be integer milliseconds between 2000 and 2100'
    return None


def check_code(tables, code, unit):
    """Raise FrameError unless code is a digits-only code of the tables and unit fits it.
    Remembered per (tables, code, unit): frames repeat the same few codes."""
    key = (tables.version, code, unit)
    if key in _CHECKED_CODES:
        return
    try:
        canonical = tables.validate(code)
        if canonical != code:
            raise FrameError('codes', 'code %r must be given as digits only (%s)' % (code, canonical))
        if unit is None:
            raise FrameError('codes', 'no unit given for code %s' % code)
        tables.check_unit(code, unit)
    except _codes.CodeError as e:
        raise FrameError('codes', str(e))
    if len(_CHECKED_CODES) >= 4096:
        _CHECKED_CODES.clear()
    _CHECKED_CODES[key] = True


_INFINITIES = (float('inf'), float('-inf'))
_CHECKED_CODES = {}  # (table version, code, unit) combinations already found valid
_MS_MIN, _MS_MAX = T0_MIN * 1000, T0_MAX * 1000


def _check_item(item, seq, ncodes):
    """Raise the precise FrameError for a malformed record item."""
    where = 'record seq %d' % seq
    _require(isinstance(item, list) and len(item) in (3, 4, 5), 'records', '%s: a record is [code index, time step, value(, flags(, skip))]' % where)
    ci, step, value = item[0], item[1], item[2]
    flags = item[3] if len(item) >= 4 else 0
    _require(_is_int(ci) and 0 <= ci < ncodes, 'records', '%s: code index out of range' % where)
    _require(_is_int(step) and -STEP_MAX <= step <= STEP_MAX, 'records', '%s: time step must be an integer in (-2^32, 2^32)' % where)
    problem = record_problem(value, 0, flags, _MS_MIN)
    _require(problem is None, 'records', '%s: %s' % (where, problem))


def check_gateway_id(gw):
    if not isinstance(gw, str) or not 1 <= len(gw) <= GATEWAY_ID_MAX:
        raise FrameError('body', 'gateway id must be a string of 1 to %d characters' % GATEWAY_ID_MAX)
    for ch in gw:
        if ord(ch) > 127 or not (ch.isalpha() or ch.isdigit() or ch in '-_.:'):
            raise FrameError('body', 'gateway id %r may hold only ASCII letters, digits and - _ . :' % gw)


def gaps(first_seq, seqs):
    """[(first, last), ...] of the numbers from first_seq to the last of seqs that seqs skip."""
    out = []
    prev = first_seq - 1
    for q in seqs:
        if q - prev > 1:
            out.append((prev + 1, q - 1))
        prev = q
    return out


def _check_lost(lost, gaps):
    """lost must be sorted, disjoint [first, last, cause] entries, each within one gap."""
    _require(isinstance(lost, list) and lost, 'body', 'lost must be a non-empty array of [first, last, cause]')
    g = 0
    prev_last = -1
    for entry in lost:
        _require(isinstance(entry, list) and len(entry) == 3, 'body', 'each lost entry is [first, last, cause]')
        first, last, cause = entry
        _require(_is_int(first) and _is_int(last) and prev_last < first <= last, 'body',
                 'lost entries must be sorted, disjoint ranges first <= last (at %r)' % (entry,))
        _require(cause in LOSS_CAUSES, 'body', 'lost cause must be one of %s, not %r' % (', '.join(LOSS_CAUSES), cause))
        while g < len(gaps) and gaps[g][1] < first:
            g += 1
        _require(g < len(gaps) and gaps[g][0] <= first and last <= gaps[g][1], 'body',
                 'lost range %d..%d is not within the declared-lost numbers' % (first, last))
        prev_last = last


def build_body(gateway_id, records, units, tables_version=_codes.DEFAULT_VERSION, first_seq=None, lost=None):
    """(body bytes, records as stored) for records in increasing sequence order.

    units maps every code used to its unit; units are checked against the code
    tables, so a consumption in the wrong unit never leaves the gateway.
    Sequence numbers missing between first_seq (default: the first record's)
    and the last record are declared lost: the gateway no longer has them;
    lost gives their causes as (first, last, cause) ranges.
    """
    check_gateway_id(gateway_id)
    if not records:
        raise FrameError('records', 'a frame carries at least one record')
    try:
        tables = _codes.tables(tables_version)
    except _codes.CodeError as e:
        raise FrameError('codes', str(e))
    s0 = records[0].seq if first_seq is None else first_seq
    if not _is_int(s0) or not 0 <= s0 or not _is_int(records[-1].seq) or records[-1].seq > INT64_MAX:
        raise FrameError('body', 'sequence numbers must be integers in [0, 2^63)')
    code_index = {}
    code_list = []
    exps = {}
    t_min = None
    prev_seq = s0 - 1
    for r in records:
        where = 'record seq %r' % (r.seq,)
        if not _is_int(r.seq) or not 1 <= r.seq - prev_seq <= SKIP_MAX:
            raise FrameError('body', 'records must have increasing sequence numbers at most %d apart (%s after %d)'
                             % (SKIP_MAX, r.seq, prev_seq))
        prev_seq = r.seq
        problem = record_problem(r.value, r.exp, r.flags, r.ts_ms)
        if problem is not None:
            raise FrameError('records', '%s: %s' % (where, problem))
        if r.code not in code_index:
            check_code(tables, r.code, units.get(r.code) if units else None)
            code_index[r.code] = len(code_list)
            code_list.append(r.code)
        if _is_int(r.value):
            e = exps.get(r.code)
            if e is None or r.exp < e:
                exps[r.code] = r.exp
        if t_min is None or r.ts_ms < t_min:
            t_min = r.ts_ms
    t0 = t_min // 1000
    base_ms = t0 * 1000
    tu = 1
    for unit_ms in TIME_UNITS:
        ok = True
        for r in records:
            if (r.ts_ms - base_ms) % unit_ms:
                ok = False
                break
        if ok:
            tu = unit_ms
            break
    stored = []
    recs = []
    prev_ms = base_ms
    prev_seq = s0 - 1
    for r in records:
        value, exp = r.value, 0
        if _is_int(value):
            exp = exps[r.code]
            value = decimals.rescale(value, r.exp, exp)
            if not INT64_MIN <= value <= INT64_MAX:
                raise FrameError('records', 'record seq %d: value does not fit 64 bits at exponent %d' % (r.seq, exp))
        step = (r.ts_ms - prev_ms) // tu
        prev_ms = r.ts_ms
        if not -STEP_MAX <= step <= STEP_MAX:
            raise FrameError('records', 'consecutive records of one frame must lie within %d time units' % STEP_MAX)
        item = [code_index[r.code], step, value]
        if r.flags or r.seq - prev_seq != 1:
            item.append(r.flags)
        if r.seq - prev_seq != 1:
            item.append(r.seq - prev_seq)
        prev_seq = r.seq
        recs.append(item)
        stored.append(Record(r.seq, r.code, r.ts_ms, value, exp, r.flags))
    code_rows = [[c, exps.get(c, 0), units[c]] for c in code_list]
    body = {
        'codes': code_rows, 'cv': tables_version, 'gw': gateway_id, 'recs': recs,
        'root': merkle.root(leaf_hashes(gateway_id, stored)), 's0': s0, 't0': t0, 'tu': tu,
    }
    if lost:
        lost = [[a, b, c] for a, b, c in lost]
        _check_lost(lost, gaps(s0, [r.seq for r in records]))
        body['lost'] = lost
    return mp.packb(body), stored


def encode(gateway_id, records, units, sign, tables_version=_codes.DEFAULT_VERSION, first_seq=None, lost=None):
    """A complete frame. sign(body) must return the 64-byte SM2 r||s signature."""
    body, _ = build_body(gateway_id, records, units, tables_version, first_seq, lost)
    sig = sign(body)
    if len(sig) != SIGNATURE_SIZE:
        raise FrameError('signature', 'signer returned %d bytes, not 64' % len(sig))
    return mp.packb([VERSION, body, sig])


class Frame:
    """A decoded, structurally checked frame. Its signature is checked by verify()."""

    def __init__(self, body, signature, doc, records, leaves):
        self.version = VERSION
        self.body = body
        self.signature = signature
        self.gateway_id = doc['gw']
        self.seq_first = doc['s0']
        self.seq_last = records[-1].seq
        self.t0 = doc['t0']
        self.tu = doc['tu']
        self.tables_version = doc['cv']
        self.codes = [tuple(c) for c in doc['codes']]
        self.root = doc['root']
        self.records = records
        self.leaves = leaves
        self.lost = [tuple(e) for e in doc.get('lost', ())]

    def declared_lost(self):
        """Sequence numbers in seq_first..seq_last that the gateway declares lost."""
        return self.seq_last - self.seq_first + 1 - len(self.records)

    def lost_ranges(self):
        """[(first, last), ...] of the sequence numbers declared lost."""
        return gaps(self.seq_first, [r.seq for r in self.records])

    def loss_causes(self):
        """[(first, last, cause), ...] covering every declared-lost number; 'unknown'
        where the gateway gave no cause."""
        out = []
        given = self.lost
        i = 0
        for first, last in self.lost_ranges():
            at = first
            while i < len(given) and given[i][0] <= last:
                a, b, cause = given[i]
                if a > at:
                    out.append((at, a - 1, 'unknown'))
                out.append((a, b, cause))
                at = b + 1
                i += 1
            if at <= last:
                out.append((at, last, 'unknown'))
        return out

    def fingerprint(self):
        """SM3 of the body: the frame's fingerprint for the registry (seed 001 §7.4)."""
        return sm3(self.body)

    def unit_of(self, code):
        for c, _, unit in self.codes:
            if c == code:
                return unit
        return None

    def verify(self, public_key):
        return public_key.verify(self.body, self.signature)

    def proof(self, index):
        return merkle.inclusion_proof(self.leaves, index)


def _require(cond, code, detail):
    if not cond:
        raise FrameError(code, detail)


def decode(data, max_bytes=None, max_records=DEFAULT_MAX_RECORDS):
    """Decode and check a frame; FrameError says what is wrong. Does not verify the signature."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FrameError('malformed', 'a frame is bytes')
    data = bytes(data)
    if max_bytes is not None and len(data) > max_bytes:
        raise FrameError('too_large', 'frame of %d bytes exceeds the limit of %d' % (len(data), max_bytes))
    try:
        env = mp.unpackb(data)
    except ValueError as e:
        raise FrameError('malformed', 'envelope is not one msgpack object (%s)' % (e,))
    _require(isinstance(env, list) and len(env) == 3, 'malformed', 'envelope must be a msgpack array [version, body, signature]')
    version, body, sig = env
    _require(_is_int(version), 'malformed', 'envelope version must be an integer')
    _require(version == VERSION, 'version', 'frame version %d is not supported (this side speaks %d)' % (version, VERSION))
    _require(isinstance(body, bytes), 'malformed', 'envelope body must be msgpack bin')
    _require(isinstance(sig, bytes) and len(sig) == SIGNATURE_SIZE, 'malformed', 'signature must be a 64-byte bin (SM2 r||s)')
    try:
        doc = mp.unpackb(body)
    except ValueError as e:
        raise FrameError('malformed', 'body is not one msgpack object (%s)' % (e,))
    _require(isinstance(doc, dict), 'body', 'body must be a msgpack map')
    _require(all(isinstance(k, str) for k in doc), 'body', 'body keys must be strings')
    keys = sorted(k for k in doc.keys() if k not in OPTIONAL_KEYS)
    _require(keys == list(BODY_KEYS), 'body', 'body keys must be exactly %s (and optionally %s), found %s'
             % (', '.join(BODY_KEYS), ', '.join(OPTIONAL_KEYS), ', '.join(str(k) for k in sorted(doc.keys()))))
    check_gateway_id(doc['gw'])
    s0, t0, tu = doc['s0'], doc['t0'], doc['tu']
    _require(_is_int(s0) and 0 <= s0 <= INT64_MAX, 'body', 's0 must be an integer in [0, 2^63)')
    _require(_is_int(t0) and T0_MIN <= t0 < T0_MAX, 'body', 't0 must be Unix seconds between 2000 and 2100')
    _require(_is_int(tu) and tu in TIME_UNITS, 'body', 'tu must be one of %s milliseconds' % (list(TIME_UNITS),))
    _require(isinstance(doc['root'], bytes) and len(doc['root']) == merkle.HASH_SIZE, 'body', 'root must be a 32-byte bin')
    _require(isinstance(doc['cv'], str), 'body', 'cv must be a code-table version string')
    code_rows = doc['codes']
    _require(isinstance(code_rows, list) and code_rows, 'codes', 'codes must be a non-empty array')
    try:
        tables = _codes.tables(doc['cv'])
    except _codes.CodeError as e:
        raise FrameError('codes', str(e))
    seen = {}
    for row in code_rows:
        _require(isinstance(row, list) and len(row) == 3, 'codes', 'each code entry is [code, exponent, unit]')
        code, exp, unit = row
        _require(isinstance(code, str) and code not in seen, 'codes', 'code %r is not a string or appears twice' % (code,))
        _require(_is_int(exp) and -decimals.MAX_EXP <= exp <= decimals.MAX_EXP, 'codes', 'exponent of %s must be an integer in [-12, 12]' % code)
        _require(isinstance(unit, str) and 0 < len(unit) <= UNIT_MAX, 'codes', 'unit of %s must be a non-empty string' % code)
        check_code(tables, code, unit)
        seen[code] = True
    recs = doc['recs']
    _require(isinstance(recs, list) and recs, 'records', 'recs must be a non-empty array')
    _require(len(recs) <= max_records, 'too_large', 'frame has %d records, the limit is %d' % (len(recs), max_records))
    _require(s0 + len(recs) - 1 <= INT64_MAX, 'body', 'sequence range exceeds 2^63')
    gw = doc['gw']
    prev_ms = t0 * 1000
    ncodes = len(code_rows)
    records = []
    append = records.append
    seq = s0
    for item in recs:
        # Fast path for well-formed records; anything unusual goes through _check_item,
        # which raises with the precise reason.  type() is int excludes bool.
        if type(item) is not list or len(item) not in (3, 4, 5):
            _check_item(item, seq, ncodes)
        ci, step, value = item[0], item[1], item[2]
        flags = item[3] if len(item) >= 4 else 0
        if len(item) == 5:
            skip = item[4]
            if type(skip) is not int or not 2 <= skip <= SKIP_MAX:
                raise FrameError('records', 'record after seq %d: skip must be an integer 2..%d' % (seq - 1, SKIP_MAX))
            seq += skip - 1
            if seq > INT64_MAX:
                raise FrameError('body', 'sequence range exceeds 2^63')
        if type(ci) is not int or not 0 <= ci < ncodes or type(step) is not int or not -STEP_MAX <= step <= STEP_MAX:
            _check_item(item, seq, ncodes)
        prev_ms += step * tu
        row = code_rows[ci]
        problem = record_problem(value, row[1], flags, prev_ms)
        if problem is not None:
            raise FrameError('records', 'record seq %d: %s' % (seq, problem))
        append(Record(seq, row[0], prev_ms, value, row[1] if type(value) is int else 0, flags))
        seq += 1
    if 'lost' in doc:
        _check_lost(doc['lost'], gaps(s0, [r.seq for r in records]))
    leaves = leaf_hashes(gw, records)
    _require(merkle.root(leaves) == doc['root'], 'root_mismatch', 'the hash-tree root does not match the records')
    return Frame(body, sig, doc, records, leaves)


def verify_record_proof(gateway_id, record, index, size, path, root):
    """True when `path` proves `record` is leaf `index` of `size` under `root`."""
    leaf = merkle.leaf_hash(leaf_bytes(gateway_id, record))
    return merkle.root_from_proof(leaf, index, size, path) == root
