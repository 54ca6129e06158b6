from shared.delivery import exchange
from shared.delivery.backoff import Backoff


def test_a_valid_ack_advances():
    o = exchange.classify(200, b'{"ack": 41}')
    assert (o.kind, o.ack) == (exchange.ACKED, 41)
    assert exchange.classify(200, b'{"ack": -1}').ack == -1


def test_a_200_without_a_valid_ack_is_retried_not_trusted():
    for body in (b'', b'not json', b'{"ack": "7"}', b'{"ack": true}', b'{"ack": -2}', b'[1]', b'{}'):
        o = exchange.classify(200, body)
        assert o.kind == exchange.RETRY and o.error == 'bad_ack', body


def test_refusals_by_status():
    o = exchange.classify(401, b'{"error": "bad_signature", "detail": "no"}')
    assert (o.kind, o.error, o.detail) == (exchange.REFUSED, 'bad_signature', 'no')
    assert exchange.classify(413, b'{"error": "too_large", "detail": ""}').kind == exchange.SPLIT
    assert exchange.classify(403, b'<html>').error == 'http_403'
    busy = exchange.classify(429, b'{"error": "busy", "detail": ""}', '7')
    assert (busy.kind, busy.retry_after) == (exchange.BUSY, 7)
    assert exchange.classify(429, b'', 'soon').retry_after is None
    for status in (500, 502, 503):
        assert exchange.classify(status, b'').kind == exchange.RETRY
    assert exchange.no_answer('timeout').kind == exchange.RETRY


def test_backoff_grows_to_the_cap_with_jitter_and_resets():
    b = Backoff(base=1.0, cap=10.0, rand=lambda: 0.999)
    waits = [b.failure() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 10, 10, 10, 10]
    for w, c in zip(waits, ceilings):
        assert c / 2 <= w < c
    low = Backoff(base=1.0, cap=10.0, rand=lambda: 0.0)
    assert [low.failure() for _ in range(3)] == [0.5, 1.0, 2.0]
    b.success()
    assert b.failures == 0 and b.failure() < 1.0


def test_backoff_rejects_nonsense():
    try:
        Backoff(base=0, cap=1)
    except ValueError:
        return
    assert False, 'base 0 accepted'
