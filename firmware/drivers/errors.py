"""The one error type for meter-level refusals, shared by every protocol driver.  Portable."""


class MeterError(Exception):
    """A reply that carries no usable value; `reason` says why in words, `code` what kind
    of fault: checksum, address, protocol, format, bcd, refused (the meter answered
    clearly that it will not: asking again won't help)."""

    def __init__(self, reason, code=None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
