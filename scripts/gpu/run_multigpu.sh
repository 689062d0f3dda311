#!/bin/bash
# run_multigpu.sh: one device call for the data-parallel scaling figures of
# issue 12 on a several-GPU host (nvidia-h200-x2/x4/x8): versions, the
# sparse24 build, tests/gpu/test_comm_gpu, then `sparse24 train --gpus N`
# for ResNet18 and EfficientNet-B0 at N = 1, 2, 4, 8 (up to the GPUs
# present), batch 256 per GPU, with synchronised BN and with --local-bn,
# into $OUT/multigpu-h200.csv (model,gpus,sync_bn,img_s,efficiency), the
# columns of docs/results/multigpu-h200.csv. NOT RUN YET: written before
# any several-GPU host was lent; read its logs before trusting a figure.
#
# img_s is the training throughput sparse24 reports for the last phase-1
# epoch ("epoch E/E: ... X img/s": images / the epoch's training seconds,
# evaluation excluded), on synthetic 32x32 images; the first epoch is a
# warm-up (cuDNN algorithm searches, NCCL set-up). efficiency =
# img_s(N) / (N x img_s(1)) against the same model's N = 1 run of this call.
# N = 1 has no BN all-reduce, so its run is written for sync_bn 1 and 0.
# Not measured here: NCCL bus bandwidth (nccl-tests is not in the tree).
#
# Run from the repository root on the GPU machine, with .debs carried (the
# cJSON packages the build needs, as for run_train_bench.sh):
#   scripts/gpu/run_multigpu.sh
# Environment:
#   OUT          output folder (default out): versions.txt, build.log,
#                test_comm_gpu.log, train-<model>-<N>-<sync>.log, multigpu-h200.csv
#   MODELS       default "resnet18 efficientnet_b0"
#   GPUS         default "1 2 4 8" (counts above the GPUs present are skipped)
#   STEPS        steps per epoch (default 40); EPOCHS (default 2)
#   BUILD=0      skip make when build/sparse24 exists
#   RUN_TIMEOUT  seconds for one training run (default 150), cut to what is
#                left before DEADLINE
#   DEADLINE     seconds from the start by which everything has ended
#                (default 570: the device tool stops a command at 600)
#   GIT_COMMIT=<id>  stamps the build (the device copy has no .git)
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
t0=$(date +%s)
DEADLINE=${DEADLINE:-570}
MODELS=${MODELS:-"resnet18 efficientnet_b0"}
GPUS=${GPUS:-"1 2 4 8"}
STEPS=${STEPS:-40}
EPOCHS=${EPOCHS:-2}
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
  echo "commit ${GIT_COMMIT:-unknown}"
  uname -a
  nvidia-smi 2>&1 | head -n 20
  nvidia-smi topo -m 2>&1 | head -n 12
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1
  (command -v nvcc >/dev/null && nvcc --version | tail -n 2) || echo "nvcc: not found"
  ls /usr/lib/x86_64-linux-gnu/libnccl* /usr/local/cuda/lib64/libnccl* 2>/dev/null
  echo "NCCL_NVLS_ENABLE is set to 0 by sparse24 for every rank, whatever it is here"
} > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')

if [ "${BUILD:-1}" != 0 ] || [ ! -x build/sparse24 ]; then
  stamp build
  make -j16 CUDA_ARCHS=90 USE_CUSPARSELT=0 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} all build/tests/gpu/test_comm_gpu 2>&1 |
    tee "$OUT/build.log" | grep -E "sparse24 build|error|warning"
  echo "build: rc ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s" | tee -a "$OUT/build.log"
fi

# the one-GPU checks of the NCCL path first (one rank, the init deadline)
if [ -x build/tests/gpu/test_comm_gpu ]; then
  stamp test_comm_gpu
  timeout "$(budget 60)" build/tests/gpu/test_comm_gpu > "$OUT/test_comm_gpu.log" 2>&1
  echo "test_comm_gpu: rc $?" | tee -a "$OUT/test_comm_gpu.log"
fi

CSV="$OUT/multigpu-h200.csv"
echo "model,gpus,sync_bn,img_s,efficiency" > "$CSV"
# run MODEL N SYNC: prints img/s of the last epoch ("" on failure)
run() {
  local m=$1 n=$2 sync=$3 log="$OUT/train-$1-$2-$3.log" dir
  dir=$(mktemp -d /tmp/s24mg.XXXXXX)
  local lim; lim=$(budget "${RUN_TIMEOUT:-150}")
  [ "$lim" -lt 20 ] && { echo "no time left for $m x $n" >&2; return; }
  local bn=()
  [ "$sync" = 0 ] && bn=(--local-bn)
  timeout "$lim" build/sparse24 train --model "$m" --gpus "$n" "${bn[@]}" \
    --batch $(( 256 * n )) --synthetic-train $(( 256 * n * STEPS )) --synthetic-test 256 \
    --epochs "$EPOCHS" --phase2-epochs 0 --out "$dir" > "$log" 2>&1
  echo "rc $?" >> "$log"
  rm -rf "$dir"
  grep -E "^phase 1 epoch $EPOCHS/$EPOCHS:" "$log" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/' | tail -n 1
}
for m in $MODELS; do
  one=""
  for n in $GPUS; do
    [ "$n" -gt "$ngpu" ] && { echo "skip $m x $n: $ngpu GPUs here"; continue; }
    for sync in 1 0; do
      if [ "$n" = 1 ] && [ "$sync" = 0 ]; then
        [ -n "$one" ] && echo "$m,1,0,$one,1.0000" >> "$CSV"
        continue
      fi
      stamp "$m x $n sync_bn $sync"
      v=$(run "$m" "$n" "$sync")
      [ -z "$v" ] && { echo "$m x $n sync $sync: no figure (see its log)"; continue; }
      [ "$n" = 1 ] && one=$v
      eff=$([ -n "$one" ] && awk -v a="$v" -v b="$one" -v n="$n" 'BEGIN { printf "%.4f", a / (n * b) }')
      echo "$m,$n,$sync,$v,${eff:-nan}" | tee -a "$CSV"
    done
  done
done
stamp finished
cat "$CSV"
