#!/bin/bash
# run_sanitize_nn.sh: one device call for issue 13's GPU sanitizer run: the
# training ops, the inference plan and the communication tests (and the own
# kernel's) under compute-sanitizer, each tool in TOOLS (default memcheck
# and synccheck), with the tests' small mode (S24_SMALL=1: test_infer_gpu
# runs fp16 smallcnn and resnet18 at small batches). Every run's whole log
# goes to $OUT/san-<tool>-<test>.log, a summary to $OUT/sanitize-nn.log.
# Run from the repository root on the GPU machine with .debs carried.
#   GIT_COMMIT=<id> [TOOLS='memcheck synccheck'] [TESTS='...'] scripts/gpu/run_sanitize_nn.sh
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
t0=$(date +%s)
. scripts/gpu/env.sh
s24_cusparselt
TESTS=${TESTS:-test_nn_ops_gpu test_nn_conv_gpu test_infer_gpu test_comm_gpu test_own_gpu}
make -j16 WERROR=1 CUDA_ARCHS=90 ${CUSPARSELT_DIR:+CUSPARSELT_DIR=$CUSPARSELT_DIR} \
  ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} all $(for t in $TESTS; do printf 'build/tests/gpu/%s ' "$t"; done) \
  > "$OUT/build.log" 2>&1
rc=$?
echo "build: rc $rc, $(( $(date +%s) - t0 )) s"
[ $rc = 0 ] || { grep -E "error" "$OUT/build.log" | head -20; exit 1; }
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
{
  build/sparse24 info
  "$CS" --version | tail -1
  for tool in ${TOOLS:-memcheck synccheck}; do
    for t in $TESTS; do
      s=$(date +%s)
      S24_SMALL=1 timeout ${SAN_TIMEOUT:-150} "$CS" --tool "$tool" --error-exitcode 9 --print-limit 5 \
        build/tests/gpu/$t > "$OUT/san-$tool-$t.log" 2>&1
      r=$?
      echo "== $tool $t: rc $r, $(( $(date +%s) - s )) s: $(grep -E "ERROR SUMMARY|passed, " "$OUT/san-$tool-$t.log" | tr '\n' ' ')"
    done
  done
  echo "== done ($(( $(date +%s) - t0 )) s)"
} 2>&1 | tee "$OUT/sanitize-nn.log"
