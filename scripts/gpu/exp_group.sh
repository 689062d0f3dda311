#!/bin/bash
# exp_group.sh: one device call of the pruning grid (issue 10, docs/experiments.md)
# for one (model, seed) group: build, phase 1 dense, then the group's phase-2
# runs started at once from phase 1's checkpoint, each to its own folder,
# all stopped cleanly by DEADLINE; the CSVs, prune reports and logs packed
# into one tar.gz in $OUT. Nothing here decides what is pending: scripts/exp.sh
# (host side) reads docs/results/pruning-cifar10/runs.csv and prints the call.
#
#   scripts/gpu/exp_group.sh MODEL SEED      MODEL: resnet18 | efficientnet_b0 (smallcnn: tests)
#
# Run from the repository root on the GPU machine with .debs and .carry/data
# carried. The runs live in $EXP_DIR/MODEL_sSEED/<strategy>/ (an ignored path,
# so a machine still warm from an earlier call keeps them): a finished run
# there is not run again, an interrupted one is resumed (--resume), and phase
# 1 is reused when its checkpoint is there. On a fresh machine phase 1 is
# trained again; with --deterministic it gives the same bits on the same GPU
# model, driver and cuDNN (tests/gpu/test_train_gpu.c), hence the same masks:
# every call records phase 1's sha256 and scripts/exp.sh checks they agree.
#
# Strategies (phase 2, from MODEL_sSEED/dense_phase1/phase1.safetensors):
#   continue rewind reinit continue_perm rewind_perm dense_control continue_10
# Environment (defaults in brackets):
#   EXP_RUNS      the phase-2 strategies of this call, or none    [all seven]
#   EXP_PART      k/n: every n-th of EXP_RUNS from the k-th        [1/1]
#   DEADLINE      seconds from the start by which all has stopped  [580]
#   EXP_DEVICE    cuda | cpu                                       [cuda]
#   EXP_DATA      CIFAR-10 binary folder, or synthetic             [/tmp/cifar]
#   EXP_EPOCHS1 / EXP_EPOCHS2 / EXP_EPOCHS_SHORT                   [40 / 40 / 10]
#   EXP_MODEL_ARGS   more `train` options for every run (e.g. --batch 16)
#   EXP_PERMUTE_ARGS more options for the --permute runs (e.g. --permute-budget 1)
#   EXP_GPU_LIST  GPU ordinals: phase 1 on the first, phase-2 run i on the (i mod n)-th
#                 [all that nvidia-smi lists]; two groups can share a call on a
#                 machine of several GPUs with disjoint lists (make and the data
#                 conversion take a lock with flock, so the second waits and finds
#                 them done)
#   EXP_THREADS   --threads of each phase-2 run                    [cores / runs, at least 2]
#   EXP_DETERMINISTIC2=1  phase 2 with --deterministic too (phase 1 always has it)
#   EXP_DIR       where the runs live                              [build/exp]
#   EXP_DRY=1     print the manifest (the commands) and exit, running nothing
#   S24           the CLI [build/sparse24]; BUILD=0 skips make (default on the CPU)
#   GIT_COMMIT    stamps the build and the manifest (the device copy has no .git)
# Files in $OUT: exp_MODEL_sSEED_<time>.tar.gz (MODEL_sSEED/manifest.csv,
# versions.txt, timeline.txt, phase1.sha256, and per run train.csv,
# prune_report.csv, log.txt) and summary_MODEL_sSEED_<time>.txt.
# Exit status: 0 when every run asked for is done, 1 otherwise, 2 bad usage.
set -o pipefail
bad() { echo "$0: $*" >&2; exit 2; }
[ $# -eq 2 ] || bad "usage: $0 MODEL SEED   (MODEL: resnet18 | efficientnet_b0)"
MODEL=$1 SEED=$2
case $MODEL in resnet18|efficientnet_b0|smallcnn) ;; *) bad "MODEL $MODEL: expected resnet18 or efficientnet_b0" ;; esac
case $SEED in ''|*[!0-9]*) bad "SEED $SEED: expected a non-negative integer" ;; esac
ALL="continue rewind reinit continue_perm rewind_perm dense_control continue_10"
OUT=${OUT:-out}
DEADLINE=${DEADLINE:-580}
EXP_DEVICE=${EXP_DEVICE:-cuda}
EXP_DATA=${EXP_DATA:-/tmp/cifar}
E1=${EXP_EPOCHS1:-40} E2=${EXP_EPOCHS2:-40} ES=${EXP_EPOCHS_SHORT:-10}
EXP_DIR=${EXP_DIR:-build/exp}
S24=${S24:-build/sparse24}
MARGIN=15 # seconds kept for stopping and packing
for v in "$DEADLINE" "$E1" "$E2" "$ES"; do
  case $v in ''|*[!0-9]*) bad "DEADLINE and EXP_EPOCHS*: expected non-negative integers" ;; esac
done
case $EXP_DEVICE in cuda|cpu) ;; *) bad "EXP_DEVICE $EXP_DEVICE: expected cuda or cpu" ;; esac
[ "$EXP_DEVICE" = cuda ] && BUILD=${BUILD:-1} || BUILD=${BUILD:-0}

# the strategies of this call: EXP_RUNS, then every n-th of them from the k-th
RUNS=""
[ "$EXP_RUNS" = none ] && EXP_RUNS=" "
for s in ${EXP_RUNS:-$ALL}; do
  case " $ALL " in *" $s "*) RUNS="$RUNS $s" ;; *) bad "EXP_RUNS: unknown strategy $s (expected: $ALL)" ;; esac
done
PART=${EXP_PART:-1/1}
pk=${PART%/*} pn=${PART#*/}
case "$pk/$pn" in [1-9]/[1-9]|[1-9]/[1-9][0-9]) ;; *) bad "EXP_PART $PART: expected k/n" ;; esac
[ "$pk" -le "$pn" ] || bad "EXP_PART $PART: k above n"
i=0 sel=""
for s in $RUNS; do [ $(( i % pn )) -eq $(( pk - 1 )) ] && sel="$sel $s"; i=$(( i + 1 )); done
RUNS=${sel# }

G="$MODEL"_s"$SEED"
GD=$EXP_DIR/$G
P1=$GD/dense_phase1
[ "$EXP_DATA" = synthetic ] && DATA=synthetic || DATA=$EXP_DATA
COMMON="--device $EXP_DEVICE --model $MODEL --data $DATA --seed $SEED"
# phase 1 must give the same bits in every call (the masks come from it);
# phase 2 need not, and may then take cuDNN's fastest algorithms
DET2=""
[ "${EXP_DETERMINISTIC2:-0}" = 1 ] && DET2=" --deterministic"

# strategy -> "epochs|train options"
spec() {
  case $1 in
    continue) echo "$E2|--strategy continue" ;;
    rewind) echo "$E2|--strategy rewind" ;;
    reinit) echo "$E2|--strategy reinit" ;;
    continue_perm) echo "$E2|--strategy continue --permute $EXP_PERMUTE_ARGS" ;;
    rewind_perm) echo "$E2|--strategy rewind --permute $EXP_PERMUTE_ARGS" ;;
    dense_control) echo "$E2|--strategy dense" ;;
    continue_10) echo "$ES|--strategy continue" ;;
  esac
}
# the exact command of a run (without --resume, --gpu and --threads, which
# change neither the settings nor, on the GPU, the bits)
cmd_of() {
  local c sp
  if [ "$1" = dense_phase1 ]; then
    c="$S24 train $COMMON --deterministic --epochs $E1 --phase2-epochs 0 --strategy dense --out $P1"
    c="$c $EXP_MODEL_ARGS"
  else
    sp=$(spec "$1")
    c="$S24 train $COMMON$DET2 --from $P1/phase1.safetensors --epochs 0 --phase2-epochs ${sp%%|*}"
    c="$c ${sp#*|} --out $GD/$1 $EXP_MODEL_ARGS"
  fi
  echo "$c" | tr -s ' ' | sed 's/ $//'
}
epochs_of() {
  local sp
  if [ "$1" = dense_phase1 ]; then echo "$E1"; else sp=$(spec "$1"); echo "${sp%%|*}"; fi
}

if [ "${EXP_DRY:-0}" = 1 ]; then
  echo "strategy,epochs,command"
  for s in dense_phase1 $RUNS; do echo "$s,$(epochs_of $s),$(cmd_of $s)"; done
  exit 0
fi

t0=$(date +%s)
left() { echo $(( DEADLINE - ($(date +%s) - t0) )); }
mkdir -p "$OUT" "$GD"
TL=$GD/timeline.txt
: > "$TL"
stamp() { echo "== $1 ($(( $(date +%s) - t0 )) s)" | tee -a "$TL"; }
stamp "exp_group $G: runs [$RUNS], device $EXP_DEVICE, deadline $DEADLINE s," \
      "commit ${GIT_COMMIT:-unknown}"

# ---------------------------------------------------------------- setup
if [ "$EXP_DEVICE" = cuda ]; then
  . scripts/gpu/env.sh
fi
{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  echo "exp_group: $G, runs $RUNS, epochs $E1 / $E2 / $ES, commit ${GIT_COMMIT:-unknown}"
  [ "$EXP_DEVICE" = cuda ] &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
} > "$GD/versions.txt"
# one data conversion and one make at a time (two groups in one call); without
# flock on the image, a single group needs no lock
LOCKED=""
command -v flock >/dev/null && LOCKED="flock /tmp/exp_group.lock"
if [ "$DATA" != synthetic ] && [ ! -f "$DATA/test_batch.bin" ]; then
  stamp "data"
  if [ ! -f .carry/data/cifar10-jpeg.tar.xz ] || [ ! -f .carry/data/jpeg2bin.py ]; then
    echo "exp_group: $DATA missing and no .carry/data/{cifar10-jpeg.tar.xz,jpeg2bin.py}" \
         "(carry .carry/data)" >&2
    exit 1
  fi
  # into a temporary folder, renamed when complete: a half-written one is never used
  $LOCKED sh -c '[ -f "$1/test_batch.bin" ] || { rm -rf "$1.tmp" &&
    python3 .carry/data/jpeg2bin.py .carry/data/cifar10-jpeg.tar.xz "$1.tmp" &&
    rm -rf "$1" && mv "$1.tmp" "$1"; }' sh "$DATA" > "$GD/data.log" 2>&1 || { tail -n 5 "$GD/data.log"; exit 1; }
fi
if [ "$DATA" != synthetic ]; then
  echo "data: $DATA, test_batch.bin sha256 $(sha256sum "$DATA/test_batch.bin" | cut -d' ' -f1)" \
    >> "$GD/versions.txt"
fi
if [ "$BUILD" != 0 ]; then
  stamp "build"
  $LOCKED make -j"$(nproc)" CUDA_ARCHS=90 USE_CUSPARSELT=0 \
    ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} > "$GD/build.log" 2>&1 ||
    { tail -n 20 "$GD/build.log"; exit 1; }
fi
[ -x "$S24" ] || { echo "exp_group: $S24 not found (BUILD=0?)" >&2; exit 1; }
"$S24" info >> "$GD/versions.txt" 2>&1
export OMP_WAIT_POLICY=passive # several processes share the cores (docs/training.md)

# ---------------------------------------------------------------- runs
# status of a run folder: done | partial | failed | pending, and epochs done
run_state() {
  local d=$1 e=$2 ph n
  [ "$3" = dense_phase1 ] && ph=1 || ph=2
  n=0
  [ -f "$d/train.csv" ] &&
    n=$(awk -F, -v p=$ph 'NR > 1 && $1 == p && $2 > 0 { k++ } END { print k + 0 }' "$d/train.csv")
  if [ -f "$d/phase2.safetensors" ] && [ "$n" -ge "$e" ]; then echo "done $n"
  elif [ -f "$d/state.safetensors" ]; then echo "partial $n"
  elif [ -f "$d/log.txt" ]; then echo "failed $n"
  else echo "pending $n"; fi
}
# start a run in the background: $1 strategy, $2 seconds, $3 extra options
start_run() {
  local s=$1 lim=$2 extra=$3 d resume="" st
  [ "$s" = dense_phase1 ] && d=$P1 || d=$GD/$s
  st=$(run_state "$d" "$(epochs_of "$s")" "$s")
  case $st in
    done*) echo "reused" > "$d/how"; return 0 ;;
    partial*) resume=--resume ;;
    *) rm -rf "$d" ;;
  esac
  mkdir -p "$d"
  echo "$(cmd_of "$s")" > "$d/cmd.txt"
  echo "${resume:-fresh}" > "$d/how"
  # shellcheck disable=SC2046
  ( timeout -s TERM -k 10 "$lim" $(cmd_of "$s") $resume $extra >> "$d/log.txt" 2>&1
    echo $? > "$d/rc" ) &
}

GPU_LIST=""
if [ "$EXP_DEVICE" = cuda ]; then
  GPU_LIST=${EXP_GPU_LIST:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' |
                             awk '{ for (i = 0; i < $1; i++) printf "%d ", i }')}
  GPU_LIST=${GPU_LIST:-0}
fi
stamp "phase 1 (dense, $E1 epochs)"
rm -f "$P1/rc"
lim=$(( $(left) - MARGIN ))
if [ "$lim" -lt 20 ]; then
  stamp "no time left for phase 1"
else
  p1gpu=""
  [ "$EXP_DEVICE" = cuda ] && p1gpu="--gpu ${GPU_LIST%% *}"
  start_run dense_phase1 "$lim" "$p1gpu"
  wait
fi
p1state=$(run_state "$P1" "$E1" dense_phase1)
stamp "phase 1: $p1state ($(cat "$P1/how" 2>/dev/null))"
sha=""
[ -f "$P1/phase1.safetensors" ] && sha=$(sha256sum "$P1/phase1.safetensors" | cut -d' ' -f1)
echo "$sha" > "$GD/phase1.sha256"

if [ "${p1state%% *}" = "done" ] && [ -n "$RUNS" ]; then
  n=0
  for s in $RUNS; do n=$(( n + 1 )); done
  cores=$(nproc)
  th=${EXP_THREADS:-$(( cores / n > 2 ? cores / n : 2 ))}
  read -r -a gl <<< "$GPU_LIST"
  lim=$(( $(left) - MARGIN ))
  stamp "phase 2: $n runs at once on GPU(s) ${GPU_LIST:-none}, $th threads each, at most $lim s"
  i=0
  for s in $RUNS; do
    rm -f "$GD/$s/rc" "$GD/$s.skipped"
    extra="--threads $th"
    [ "$EXP_DEVICE" = cuda ] && extra="$extra --gpu ${gl[$(( i % ${#gl[@]} ))]}"
    if [ "$lim" -lt 20 ]; then echo "skipped: no time left" > "$GD/$s.skipped"
    else start_run "$s" "$lim" "$extra"; fi
    i=$(( i + 1 ))
  done
  wait
  stamp "phase 2 ended"
fi

# ---------------------------------------------------------------- pack
# manifest: one row per run of this call (CSV; the command is the last field, quoted)
M=$GD/manifest.csv
echo "model,seed,strategy,epochs,status,epochs_done,exit,how,commit,phase1_sha256,command" > "$M"
all_done=1
for s in dense_phase1 $RUNS; do
  [ "$s" = dense_phase1 ] && d=$P1 || d=$GD/$s
  e=$(epochs_of "$s")
  read -r status done_n <<< "$(run_state "$d" "$e" "$s")"
  [ -f "$GD/$s.skipped" ] && status=skipped
  [ "$status" = "done" ] || all_done=0
  rc=$(cat "$d/rc" 2>/dev/null) how=$(cat "$d/how" 2>/dev/null)
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"%s"\n' "$MODEL" "$SEED" "$s" "$e" "$status" "$done_n" \
    "$rc" "$how" "${GIT_COMMIT:-unknown}" "$sha" "$(cmd_of "$s")" >> "$M"
done
stamp "pack"
tag=$(date -u +%Y%m%dT%H%M%S)
S=$OUT/summary_${G}_$tag.txt
{
  echo "exp_group $G, commit ${GIT_COMMIT:-unknown}, phase 1 sha256 ${sha:-none}"
  printf "%-14s %-8s %6s %10s %9s %9s\n" strategy status epochs after_prune final best
  for s in dense_phase1 $RUNS; do
    [ "$s" = dense_phase1 ] && d=$P1 || d=$GD/$s
    st=$(awk -F, -v s="$s" '$3 == s { print $5 }' "$M")
    [ "$s" = dense_phase1 ] && ph=1 || ph=2
    awk -F, -v p=$ph -v s="$s" -v st="$st" '
      NR > 1 && $1 == p && $2 == 0 { a0 = $7 }
      NR > 1 && $1 == p && $2 > 0 { n++; last = $7; if (n == 1 || $7 > best) best = $7 }
      END { printf "%-14s %-8s %6d %10s %9s %9s\n", s, st, n, a0 == "" ? "-" : a0,
                   n ? last : "-", n ? best : "-" }' \
      "$d/train.csv" 2>/dev/null || printf "%-14s %-8s %6s\n" "$s" "$st" "-"
  done
  echo "timeline:"
  sed 's/^/  /' "$TL"
} > "$S"
cat "$S"
{
  printf '%s\n' "$G/manifest.csv" "$G/versions.txt" "$G/timeline.txt" "$G/phase1.sha256"
  for s in dense_phase1 $RUNS; do
    for f in train.csv prune_report.csv log.txt; do
      if [ -f "$GD/$s/$f" ]; then echo "$G/$s/$f"; fi
    done
  done
} > "$GD/files.txt"
( cd "$EXP_DIR" && tar czf - -T "$G/files.txt" ) > "$OUT/exp_${G}_$tag.tar.gz" ||
  echo "exp_group: packing failed" >&2
stamp "done"
[ "$all_done" = 1 ]
