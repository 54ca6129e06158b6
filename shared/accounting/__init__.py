"""The carbon accounting engine (seed 001 §8, §9, Annex A; seed 002 §5, §6; docs/accounting.md).

Shared by the gateway (live figures) and the server (authoritative figures); the
core is portable (CPython and MicroPython) and computes in exact rationals,
rounding only when a figure is presented."""
