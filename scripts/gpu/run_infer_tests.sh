#!/bin/bash
# run_infer_tests.sh: one device call for the GPU inference plan (issue 11):
# build with CUDA, cuDNN and cuSPARSELt, run tests/gpu/test_infer_gpu and
# test_infer_int8_gpu (the int8 plan), then `sparse24 infer --device cuda` end
# to end on a briefly trained, 2:4-pruned smallcnn (fp16, bf16 and int8, the
# three paths). Run from the repository root on
# the GPU machine with .debs carried (cJSON); cuSPARSELt from .carry (as
# run_gemm.sh unpacks it) when carried, else the image's Python wheel.
#   GIT_COMMIT=<id> [OPS_TESTS=1] [BENCH_ARGS='...'] [TORCH_ARGS='...'] \
#     scripts/gpu/run_infer_tests.sh
# BENCH_ONLY=1 skips test_infer_gpu and the CLI runs; TORCH_ARGS2, when set,
# runs bench/torch_infer.py a second time (torch.compile rows for some batches).
# OPS_TESTS=1 also runs test_nn_ops_gpu (the training ops, max-pool among
# them); OWN_TESTS=1 test_own_gpu (the own mma.sp GEMM and implicit-GEMM
# 2:4 convolution). BENCH_ARGS, when set, runs `sparse24 bench infer BENCH_ARGS` and
# then `bench/torch_infer.py TORCH_ARGS` in the same call, both appending to
# $OUT/infer-h200.csv (per-layer rows in $OUT/infer-layers-h200.csv).
# Output in $OUT (8 files at most come back from a device call): build.log,
# versions.txt (GPU, driver, `sparse24 info`, date, commit), test-infer-gpu.log,
# test-more-gpu.log (the own and the op tests), cli-infer.log, bench-infer.log
# and the two CSVs.
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
t0=$(date +%s)
. scripts/gpu/env.sh
s24_cusparselt
make -j16 WERROR=1 CUDA_ARCHS=90 USE_CUDA=1 USE_CUDNN=1 USE_CUSPARSELT=1 \
  ${CUSPARSELT_DIR:+CUSPARSELT_DIR=$CUSPARSELT_DIR} ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} \
  all build/tests/gpu/test_infer_gpu build/tests/gpu/test_infer_int8_gpu ${OPS_TESTS:+build/tests/gpu/test_nn_ops_gpu} \
  ${OWN_TESTS:+build/tests/gpu/test_own_gpu} \
  > "$OUT/build.log" 2>&1
rc=$?
grep -E "sparse24 build|error|warning" "$OUT/build.log" | head -40
echo "build: rc $rc, $(( $(date +%s) - t0 )) s"
[ $rc = 0 ] || exit 1
{ nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
  build/sparse24 info; date -u; echo "commit $GIT_COMMIT"; } 2>&1 | tee "$OUT/versions.txt"
if [ -z "$BENCH_ONLY" ]; then
echo "== test_infer_gpu ($(( $(date +%s) - t0 )) s)"
timeout ${TEST_TIMEOUT:-300} stdbuf -oL build/tests/gpu/test_infer_gpu 2>&1 | tee "$OUT/test-infer-gpu.log" | tail -80
echo "== test_infer_int8_gpu ($(( $(date +%s) - t0 )) s)"
{ echo "== test_infer_int8_gpu"
  timeout ${INT8_TIMEOUT:-240} stdbuf -oL build/tests/gpu/test_infer_int8_gpu 2>&1; echo "rc $?"
} | tee -a "$OUT/test-infer-gpu.log" | grep -vE "^    " | tail -40
if [ -n "$OWN_TESTS" ]; then
  echo "== test_own_gpu ($(( $(date +%s) - t0 )) s)"
  timeout ${OWN_TIMEOUT:-120} build/tests/gpu/test_own_gpu > /tmp/test-own-gpu.log 2>&1
  echo "rc $?"; grep -E "conv|passed|FAIL" /tmp/test-own-gpu.log | tail -12
  { echo "== test_own_gpu"; cat /tmp/test-own-gpu.log; } >> "$OUT/test-more-gpu.log"
fi
if [ -n "$OPS_TESTS" ]; then
  echo "== test_nn_ops_gpu ($(( $(date +%s) - t0 )) s)"
  timeout ${OPS_TIMEOUT:-120} build/tests/gpu/test_nn_ops_gpu > /tmp/test-ops-gpu.log 2>&1
  echo "rc $?"; grep -E "maxpool|passed|FAIL" /tmp/test-ops-gpu.log | tail -8
  { echo "== test_nn_ops_gpu"; cat /tmp/test-ops-gpu.log; } >> "$OUT/test-more-gpu.log"
fi
echo "== cli ($(( $(date +%s) - t0 )) s)"
{
  ck=/tmp/s24-infer-ck
  rm -rf "$ck"
  build/sparse24 train --model smallcnn --device cuda --epochs 2 --phase2-epochs 0 \
    --limit-train 256 --batch 64 --limit-test 64 --out "$ck" > /dev/null 2>&1 || echo "train failed"
  for dt in fp16 bf16 int8; do
    for path in dense sparse auto; do
      echo "-- infer --device cuda --dtype $dt --path $path"
      timeout 120 build/sparse24 infer --model smallcnn --checkpoint "$ck/phase2.safetensors" \
        --device cuda --dtype $dt --path $path --limit-test 512 --batch 256 --repeats 5
      echo "rc $?"
    done
  done
} 2>&1 | tee "$OUT/cli-infer.log" | tail -60
fi
if [ -n "$BENCH_ARGS" ]; then
  echo "== bench infer ($(( $(date +%s) - t0 )) s)"
  # word splitting of the argument strings is intended
  timeout ${BENCH_TIMEOUT:-150} build/sparse24 bench infer $BENCH_ARGS --csv "$OUT/infer-h200.csv" \
    --layers "$OUT/infer-layers-h200.csv" 2>&1 | tee "$OUT/bench-infer.log" | grep -v "^#" | tail -40
  echo "rc ${PIPESTATUS[0]}"
  timeout ${TORCH_TIMEOUT:-120} python3 bench/torch_infer.py --csv "$OUT/infer-h200.csv" $TORCH_ARGS \
    2>&1 | tee -a "$OUT/bench-infer.log" | tail -20
  echo "rc ${PIPESTATUS[0]}"
  if [ -n "$TORCH_ARGS2" ]; then
    timeout ${TORCH_TIMEOUT:-120} python3 bench/torch_infer.py --csv "$OUT/infer-h200.csv" $TORCH_ARGS2 \
      2>&1 | tee -a "$OUT/bench-infer.log" | tail -20
    echo "rc ${PIPESTATUS[0]}"
  fi
fi
echo "== done ($(( $(date +%s) - t0 )) s)"
