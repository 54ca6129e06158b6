"""What a centre's answer to POST /api/v1/frames means for the sender
(docs/protocol.md §7).  Sans-IO: status code and body bytes in, an Outcome out.

    ACKED     200 with {"ack": N}: advance the cursor to N (or past the frame)
    RETRY     no answer, 5xx, or a 200 that is not a valid ack: back off, resend
    BUSY      429: wait Retry-After (or back off), resend
    SPLIT     413: send the same range again in smaller frames
    CLOCK     422 time_range: the readings' times and the centre's clock disagree; one
              of the clocks is wrong, perhaps only for a while: alarm, retry with backoff
    REFUSED   any other 4xx: alarm; do not resend the unchanged frame
"""

import json

ACKED = 'acked'
RETRY = 'retry'
BUSY = 'busy'
SPLIT = 'split'
REFUSED = 'refused'
CLOCK = 'clock'


class Outcome:
    __slots__ = ('kind', 'ack', 'error', 'detail', 'retry_after', 'status')

    def __init__(self, kind, status=None, ack=None, error='', detail='', retry_after=None):
        self.kind = kind
        self.status = status
        self.ack = ack
        self.error = error
        self.detail = detail
        self.retry_after = retry_after

    def __repr__(self):
        return 'Outcome(%s, status=%r, ack=%r, error=%r)' % (self.kind, self.status, self.ack, self.error)


def _json(body):
    try:
        doc = json.loads(body)
    except Exception:
        return None
    return doc if isinstance(doc, dict) else None


def _is_int(v):
    return isinstance(v, int) and v is not True and v is not False


def no_answer(reason):
    """The connection failed or timed out: the frame may or may not be stored."""
    return Outcome(RETRY, error='no_answer', detail=reason)


def classify(status, body, retry_after=None):
    doc = _json(body) if body else None
    if status == 200:
        if doc is not None and _is_int(doc.get('ack')) and doc['ack'] >= -1:
            return Outcome(ACKED, status, ack=doc['ack'])
        return Outcome(RETRY, status, error='bad_ack', detail='200 without a valid {"ack": N}')
    error = doc.get('error') if doc is not None and isinstance(doc.get('error'), str) else 'http_%d' % status
    detail = doc.get('detail') if doc is not None and isinstance(doc.get('detail'), str) else ''
    if status == 429:
        wait = None
        if retry_after is not None:
            try:
                wait = max(0, int(retry_after))
            except (TypeError, ValueError):
                wait = None
        return Outcome(BUSY, status, error=error, detail=detail, retry_after=wait)
    if status == 413:
        return Outcome(SPLIT, status, error=error, detail=detail)
    if status == 422 and error == 'time_range':
        return Outcome(CLOCK, status, error=error, detail=detail)
    if 400 <= status < 500:
        return Outcome(REFUSED, status, error=error, detail=detail)
    return Outcome(RETRY, status, error=error, detail=detail)


def position_url(frames_url):
    """Where a gateway asks a centre how far its sequence numbers go (docs/protocol.md §7)."""
    return frames_url.rstrip('/') + '/position'


def position_message(gateway_id, t_ms):
    """The bytes a gateway signs to ask its position: who and when, so an answer cannot be
    asked for by anyone else, nor a question replayed later."""
    return ('tanji-position\n%s\n%d' % (gateway_id, t_ms)).encode()
