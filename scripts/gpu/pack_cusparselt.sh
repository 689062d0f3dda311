#!/bin/bash
# pack_cusparselt.sh: put a cuSPARSELt wheel's library, cut down to sm_90 code
# and xz-compressed, into .carry/cusparselt/ so that it fits the device tool's
# 64 MiB carry limit (the whole library is 234 MB; sm_90 only, xz -9e: 61 MiB).
# run_gemm.sh unpacks it on the GPU machine and builds against it.
#   scripts/gpu/pack_cusparselt.sh [VERSION]     default 0.8.1 (the H100 fix)
# Needs pip (to download the wheel), python3 and xz. Takes ~4 min on 2 cores.
set -euo pipefail
ver=${1:-0.8.1}
dst=.carry/cusparselt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps "nvidia-cusparselt-cu13==$ver" -d "$work"
whl=$(ls "$work"/*.whl)
python3 -m zipfile -e "$whl" "$work/x"
so=$(find "$work/x" -name 'libcusparseLt.so*' | head -1)
hdr=$(find "$work/x" -name cusparseLt.h | head -1)
[ -n "$so" ] && [ -n "$hdr" ] || { echo "pack_cusparselt: $whl has no libcusparseLt.so or cusparseLt.h" >&2; exit 1; }
python3 scripts/gpu/slim_cusparselt.py "$so" "$work/libcusparseLt.so.0" --arch 90
xz -T2 -9e -c "$work/libcusparseLt.so.0" > "$work/libcusparseLt.so.0.xz"
rm -rf "$dst.tmp" && mkdir -p "$dst.tmp/include" "$dst.tmp/lib"
cp "$hdr" "$dst.tmp/include/"
mv "$work/libcusparseLt.so.0.xz" "$dst.tmp/lib/"
echo "$(basename "$whl") sm_90 only" > "$dst.tmp/VERSION"
rm -rf "$dst" && mv "$dst.tmp" "$dst"
du -sh "$dst"
