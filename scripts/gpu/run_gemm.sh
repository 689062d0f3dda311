#!/bin/bash
# run_gemm.sh: one device call for the GPU GEMM engine: build, GPU tests,
# `sparse24 bench gemm` and PyTorch's side-by-side numbers on the same shapes.
# Run from the repository root on the GPU machine, with .debs carried (cJSON).
#   scripts/gpu/run_gemm.sh "BENCH ARGS"   e.g. "--sizes 1024,4096 --dtype fp16 --search"
# Everything lands in $OUT (8 files at most come back): build.log,
# test-gpu.log, bench.log, torch.log and $OUT/bench/{gemm.csv,gemm.json,
# gemm_variants.csv,torch.csv}. TEST=0 skips the GPU tests, TORCH=0 PyTorch.
# cuSPARSELt: the one packed into .carry/cusparselt by pack_cusparselt.sh when
# that is carried (LT=image ignores it), else the image's Python wheel.
# GIT_COMMIT=<id> stamps the build (the device copy has no .git).
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT/bench" /tmp/cj
for f in .debs/*.deb; do dpkg -x "$f" /tmp/cj; done
export CPATH=/tmp/cj/usr/include LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
t0=$(date +%s)
if [ -z "$CUSPARSELT_DIR" ] && [ "${LT:-carried}" != image ] && [ -f .carry/cusparselt/lib/libcusparseLt.so.0.xz ]; then
  mkdir -p /tmp/ltc/lib
  cp -r .carry/cusparselt/include .carry/cusparselt/VERSION /tmp/ltc/
  xz -dc .carry/cusparselt/lib/libcusparseLt.so.0.xz > /tmp/ltc/lib/libcusparseLt.so.0 2>/dev/null ||
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      .carry/cusparselt/lib/libcusparseLt.so.0.xz /tmp/ltc/lib/libcusparseLt.so.0
  ln -sf libcusparseLt.so.0 /tmp/ltc/lib/libcusparseLt.so
  export CUSPARSELT_DIR=/tmp/ltc
  echo "cuSPARSELt from .carry: $(cat /tmp/ltc/VERSION) ($(( $(date +%s) - t0 )) s to unpack)"
fi
# the Makefile probes python3's site-packages; where that misses, look for the wheel's header
if [ -z "$CUSPARSELT_DIR" ]; then
  h=$(find /opt /usr/local /usr/lib -name cusparseLt.h -path '*nvidia*' 2>/dev/null | head -1)
  [ -n "$h" ] && export CUSPARSELT_DIR=$(dirname "$(dirname "$h")")
fi
# The wheel ships only libcusparseLt.so.0 (no unversioned .so for -lcusparseLt):
# give the linker a folder with both names (the RPATH then points there).
if [ -n "$CUSPARSELT_DIR" ] && [ ! -e "$CUSPARSELT_DIR/lib/libcusparseLt.so" ]; then
  mkdir -p /tmp/splt/lib
  ln -sfn "$CUSPARSELT_DIR/include" /tmp/splt/include
  ln -sf "$CUSPARSELT_DIR/lib/libcusparseLt.so.0" /tmp/splt/lib/libcusparseLt.so.0
  ln -sf "$CUSPARSELT_DIR/lib/libcusparseLt.so.0" /tmp/splt/lib/libcusparseLt.so
  export CUSPARSELT_DIR=/tmp/splt
fi
echo "CUSPARSELT_DIR=$CUSPARSELT_DIR"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv;
  make -j16 CUDA_ARCHS=90 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} USE_OPENBLAS=auto USE_CUSPARSELT=1 CUSPARSELT_DIR="$CUSPARSELT_DIR" all build/tests/gpu/test_gemm_gpu build/tests/gpu/test_own_gpu 2>&1 | grep -E "sparse24 build|error|warning" ; } > "$OUT/build.log" 2>&1
echo "build: $(( $(date +%s) - t0 )) s" >> "$OUT/build.log"
cat "$OUT/build.log"
[ -x build/sparse24 ] || { echo "build failed"; exit 1; }
if [ "${TEST:-1}" = 1 ]; then
  timeout ${TEST_TIMEOUT:-90} stdbuf -oL build/tests/gpu/test_gemm_gpu 2>&1 | tee "$OUT/test-gpu.log" | tail -60
fi
echo "== bench ($(( $(date +%s) - t0 )) s)"
timeout ${BENCH_TIMEOUT:-400} build/sparse24 bench gemm --out "$OUT/bench" $1 2>&1 | tee "$OUT/bench.log"
if [ "${TORCH:-1}" = 1 ] && [ -f "$OUT/bench/gemm.csv" ]; then
  echo "== torch ($(( $(date +%s) - t0 )) s)"
  PYTHONUNBUFFERED=1 timeout ${TORCH_TIMEOUT:-200} python3 bench/torch_gemm.py "$OUT/bench/gemm.csv" "$OUT/bench/torch.csv" 2>&1 | tee "$OUT/torch.log"
fi
echo "== done ($(( $(date +%s) - t0 )) s)"
