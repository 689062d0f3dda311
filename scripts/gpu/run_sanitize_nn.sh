#!/bin/bash
# run_sanitize_nn.sh: one device call for issue 13's GPU sanitizer run: the
# training ops, the inference plan and the communication tests (and the own
# kernel's) under compute-sanitizer, each tool in TOOLS (default memcheck
# and synccheck), with the tests' small mode (S24_SMALL=1: test_infer_gpu
# runs fp16 smallcnn and resnet18 at small batches). Every run's whole log
# goes to san-<tool>-<test>.log in $OUT/san-logs.tar.gz (a device call brings
# back 8 files; ten logs left the summary behind at 4969b8a), a summary to
# $OUT/sanitize-nn.log.
# Run from the repository root on the GPU machine with .debs carried.
#   GIT_COMMIT=<id> [TOOLS='memcheck synccheck'] [TESTS='...'] scripts/gpu/run_sanitize_nn.sh
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
L=/tmp/san-logs
rm -rf "$L" && mkdir -p "$L"
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
      # NCCL's own initialisation probes its kernels with cudaFuncGetAttributes
      # and gets "no kernel image" for the architectures it was not built for:
      # 8 such API errors, all from libnccl frames, made memcheck fail
      # test_comm_gpu at 4969b8a with no memory error; API errors are not
      # reported for that test (memory errors still are)
      api=""
      [ "$t" = test_comm_gpu ] && api="--report-api-errors no"
      # shellcheck disable=SC2086
      S24_SMALL=1 timeout ${SAN_TIMEOUT:-150} "$CS" --tool "$tool" --error-exitcode 9 --print-limit 5 \
        $api build/tests/gpu/$t > "$L/san-$tool-$t.log" 2>&1
      r=$?
      echo "== $tool $t: rc $r, $(( $(date +%s) - s )) s: $(grep -E "ERROR SUMMARY|passed, " "$L/san-$tool-$t.log" | tr '\n' ' ')"
    done
  done
  echo "== done ($(( $(date +%s) - t0 )) s)"
} 2>&1 | tee "$OUT/sanitize-nn.log"
tar czf "$OUT/san-logs.tar.gz" -C "$L" .
