"""Calendar arithmetic without the time module (portable: MicroPython's time functions
differ by port and epoch).  Algorithms from H. Hinnant, "chrono-compatible low-level
date algorithms"."""


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(y, m, d) of days since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def local_fields(ms, utc_offset_s):
    """(Y, M, D, h, m, s) local time of ms since 1970 UTC."""
    t = ms // 1000 + utc_offset_s
    days, rest = divmod(t, 86400)
    y, mo, d = civil_from_days(days)
    return y, mo, d, rest // 3600, rest // 60 % 60, rest % 60


def local_iso(ms, utc_offset_s):
    """Local time text (YYYY-MM-DDThh:mm:ss) of ms since 1970."""
    y, mo, d, h, mi, s = local_fields(ms, utc_offset_s)
    return '%04d-%02d-%02dT%02d:%02d:%02d' % (y, mo, d, h, mi, s)
