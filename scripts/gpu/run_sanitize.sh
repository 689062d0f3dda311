#!/bin/bash
# run_sanitize.sh: one device call that runs the GPU tests plainly and under
# compute-sanitizer memcheck, against the cuSPARSELt packed in .carry (if
# carried) and against the image's, logs into $OUT/sanitize-<lt>.log.
#   GIT_COMMIT=<id> scripts/gpu/run_sanitize.sh [carried] [image]
OUT=${OUT:-out}
mkdir -p "$OUT"
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for lt in "${@:-carried image}"; do
  for v in $lt; do
    rm -rf build
    log="$OUT/sanitize-$v.log"
    LT=$v OUT=/tmp/san-$v TEST=0 BENCH_TIMEOUT=1 TORCH=0 scripts/gpu/run_gemm.sh "--sizes 256 --dtype fp16" > /tmp/san-$v.log 2>&1
    make -j16 CUDA_ARCHS=90 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} build/tests/gpu/test_gemm_gpu build/tests/gpu/test_own_gpu \
      >> /tmp/san-$v.log 2>&1
    { grep -E "cuSPARSELt from|CUSPARSELT_DIR" /tmp/san-$v.log
      for t in test_gemm_gpu test_own_gpu; do
        echo "== $t plain"
        timeout 120 build/tests/gpu/$t 2>&1 | grep -E "FAIL|passed|every|disagree|searched|wrong|search rejected" | head -20
        echo "== $t memcheck"
        timeout 240 "$CS" --tool memcheck --print-limit 3 build/tests/gpu/$t 2>&1 |
          grep -E "FAIL|passed|every|disagree|searched|Invalid|ERROR SUMMARY|at .*kernel|search rejected" | head -20
      done; } > "$log" 2>&1
    cat "$log"
  done
done
