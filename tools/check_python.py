"""Refuse to build the venv with a Python older than 3.11, with a clear message."""
import sys

if sys.version_info < (3, 11):
    sys.exit("Tanji needs Python 3.11 or newer; this is %s. Run: make PYTHON=python3.11 test" % sys.version.split()[0])
