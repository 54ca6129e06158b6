"""One request and its reply on a bus, as every polled protocol hands it to the bus
runner (firmware/sources/bus.py).  Sans-IO and portable.

A Transaction carries the request bytes, a reply collector whose feed(bytes)
returns None until the reply is complete, then a result (or raises MeterError),
or a FollowUp when the device announced more frames; and decode(result) ->
[Reading] (not yet stamped: ts_ms is None; unit is the unit the meter reports),
with a reason in notes[code] where a value came with one (a 4-20 mA loop out
of range, say).
"""


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
