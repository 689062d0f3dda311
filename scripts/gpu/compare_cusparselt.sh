#!/bin/bash
# compare_cusparselt.sh: one device call that benchmarks two cuSPARSELt
# versions side by side on the same machine: the one packed into
# .carry/cusparselt (pack_cusparselt.sh) and the image's Python wheel.
# Squares 4096-16384 in every dtype, searched, then the layout/operand-order/
# split-k/fp16-accumulate variants at 8192^3 fp16 and bf16. Everything is
# tarred into $OUT/res.tgz (the device tool brings back 8 files at most).
#   GIT_COMMIT=<id> scripts/gpu/compare_cusparselt.sh
export TORCH=0 TEST=0 BENCH_TIMEOUT=${BENCH_TIMEOUT:-130}
OUT=${OUT:-out}
for v in carried image; do
  rm -rf build
  mkdir -p "/tmp/o/$v"
  LT=$v OUT=/tmp/o/$v scripts/gpu/run_gemm.sh "--sizes 4096,8192,16384 --dtype fp16,bf16,int8,fp8 --search" \
    > "/tmp/o/$v/run.log" 2>&1
  LT=$v OUT=/tmp/o/$v/var scripts/gpu/run_gemm.sh "--sizes 8192 --dtype fp16,bf16 --search --variants" \
    > "/tmp/o/$v/run_var.log" 2>&1
  echo "== $v"
  grep -E "^square|cusparseLtGetVersion" "/tmp/o/$v/bench.log"
  grep variant "/tmp/o/$v/var/bench.log"
done
mkdir -p "$OUT"
tar czf "$OUT/res.tgz" -C /tmp/o .
