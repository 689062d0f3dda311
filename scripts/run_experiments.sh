#!/bin/sh
# run_experiments.sh: the paper's training grid with `sparse24 train`, the
# figures with `sparse24 plot`, and the CPU throughput measurement.
#
#   scripts/run_experiments.sh grid        every model x strategy x permute x seed
#   scripts/run_experiments.sh plots       one SVG per model (and per permute setting)
#   scripts/run_experiments.sh throughput  images/s of training on this machine
#
# Settings come from the environment (defaults in brackets):
#   S24         the CLI                                [build/sparse24]
#   DATA        CIFAR-10 binary folder or synthetic    [synthetic]
#   MODELS      models of the grid                     [resnet18 efficientnet_b0]
#   STRATEGIES  phase-2 strategies                     [continue rewind reinit dense]
#   PERMUTE     0 and/or 1 (channel permutations)      [0]
#   SEEDS       seeds                                  [1 42 98]
#   EPOCHS      phase 1 epochs; EPOCHS2 phase 2        [30; = EPOCHS]
#   BATCH       batch size                             [256]
#   THREADS     worker threads, 0 = all cores          [0]
#   OUT         folder of the runs                     [runs]
#   EXTRA       more `train` options (e.g. --limit-train 5000)
# A run whose phase2.safetensors exists is skipped; one with a state file but
# no result is resumed (so the grid can be stopped and restarted at will).
# Each run's log is OUT/<run>/log.txt. Nothing here needs a GPU.
set -eu

S24=${S24:-build/sparse24}
DATA=${DATA:-synthetic}
MODELS=${MODELS:-"resnet18 efficientnet_b0"}
STRATEGIES=${STRATEGIES:-"continue rewind reinit dense"}
PERMUTE=${PERMUTE:-0}
SEEDS=${SEEDS:-"1 42 98"}
EPOCHS=${EPOCHS:-30}
EPOCHS2=${EPOCHS2:-$EPOCHS}
BATCH=${BATCH:-256}
THREADS=${THREADS:-0}
OUT=${OUT:-runs}
EXTRA=${EXTRA:-}

[ -x "$S24" ] || { echo "run_experiments.sh: $S24 not found; run make first" >&2; exit 2; }

grid() {
  mkdir -p "$OUT"
  for model in $MODELS; do
    for perm in $PERMUTE; do
      for strategy in $STRATEGIES; do
        for seed in $SEEDS; do
          name="$model-$strategy"
          popt=""
          if [ "$perm" = 1 ]; then name="$name-permute"; popt="--permute"; fi
          dir="$OUT/$name-s$seed"
          if [ -f "$dir/phase2.safetensors" ]; then echo "done    $dir"; continue; fi
          resume=""
          [ -f "$dir/state.safetensors" ] && resume="--resume"
          echo "run     $dir $resume"
          mkdir -p "$dir"
          # shellcheck disable=SC2086
          "$S24" train --model "$model" --data "$DATA" --epochs "$EPOCHS" \
            --phase2-epochs "$EPOCHS2" --strategy "$strategy" $popt --seed "$seed" \
            --batch "$BATCH" --threads "$THREADS" --out "$dir" $resume $EXTRA \
            >> "$dir/log.txt" 2>&1 || { echo "failed  $dir (see $dir/log.txt)"; exit 1; }
          tail -n 2 "$dir/log.txt"
        done
      done
    done
  done
}

plots() {
  for model in $MODELS; do
    for perm in $PERMUTE; do
      suffix=""
      [ "$perm" = 1 ] && suffix="-permute"
      files=$(ls "$OUT"/"$model"-*"$suffix"-s*/train.csv 2>/dev/null | grep -v -- "-permute-s" || true)
      [ "$perm" = 1 ] && files=$(ls "$OUT"/"$model"-*-permute-s*/train.csv 2>/dev/null || true)
      [ -n "$files" ] || continue
      labels=""
      for s in $STRATEGIES; do
        ls "$OUT"/"$model-$s$suffix"-s*/train.csv > /dev/null 2>&1 &&
          labels="$labels --label $s=$OUT/$model-$s$suffix-s*/train.csv"
      done
      # shellcheck disable=SC2086
      "$S24" plot $files -o "$OUT/$model$suffix.svg" --title "$model$suffix on $DATA" $labels
    done
  done
}

# Images/s of training (phase 1, the model's forward, backward and SGD step;
# evaluation excluded), read from the per-epoch line on stderr.
throughput() {
  tmp=$(mktemp -d)
  "$S24" info | sed 's/^/    /'
  echo "    load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
  # model, image side, batch, training images
  for spec in "smallcnn 32 256 5120" "smallcnn 16 32 4000" "resnet18 32 256 512"; do
    set -- $spec
    cmd="$S24 train --model $1 --data synthetic --synthetic-size $2 --epochs 1 --phase2-epochs 0 --limit-train $4 --limit-test 256 --batch $3 --threads $THREADS --seed 1 --out $tmp/$1-$2"
    line=$($cmd 2>&1 | grep 'phase 1 epoch 1/1' || true)
    echo "    \$ $cmd"
    echo "    $line"
  done
  rm -rf "$tmp"
}

case "${1:-}" in
  grid) grid ;;
  plots) plots ;;
  throughput) throughput ;;
  *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
