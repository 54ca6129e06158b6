"""Runs the portable tests under MicroPython: every test_* function of every module.

Usage: MICROPYPATH=<repo>:<repo>/tests/portable micropython tests/portable/run_micropython.py
Prints one line per failure and a closing 'N passed, M failed'; exits 1 on failure.
"""

import sys

MODULES = ('test_sm3', 'test_sm2', 'test_umsgpack', 'test_codes', 'test_decimals', 'test_merkle',
           'test_frame', 'test_vectors', 'test_segment', 'test_delivery', 'test_ring', 'test_uplink', 'test_dlt645', 'test_cjt188', 'test_hj212',
           'test_acquisition_core', 'test_accounting', 'test_descriptor')


def main():
    passed = 0
    failed = 0
    for name in MODULES:
        try:
            mod = __import__(name)
        except Exception as e:
            print('FAIL import %s: %s: %s' % (name, type(e).__name__, e))
            failed += 1
            continue
        for attr in sorted(dir(mod)):
            if not attr.startswith('test_'):
                continue
            try:
                getattr(mod, attr)()
                passed += 1
            except Exception as e:
                failed += 1
                print('FAIL %s.%s: %s: %s' % (name, attr, type(e).__name__, e))
                sys.print_exception(e)
    print('micropython: %d passed, %d failed' % (passed, failed))
    sys.exit(1 if failed else 0)


main()
