#!/bin/bash
# run_parity.sh: one device call of the accuracy-parity study: the paper's
# dense recipe for EPOCHS epochs, seed SEED, trained by sparse24's CUDA
# engine (`sparse24 train --device cuda ... --strategy dense --phase2-epochs 0`)
# and by PyTorch (bench/torch_train_parity.py), on CIFAR-10 (JPEG
# re-encoding) unpacked from the carried archive. scripts/parity_report.py
# turns the CSVs of several calls into the comparison.
# Run from the repository root on the GPU machine, with .carry/data
# (cifar10-jpeg.tar.xz and jpeg2bin.py from shared/data) and .debs (cJSON,
# for the build) carried:
#   scripts/gpu/run_parity.sh MODEL SEED EPOCHS     MODEL: resnet18 | efficientnet_b0
# Files in $OUT (default out): versions.txt, build.log,
#   s24_MODEL_sSEED.csv / .log     sparse24's train.csv and its output
#   torch_MODEL_sSEED.csv / .log   PyTorch's per-epoch CSV (same columns) and output
# Exit status 0 when every engine asked for left a CSV with at least one
# epoch (possibly fewer epochs than asked: see the summary), else 1.
# Environment:
#   ENGINES         which sides run (default "s24 torch"; sparse24 goes first)
#   S24_SECONDS     wall-time cap of sparse24's run; it gets SIGTERM then, stops
#                   after the running batch and keeps the finished epochs in
#                   train.csv (default: half of what is left when both run, else
#                   all of it)
#   TORCH_SECONDS   --max-seconds of the PyTorch run (default: what is left)
#   DEADLINE        seconds from the start by which everything has ended
#                   (default 570: the device tool stops a command at 600)
#   S24_ARGS        extra arguments for `sparse24 train` (e.g. --batch 256)
#   TORCH_ARGS      extra arguments for torch_train_parity.py (e.g. --precision bf16)
#   BUILD=0         skip make when build/sparse24 exists
#   GIT_COMMIT=<id> stamps the build (the device copy has no .git)
set -o pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 MODEL SEED EPOCHS   (MODEL: resnet18 | efficientnet_b0)" >&2
  exit 2
fi
MODEL=$1 SEED=$2 EPOCHS=$3
case $MODEL in resnet18|efficientnet_b0) ;; *) echo "$0: MODEL $MODEL: expected resnet18 or efficientnet_b0" >&2; exit 2 ;; esac
case $SEED in ''|*[!0-9]*) echo "$0: SEED $SEED: expected a non-negative integer" >&2; exit 2 ;; esac
case $EPOCHS in ''|*[!0-9]*|0) echo "$0: EPOCHS $EPOCHS: expected a positive integer" >&2; exit 2 ;; esac
OUT=${OUT:-out}
ENGINES=${ENGINES:-"s24 torch"}
DEADLINE=${DEADLINE:-570}
DATA=/tmp/cifar
RUN=/tmp/runs/s24
TAG=${MODEL}_s${SEED}
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "== $1 ($(( $(date +%s) - t0 )) s)"; }
left() { echo $(( DEADLINE - ($(date +%s) - t0) )); }
has() { case " $ENGINES " in *" $1 "*) return 0 ;; esac; return 1; }

# cJSON (required by the build) from carried .deb files, unpacked out of /
if ls .debs/*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/cj
  for f in .debs/*.deb; do dpkg -x "$f" /tmp/cj; done
  export CPATH=/tmp/cj/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

stamp "versions"
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  echo "run_parity: model $MODEL, seed $SEED, $EPOCHS epochs, engines: $ENGINES"
  nvidia-smi 2>&1 | head -n 12
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  python3 -c 'import torch, torchvision; print(f"python3 torch {torch.__version__}, torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")' 2>&1
} > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"

stamp "data"
if [ ! -f "$DATA/test_batch.bin" ] || [ ! -f "$DATA/data_batch_5.bin" ]; then
  if [ ! -f .carry/data/cifar10-jpeg.tar.xz ] || [ ! -f .carry/data/jpeg2bin.py ]; then
    echo "run_parity: .carry/data/cifar10-jpeg.tar.xz and .carry/data/jpeg2bin.py are needed (carry .carry/data)" |
      tee -a "$OUT/versions.txt"
    exit 1
  fi
  rm -rf "$DATA"
  python3 .carry/data/jpeg2bin.py .carry/data/cifar10-jpeg.tar.xz "$DATA" 2>&1 | tail -n 5 ||
    { echo "run_parity: jpeg2bin.py failed" | tee -a "$OUT/versions.txt"; exit 1; }
fi
sha=$(sha256sum "$DATA/test_batch.bin" | cut -d' ' -f1)
if [ "$sha" = cf28711b3059b27ed8a78d6529b5ba5b5c94130096ca62a1a924268a9a9ec05b ]; then
  echo "data: $DATA, test_batch.bin sha256 as documented" | tee -a "$OUT/versions.txt"
else
  echo "data: $DATA, test_batch.bin sha256 $sha differs from shared/data/README.md's" | tee -a "$OUT/versions.txt"
fi
ls -l "$DATA"

if has s24; then
  # The training engine does not need cuSPARSELt (only the 2:4 GEMM path
  # does), so the build leaves it out. make runs every time (a no-op when
  # build/ is up to date) so that a binary kept on a warm machine never runs
  # against newer sources; BUILD=0 skips it when build/sparse24 exists.
  if [ "${BUILD:-1}" != 0 ] || [ ! -x build/sparse24 ]; then
    stamp "build"
    make -j16 CUDA_ARCHS=90 USE_CUSPARSELT=0 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} 2>&1 |
      tee "$OUT/build.log" | grep -E "sparse24 build|error|warning"
    echo "build: rc ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s" | tee -a "$OUT/build.log"
  fi
  if [ ! -x build/sparse24 ]; then
    echo "sparse24: no build/sparse24 (see build.log); skipped" | tee "$OUT/s24_$TAG.log"
  elif ! build/sparse24 train --help 2>&1 | grep -q -- "--device"; then
    echo "sparse24: this build's 'train' has no --device option (the CUDA engine is not in it); skipped" |
      tee "$OUT/s24_$TAG.log"
  else
    l=$(left)
    if [ -n "$S24_SECONDS" ]; then lim=$S24_SECONDS; elif has torch; then lim=$(( (l - 20) / 2 )); else lim=$(( l - 20 )); fi
    [ "$lim" -gt $(( l - 20 )) ] && lim=$(( l - 20 ))
    if [ "$lim" -lt 30 ]; then
      echo "sparse24: skipped, only $l s left before DEADLINE" | tee "$OUT/s24_$TAG.log"
    else
      stamp "sparse24 train (at most $lim s)"
      rm -rf "$RUN" && mkdir -p "$(dirname "$RUN")"
      # SIGTERM: sparse24 stops after the running batch (exit 1, resumable);
      # SIGKILL 15 s later if it has not
      timeout -s TERM -k 15 "$lim" build/sparse24 train --device cuda --model "$MODEL" --data "$DATA" \
        --epochs "$EPOCHS" --phase2-epochs 0 --strategy dense --seed "$SEED" --out "$RUN" $S24_ARGS 2>&1 |
        tee "$OUT/s24_$TAG.log"
      rc=$?
      echo "sparse24 train: rc $rc$([ $rc = 124 ] && echo ' (stopped at the time cap)'), $(( $(date +%s) - t0 )) s" |
        tee -a "$OUT/s24_$TAG.log"
      if [ -f "$RUN/train.csv" ]; then cp "$RUN/train.csv" "$OUT/s24_$TAG.csv"
      else echo "sparse24: no $RUN/train.csv" | tee -a "$OUT/s24_$TAG.log"; fi
    fi
  fi
fi

if has torch; then
  l=$(left)
  lim=${TORCH_SECONDS:-$(( l - 20 ))}
  [ "$lim" -gt $(( l - 20 )) ] && lim=$(( l - 20 ))
  if [ "$lim" -lt 30 ]; then
    echo "torch: skipped, only $l s left before DEADLINE" | tee "$OUT/torch_$TAG.log"
  else
    stamp "torch_train_parity.py (at most $lim s)"
    # --max-seconds stops it cleanly; timeout only backs that up
    PYTHONUNBUFFERED=1 timeout -k 10 $(( lim + 15 )) python3 bench/torch_train_parity.py --model "$MODEL" \
      --data "$DATA" --epochs "$EPOCHS" --seed "$SEED" --csv "$OUT/torch_$TAG.csv" --max-seconds "$lim" \
      $TORCH_ARGS 2>&1 | tee "$OUT/torch_$TAG.log"
    rc=$?
    echo "torch_train_parity.py: rc $rc$([ $rc = 3 ] && echo ' (stopped at --max-seconds)'), $(( $(date +%s) - t0 )) s" |
      tee -a "$OUT/torch_$TAG.log"
  fi
fi

stamp "final test accuracies ($MODEL, seed $SEED, $EPOCHS epochs asked)"
status=0
for e in $ENGINES; do
  f="$OUT/${e}_$TAG.csv"
  if [ -f "$f" ] && [ "$(wc -l < "$f")" -gt 1 ]; then
    # phase-1 rows only (phase 2 is empty here); columns: phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds
    awk -F, -v e="$e" 'NR > 1 && $1 == 1 { ep = $2; acc = $7; s += $8 }
      END { printf "%-6s epoch %s: test acc %s%%  (%.0f s of epochs)\n", e, ep, acc, s }' "$f"
  else
    printf "%-6s no result\n" "$e"
    status=1
  fi
done
stamp "done"
exit $status
