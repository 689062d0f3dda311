#!/bin/bash
# repeat_squares.sh: one device call that runs the square 4096-16384 rows
# of `sparse24 bench gemm` RUNS times (default 3) back to back, to show how
# much the headline and paired speedups move between runs on one machine.
# Results tarred into $OUT/repeats.tgz (run<i>/gemm.csv, bench.log).
#   GIT_COMMIT=<id> RUNS=3 scripts/gpu/repeat_squares.sh
OUT=${OUT:-out}
RUNS=${RUNS:-3}
mkdir -p "$OUT" /tmp/rep
# run_gemm.sh unpacks cJSON here; later runs of the binary need it too
export LD_LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
TEST=0 TORCH=0 OUT=/tmp/rep/run1 scripts/gpu/run_gemm.sh "--sizes 4096,8192,16384 --dtype fp16,bf16,int8,fp8 --search" \
  > /tmp/rep/run1.log 2>&1
for i in $(seq 2 "$RUNS"); do
  mkdir -p /tmp/rep/run$i
  build/sparse24 bench gemm --out /tmp/rep/run$i/bench --sizes 4096,8192,16384 --dtype fp16,bf16,int8,fp8 --search \
    > /tmp/rep/run$i/bench.log 2>&1
done
for i in $(seq 1 "$RUNS"); do echo "== run $i"; grep -E "^square|cusparseLtGetVersion|# date" /tmp/rep/run$i/bench.log; done
tar czf "$OUT/repeats.tgz" -C /tmp/rep .
