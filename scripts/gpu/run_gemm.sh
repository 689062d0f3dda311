#!/bin/bash
# run_gemm.sh: one device call for the GPU GEMM engine: build, GPU tests,
# `sparse24 bench gemm` and PyTorch's side-by-side numbers on the same shapes.
# Run from the repository root on the GPU machine, with .debs carried (cJSON).
#   scripts/gpu/run_gemm.sh "BENCH ARGS"   e.g. "--sizes 1024,4096 --dtype fp16 --search"
# Everything lands in $OUT (8 files at most come back): build.log,
# test-gpu.log, bench.log, torch.log and $OUT/bench/{gemm.csv,gemm.json,
# gemm_variants.csv,torch.csv}. TEST=0 skips the GPU tests, TORCH=0 PyTorch.
# TESTS: the GPU test binaries to build and run (default test_gemm_gpu);
# SAN="memcheck racecheck" runs each of SAN_TESTS (default test_sp90_gpu)
# under compute-sanitizer too, after the benchmark, into san.log. The own Hopper kernels
# (src/cuda/sm90/) are built when .deps/cutlass is carried.
# cuSPARSELt: the one packed into .carry/cusparselt by pack_cusparselt.sh when
# that is carried (LT=image ignores it), else the image's Python wheel.
# GIT_COMMIT=<id> stamps the build (the device copy has no .git).
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT/bench"
. scripts/gpu/env.sh # cJSON from .debs, cuDNN from the image's wheel, s24_cusparselt
t0=$(date +%s)
s24_cusparselt
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv;
  make -j16 SAN= CUDA_ARCHS=90 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} USE_OPENBLAS=auto USE_CUSPARSELT=1 CUSPARSELT_DIR="$CUSPARSELT_DIR" all $(for t in ${TESTS:-test_gemm_gpu}; do printf ' build/tests/gpu/%s' $t; done) build/tests/gpu/test_own_gpu 2>&1 | grep -E "sparse24 build|error|warning" ; } > "$OUT/build.log" 2>&1
echo "build: $(( $(date +%s) - t0 )) s" >> "$OUT/build.log"
cat "$OUT/build.log"
[ -x build/sparse24 ] || { echo "build failed"; exit 1; }
if [ "${TEST:-1}" = 1 ]; then
  for t in ${TESTS:-test_gemm_gpu}; do
    echo "== $t ($(( $(date +%s) - t0 )) s)" | tee -a "$OUT/test-gpu.log"
    timeout ${TEST_TIMEOUT:-90} stdbuf -oL build/tests/gpu/$t 2>&1 | tee -a "$OUT/test-gpu.log" | tail -60
  done
fi
echo "== bench ($(( $(date +%s) - t0 )) s)"
timeout ${BENCH_TIMEOUT:-400} build/sparse24 bench gemm --out "$OUT/bench" $1 2>&1 | tee "$OUT/bench.log"
if [ "${TORCH:-1}" = 1 ] && [ -f "$OUT/bench/gemm.csv" ]; then
  echo "== torch ($(( $(date +%s) - t0 )) s)"
  PYTHONUNBUFFERED=1 timeout ${TORCH_TIMEOUT:-200} python3 bench/torch_gemm.py "$OUT/bench/gemm.csv" "$OUT/bench/torch.csv" 2>&1 | tee "$OUT/torch.log"
fi
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in ${SAN:-}; do
  for t in ${SAN_TESTS:-test_sp90_gpu}; do
    echo "== compute-sanitizer --tool $tool $t ($(( $(date +%s) - t0 )) s)" | tee -a "$OUT/san.log"
    S24_SMALL=1 timeout ${SAN_TIMEOUT:-200} "$CS" --tool $tool --error-exitcode 9 build/tests/gpu/$t 2>&1 | tail -25 | tee -a "$OUT/san.log"
    echo "rc ${PIPESTATUS[0]}" | tee -a "$OUT/san.log"
  done
done
echo "== done ($(( $(date +%s) - t0 )) s)"
