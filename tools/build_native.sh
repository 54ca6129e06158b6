#!/bin/sh
# Builds Tanji's optional C cores where a C compiler exists (see shared/codec/sm2_native.py).
# Without one, Tanji runs on OpenSSL's SM2 (slower verification), and says so.
set -eu
SRC=shared/codec/native/sm2v.c
OUT=shared/codec/native/libsm2v.so
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "note: no C compiler ($CC): SM2 verification stays on OpenSSL (install gcc for the faster core)" >&2
    exit 0
fi
[ "$OUT" -nt "$SRC" ] && exit 0
# -march=native: the library is built on the machine that runs it
"$CC" -O3 -march=native -pthread -shared -fPIC -o "$OUT.tmp" "$SRC" 2>/dev/null || \
    "$CC" -O3 -pthread -shared -fPIC -o "$OUT.tmp" "$SRC"
mv "$OUT.tmp" "$OUT"
echo "built $OUT"
