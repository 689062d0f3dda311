#!/bin/bash
# run_train_tests.sh: one device call for the GPU training engine's tests:
# build (CUDA + cuDNN, no cuSPARSELt: the training engine does not use it),
# then the op tests against the CPU backend (tests/gpu/test_nn_*_gpu), the
# whole-step test (test_train_gpu), the step-graph test (test_train_graph_gpu:
# graph replays against plain steps), sync BN's split ops and the side queue
# (test_syncbn_gpu), optionally under compute-sanitizer
# (SAN=memcheck|racecheck on the op tests at their small shapes).
# Run from the repository root on the GPU machine with .debs carried.
#   GIT_COMMIT=<id> [TESTS='test_a test_b'] scripts/gpu/run_train_tests.sh
# TESTS: the tests/gpu binaries to build and run (default the five above);
# SAN_TESTS: those run under each SAN tool (default test_nn_ops_gpu
# test_nn_conv_gpu; each must be in TESTS), SAN_TIMEOUT seconds each (200).
# Issue 9's sanitizer line: SAN="memcheck racecheck" SAN_TIMEOUT=300
# TESTS="test_nn_ops_gpu test_mixed_elem_gpu test_mixed_norm_gpu test_nn_conv_gpu"
# SAN_TESTS="$TESTS" TEST_TIMEOUT=60.
# Output in $OUT: build.log, test-gpu.log (and san-*.log).
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
t0=$(date +%s)
. scripts/gpu/env.sh
TESTS=${TESTS:-test_nn_ops_gpu test_nn_conv_gpu test_train_gpu test_train_graph_gpu test_syncbn_gpu}
make -j16 SAN= CUDA_ARCHS=90 USE_CUSPARSELT=0 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} all \
  $(for t in $TESTS; do echo build/tests/gpu/$t; done) > "$OUT/build.log" 2>&1
rc=$?
grep -E "sparse24 build|error|warning" "$OUT/build.log" | head -40
echo "build: rc $rc, $(( $(date +%s) - t0 )) s"
[ $rc = 0 ] || exit 1
build/sparse24 info | tee "$OUT/info.txt"
for t in $TESTS; do
  echo "== $t ($(( $(date +%s) - t0 )) s)"
  timeout ${TEST_TIMEOUT:-240} build/tests/gpu/$t 2>&1 | tee -a "$OUT/test-gpu.log" | tail -40
done
if [ -n "$SAN" ]; then
  for tool in $SAN; do
    for t in ${SAN_TESTS:-test_nn_ops_gpu test_nn_conv_gpu}; do
      echo "== $tool $t ($(( $(date +%s) - t0 )) s)"
      S24_SMALL=1 timeout ${SAN_TIMEOUT:-200} compute-sanitizer --tool "$tool" --error-exitcode 9 \
        build/tests/gpu/$t > "$OUT/san-$tool-$t.log" 2>&1
      echo "rc $?"; tail -5 "$OUT/san-$tool-$t.log"
    done
  done
fi
echo "== done ($(( $(date +%s) - t0 )) s)"
