#!/bin/sh
# Finds the system programs the tests need and installs the missing ones through
# apt when running as root; otherwise says what to install.  Each entry is
# "command:debian-package".
set -eu
# socat: pty pairs for serial peers; mosquitto: the MQTT broker of the driver tests;
# chromium: Debian's browser, driven by Playwright in the page tests (never a downloaded one)
NEEDED="openssl:openssl socat:socat chromium:chromium"

missing_pkgs=""
for entry in $NEEDED; do
    cmd=${entry%%:*}
    pkg=${entry#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing_pkgs="$missing_pkgs $pkg"
done

# Debian splits venv/ensurepip out of python3.
PY=${PYTHON:-python3}
if command -v "$PY" >/dev/null 2>&1 && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    missing_pkgs="$missing_pkgs python${ver}-venv"
fi
# The server tests start their own PostgreSQL from the local server binaries.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing_pkgs="$missing_pkgs postgresql"
fi
# mosquitto lives in /usr/sbin, often not on a user's PATH
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    missing_pkgs="$missing_pkgs mosquitto"
fi
# The power-cut tests mount a FUSE filesystem (tests/lazyfs.py) through libfuse3.
if ! ls /usr/lib/*/libfuse3.so.3 /usr/lib/libfuse3.so.3 /lib/*/libfuse3.so.3 >/dev/null 2>&1; then
    missing_pkgs="$missing_pkgs fuse3"
fi
# The page tests' screenshots show Chinese: a CJK font for chromium.
if ! (command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .); then
    missing_pkgs="$missing_pkgs fonts-noto-cjk"
fi
# The SM2 fast path loads the system OpenSSL 3 libcrypto.
if ! ls /usr/lib/*/libcrypto.so.3 /usr/lib/libcrypto.so.3 /lib/*/libcrypto.so.3 >/dev/null 2>&1; then
    missing_pkgs="$missing_pkgs libssl3"
fi

[ -z "$missing_pkgs" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages:$missing_pkgs"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing_pkgs
else
    echo "Tanji's tests need these Debian packages:$missing_pkgs" >&2
    echo "Install them (sudo apt-get install$missing_pkgs) and run make again." >&2
    exit 1
fi
