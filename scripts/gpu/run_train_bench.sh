#!/bin/bash
# run_train_bench.sh: one device call for the training-step benchmark:
# versions, the sparse24 build, `sparse24 bench train` (when the binary has
# it) and PyTorch's training step (bench/torch_train_step.py) on the same
# models, both appending to one CSV ($OUT/train-step.csv:
# model,engine,precision,step_ms,img_s,peak_mb).
# Run from the repository root on the GPU machine, with .debs carried (the
# cJSON packages the build needs, as for run_gemm.sh):
#   scripts/gpu/run_train_bench.sh
# Environment:
#   OUT               output folder (default out); at most 8 files come back:
#                     versions.txt, build.log, s24-bench.log, torch-bench.log,
#                     train-step.csv (+ train-step.torch.csv if the headers differ)
#   S24_BENCH_ARGS    extra arguments for `sparse24 bench train` (default none)
#   TORCH_BENCH_ARGS  arguments for torch_train_step.py (default: both models,
#                     batch 256, warm-up 15, 100 steps, modes fp32,bf16,compile)
#   S24=0 / TORCH=0   skip that side; BUILD=0 skip make when build/sparse24 exists
#   GRAPH=1           sparse24's side runs twice: as it defaults (step graphs on
#                     the GPU since 7b74eed), then with S24_TRAIN_GRAPH=0 (plain
#                     steps) into train-step-plain.csv (same columns; its log
#                     s24-bench-plain.log)
#   S24_TIMEOUT / TORCH_TIMEOUT  seconds for each side (default 240 / 360), each
#                     cut to what is left before DEADLINE
#   DEADLINE          seconds from the start by which everything has ended
#                     (default 570: the device tool stops a command at 600)
#   GIT_COMMIT=<id>   stamps the build (the device copy has no .git)
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
t0=$(date +%s)
DEADLINE=${DEADLINE:-570}
stamp() { echo "== $1 ($(( $(date +%s) - t0 )) s)"; }
# budget WANTED: WANTED seconds, or fewer if less is left before DEADLINE (10 s kept back)
budget() { local left=$(( DEADLINE - ($(date +%s) - t0) - 10 )); [ "$1" -lt "$left" ] && echo "$1" || echo "$left"; }

# cJSON (required by the build) from carried .deb files, unpacked out of /
if ls .debs/*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/cj
  for f in .debs/*.deb; do dpkg -x "$f" /tmp/cj; done
  export CPATH=/tmp/cj/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

stamp versions
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  uname -a
  nvidia-smi 2>&1 | head -n 12
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv 2>&1
  (command -v nvcc >/dev/null && nvcc --version | tail -n 2) || echo "nvcc: not found"
  cc --version 2>&1 | head -n 1
  python3 - <<'PY' 2>&1
import torch, torchvision
print(f"python3 torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"torch sees {torch.cuda.device_count()} GPU(s): {p.name}, {p.total_memory / 2**30:.1f} GiB, "
          f"{p.multi_processor_count} SMs")
PY
} > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"

# The training engine does not need cuSPARSELt (only the 2:4 GEMM path does),
# so the build leaves it out: faster, and no library to carry. make runs every
# time (a no-op when build/ is up to date) so that a binary kept on a warm
# machine from an earlier call never runs against newer sources; BUILD=0
# skips it when build/sparse24 exists.
if [ "${BUILD:-1}" != 0 ] || [ ! -x build/sparse24 ]; then
  stamp build
  make -j16 CUDA_ARCHS=90 USE_CUSPARSELT=0 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} 2>&1 |
    tee "$OUT/build.log" | grep -E "sparse24 build|error|warning"
  echo "build: rc ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s" | tee -a "$OUT/build.log"
fi

CSV="$OUT/train-step.csv"
if [ "${S24:-1}" != 0 ]; then
  if [ -x build/sparse24 ] && build/sparse24 bench train --help >/dev/null 2>&1; then
    lim=$(budget "${S24_TIMEOUT:-240}")
    if [ "$lim" -ge 20 ]; then
      stamp "sparse24 bench train (at most $lim s)"
      timeout -k 10 "$lim" build/sparse24 bench train --csv "$CSV" $S24_BENCH_ARGS 2>&1 |
        tee "$OUT/s24-bench.log"
      echo "sparse24 bench train: rc $?" | tee -a "$OUT/s24-bench.log"
      lim=$(budget "${S24_TIMEOUT:-240}")
      if [ "${GRAPH:-0}" = 1 ] && [ "$lim" -ge 20 ]; then
        stamp "sparse24 bench train, S24_TRAIN_GRAPH=0 (at most $lim s)"
        S24_TRAIN_GRAPH=0 timeout -k 10 "$lim" build/sparse24 bench train --csv "$OUT/train-step-plain.csv" $S24_BENCH_ARGS 2>&1 |
          tee "$OUT/s24-bench-plain.log"
        echo "sparse24 bench train (plain steps): rc $?" | tee -a "$OUT/s24-bench-plain.log"
      fi
    else
      echo "sparse24 bench train: skipped, only $lim s left before DEADLINE" | tee "$OUT/s24-bench.log"
    fi
  elif [ -x build/sparse24 ]; then
    echo "sparse24 bench train: not in this build (build/sparse24 bench train --help fails); skipped" |
      tee "$OUT/s24-bench.log"
  else
    echo "sparse24 bench train: no build/sparse24 (build failed, see build.log); skipped" |
      tee "$OUT/s24-bench.log"
  fi
fi

if [ "${TORCH:-1}" != 0 ]; then
  lim=$(budget "${TORCH_TIMEOUT:-360}")
  TORCH_BENCH_ARGS=${TORCH_BENCH_ARGS:-"--models resnet18,efficientnet_b0 --batch 256 --warmup 15 --steps 100 --modes fp32,bf16,compile"}
  if [ "$lim" -ge 20 ]; then
    stamp "torch_train_step.py (at most $lim s)"
    PYTHONUNBUFFERED=1 timeout -k 10 "$lim" python3 bench/torch_train_step.py --csv "$CSV" \
      $TORCH_BENCH_ARGS 2>&1 | tee "$OUT/torch-bench.log"
    echo "torch_train_step.py: rc $?" | tee -a "$OUT/torch-bench.log"
  else
    echo "torch_train_step.py: skipped, only $lim s left before DEADLINE" | tee "$OUT/torch-bench.log"
  fi
fi

stamp "results: $CSV"
status=0
if [ -f "$CSV" ]; then
  if command -v column >/dev/null; then column -s, -t < "$CSV"; else cat "$CSV"; fi
else
  echo "no $CSV"
  status=1
fi
if [ -f "$OUT/train-step.torch.csv" ]; then echo "== $OUT/train-step.torch.csv"; cat "$OUT/train-step.torch.csv"; fi
stamp "done"
exit $status
