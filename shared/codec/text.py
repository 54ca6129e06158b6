"""What the protocol's text may hold: ASCII only.  Python's str.isdigit() and int()
accept superscripts, Arabic-Indic and full-width digits ('08042010100²', '٠٠١'), and
re's \\d matches them too; a code written with them would be stored and then be
invisible to every query by code.  Portable."""


def ascii_digits(text):
    """True when text is one or more ASCII digits 0-9."""
    if not isinstance(text, str) or not text:
        return False
    for ch in text:
        if not '0' <= ch <= '9':
            return False
    return True


def ascii_int(text):
    """The integer written as optional '-' and ASCII digits; ValueError otherwise."""
    digits = text[1:] if isinstance(text, str) and text.startswith('-') else text
    if not ascii_digits(digits):
        raise ValueError('%r is not an integer written with ASCII digits' % (text,))
    return int(text)
