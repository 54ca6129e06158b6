"""Quality flags of a reading: 16 bits carried with each record (docs/protocol.md §4).
Reserved bits are zero today; a reader keeps the bits it does not know.  Portable."""

FLAG_MISSING = 0x0001      # no reading: the meter did not answer or the reply was unusable
FLAG_INVALID = 0x0002      # outside the instrument's range or the 2x-monthly rule (seed 001 §8.1)
FLAG_ESTIMATED = 0x0004    # filled by interpolation, not measured (seed 001 §12.4)
FLAG_MANUAL = 0x0008       # entered by a person (seed 001 §6.2)
FLAG_ROLLOVER = 0x0010     # register wrapped since the previous reading (seed 001 §8.2.2)
FLAG_RESET = 0x0020        # meter reset or replaced since the previous reading
FLAG_SUSPECT = 0x0040      # implausible jump, kept for review
FLAG_CLOCK = 0x0080        # gateway clock not synchronised when stamped
FLAG_CALIBRATION = 0x0100  # instrument past its calibration due date
FLAG_OUTAGE = 0x0200       # no reading: the gateway was not running (restart or power cut)
FLAG_NAMES = (
    (FLAG_MISSING, 'missing'), (FLAG_INVALID, 'invalid'), (FLAG_ESTIMATED, 'estimated'),
    (FLAG_MANUAL, 'manual'), (FLAG_ROLLOVER, 'rollover'), (FLAG_RESET, 'reset'),
    (FLAG_SUSPECT, 'suspect'), (FLAG_CLOCK, 'clock'), (FLAG_CALIBRATION, 'calibration'),
    (FLAG_OUTAGE, 'outage'),
)
FLAGS_MAX = 0xFFFF


def flag_names(flags):
    return [name for bit, name in FLAG_NAMES if flags & bit]
