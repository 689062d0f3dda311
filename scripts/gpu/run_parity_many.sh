#!/bin/bash
# run_parity_many.sh: the accuracy-parity runs of one model for several
# seeds, sparse24 (--device cuda) and PyTorch (bench/torch_train_parity.py)
# side by side, all at once on the one GPU: accuracy does not depend on the
# speed, and the launch-bound runs overlap well, so six runs take about the
# time of two. Wall times in these CSVs are therefore not speeds.
#   scripts/gpu/run_parity_many.sh MODEL "1 42 98" EPOCHS
# Carry .debs and .carry/data. Output in $OUT (8 files at most come back):
# s24_MODEL_sSEED.csv and torch_MODEL_sSEED.csv per seed and logs_MODEL.tar.gz
# (the logs and versions.txt). ENGINES="s24 torch" (default) picks the sides,
# so two models can share a call (two invocations at once). DEADLINE (default 560 s) stops every run cleanly before the
# device tool's limit: sparse24 by SIGTERM (its CSV keeps the completed
# epochs), PyTorch by --max-seconds. TORCH_ARGS / S24_ARGS add options.
set -o pipefail
MODEL=$1 SEEDS=$2 EPOCHS=$3
[ -n "$MODEL" ] && [ -n "$SEEDS" ] && [ -n "$EPOCHS" ] || { echo "usage: $0 MODEL \"SEEDS\" EPOCHS" >&2; exit 2; }
OUT=${OUT:-out}
DEADLINE=${DEADLINE:-560}
ENGINES=${ENGINES:-"s24 torch"}
L=/tmp/logs_$MODEL
mkdir -p "$OUT" $L
t0=$(date +%s)
. scripts/gpu/env.sh
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  echo "run_parity_many: $MODEL seeds $SEEDS, $EPOCHS epochs, commit ${GIT_COMMIT:-unknown}"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  python3 -c 'import torch, torchvision; print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")' 2>&1
} > $L/versions.txt
if [ ! -f /tmp/cifar/test_batch.bin ]; then
  python3 .carry/data/jpeg2bin.py .carry/data/cifar10-jpeg.tar.xz /tmp/cifar > $L/data.log 2>&1 || { cat $L/data.log; exit 1; }
fi
make -j16 CUDA_ARCHS=90 USE_CUSPARSELT=0 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} > $L/build.log 2>&1 || { tail -20 $L/build.log; exit 1; }
build/sparse24 info >> $L/versions.txt 2>&1
echo "ready after $(( $(date +%s) - t0 )) s"
lim=$(( DEADLINE - ($(date +%s) - t0) - 15 ))
for s in $SEEDS; do
  case " $ENGINES " in *" s24 "*)
  rm -rf /tmp/runs/$MODEL/s$s
  timeout -s TERM -k 10 $lim build/sparse24 train --device cuda --model "$MODEL" --data /tmp/cifar \
    --epochs "$EPOCHS" --phase2-epochs 0 --strategy dense --seed "$s" --out /tmp/runs/$MODEL/s$s $S24_ARGS \
    > $L/s24_${MODEL}_s$s.log 2>&1 & ;; esac
  case " $ENGINES " in *" torch "*)
  PYTHONUNBUFFERED=1 timeout -k 10 $(( lim + 5 )) python3 bench/torch_train_parity.py --model "$MODEL" \
    --data /tmp/cifar --epochs "$EPOCHS" --seed "$s" --csv "$OUT/torch_${MODEL}_s$s.csv" \
    --max-seconds $(( lim - 5 )) $TORCH_ARGS > $L/torch_${MODEL}_s$s.log 2>&1 & ;; esac
done
wait
for s in $SEEDS; do
  cp /tmp/runs/$MODEL/s$s/train.csv "$OUT/s24_${MODEL}_s$s.csv" 2>/dev/null
  echo "== seed $s: sparse24 $(tail -n 1 "$OUT/s24_${MODEL}_s$s.csv" 2>/dev/null)"
  echo "   torch    $(tail -n 1 "$OUT/torch_${MODEL}_s$s.csv" 2>/dev/null)"
  tail -n 2 $L/s24_${MODEL}_s$s.log 2>/dev/null
done
tar czf "$OUT/logs_$MODEL.tar.gz" -C /tmp logs_$MODEL
echo "== done ($(( $(date +%s) - t0 )) s)"
