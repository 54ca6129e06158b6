"""Tanji's shared wire codec: DB35/T 2000 data-item codes, SM2/SM3 and the signed frame.

Every module in this package runs on CPython and on MicroPython (see
docs/micropython.md); CPython-only accelerators are optional imports.
"""
