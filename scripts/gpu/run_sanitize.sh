#!/bin/bash
# run_sanitize.sh: one device call that runs the GPU tests plainly and under
# compute-sanitizer memcheck, against the cuSPARSELt packed in .carry (if
# carried) and against the image's: a summary in $OUT/sanitize-<lt>.log, the
# whole logs in $OUT/<test>-<lt>[-memcheck].log.
#   GIT_COMMIT=<id> scripts/gpu/run_sanitize.sh [carried] [image]
OUT=${OUT:-out}
mkdir -p "$OUT"
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in ${@:-carried image}; do
  rm -rf build
  log="$OUT/sanitize-$v.log"
  LT=$v OUT=/tmp/san-$v TEST=0 BENCH_TIMEOUT=1 TORCH=0 scripts/gpu/run_gemm.sh "--sizes 256 --dtype fp16" > /tmp/san-$v.log 2>&1
  { grep -E "cuSPARSELt from|CUSPARSELT_DIR|build:" /tmp/san-$v.log
    for t in test_gemm_gpu test_own_gpu; do
      echo "== $t plain"
      timeout 120 build/tests/gpu/$t > "$OUT/$t-$v.log" 2>&1
      echo "rc=$?"
      grep -E "FAIL|passed|every|disagree|searched|wrong|search rejected" "$OUT/$t-$v.log" | head -20
      echo "== $t memcheck"
      timeout 240 "$CS" --tool memcheck --print-limit 3 build/tests/gpu/$t > "$OUT/$t-$v-memcheck.log" 2>&1
      echo "rc=$?"
      grep -E "FAIL|passed|every|disagree|searched|Invalid|ERROR SUMMARY|at .*kernel|search rejected|signal" \
        "$OUT/$t-$v-memcheck.log" | head -20
    done; } > "$log" 2>&1
  cat "$log"
done
