"""Meters read by request and reply on a bus (DL/T 645, CJ/T 188, Modbus RTU/TCP), the
part every protocol shares: a Point (what to read), and a Transaction (one request
and its reply) as a protocol's meter hands it to the bus runner
(firmware/sources/bus.py).  Each protocol's meter class lives in its driver file and
turns the points due into transactions.  Sans-IO and portable.

A Transaction carries the request bytes, a reply collector whose feed(bytes)
returns None until the reply is complete, then a result (or raises MeterError),
or a FollowUp when the device announced more frames; and decode(result) ->
[Reading] (not yet stamped: ts_ms is None; unit is the unit the meter reports),
with a reason in notes[code] where a value came with one (a 4-20 mA loop out
of range, say).
"""

class Point:
    """One data item read from a meter.  item: the protocol's name for it (a DL/T 645 DI,
    a CJ/T 188 field, a Modbus register spec)."""

    def __init__(self, key, code, unit, period_s, item, low=None, high=None, register_digits=None,
                 max_rate_per_s=None, meter_unit=None):
        self.key = key
        self.code = code
        self.unit = unit
        self.period_s = period_s
        self.item = item
        self.low = low
        self.high = high
        self.register_digits = register_digits
        self.max_rate_per_s = max_rate_per_s
        self.meter_unit = meter_unit


class FollowUp:
    """Returned by a reply collector when the device announced more frames: send `request`
    and keep feeding the same collector."""

    def __init__(self, request):
        self.request = request


class Transaction:
    def __init__(self, request, reply, points, decode):
        self.request = request
        self.reply = reply
        self.points = points
        self.decode = decode
        self.notes = {}                 # code -> reason given with its value
