#!/bin/bash
# run_infer_accuracy.sh: one device call for issue 11's accuracy bar on
# trained networks: each model trained briefly on CIFAR-10 (a dense phase 1,
# then 2:4 `continue`, by scripts/gpu/exp_group.sh, so data, build and
# commands are the grid's), then `sparse24 infer --device cuda` on the 2:4
# checkpoint over the 10,000 test images, fp16 and bf16, paths sparse and
# auto: each plan's accuracy and on how many images it predicts the class of
# the model's own fp32 eval forward (the bar: >= 99.9 % for fp16/bf16).
# Run from the repository root on the GPU machine with .debs and .carry/data
# carried:
#   GIT_COMMIT=<id> [MODELS='resnet18 efficientnet_b0'] [ACC_EPOCHS1=15]
#     [ACC_EPOCHS2=5] [DTYPES='fp16 bf16'] [PATHS='sparse auto'] \
#     scripts/gpu/run_infer_accuracy.sh
# Output in $OUT: infer-accuracy-h200.csv (`sparse24 infer --csv`'s rows:
# model,device,dtype,path,images,batch,acc_plan,acc_dense_plan,acc_eval,
# agree_plan,agree_dense_plan,plan_ms,dense_ms,threads,agree_plan_dense), infer-accuracy-layers.csv
# (`--layers`), infer-accuracy.log (every infer run's whole report),
# train.log (the training calls' summaries, with the epochs), build.log and
# versions.txt.
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
t0=$(date +%s)
MODELS=${MODELS:-"resnet18 efficientnet_b0"}
E1=${ACC_EPOCHS1:-15} E2=${ACC_EPOCHS2:-5}
DTYPES=${DTYPES:-"fp16 bf16"} PATHS=${PATHS:-"sparse auto"}
BATCH=${BATCH:-256}
ACC_DIR=build/acc
for m in $MODELS; do
  echo "== train $m: $E1 dense + $E2 2:4 continue epochs ($(( $(date +%s) - t0 )) s)"
  OUT=/tmp/acc-train EXP_DIR=$ACC_DIR EXP_EPOCHS1=$E1 EXP_EPOCHS2=$E2 EXP_RUNS=continue \
    DEADLINE=${TRAIN_DEADLINE:-240} scripts/gpu/exp_group.sh "$m" 1 2>&1 |
    grep -v "^  ==" | tee -a "$OUT/train.log" | tail -4
done
. scripts/gpu/env.sh > /dev/null
s24_cusparselt
echo "== build with cuSPARSELt ($(( $(date +%s) - t0 )) s)"
make -j16 WERROR=1 CUDA_ARCHS=90 USE_CUDA=1 USE_CUSPARSELT=1 \
  ${CUSPARSELT_DIR:+CUSPARSELT_DIR=$CUSPARSELT_DIR} ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} all \
  > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
{ nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
  build/sparse24 info; date -u; echo "commit $GIT_COMMIT"; } > "$OUT/versions.txt" 2>&1
CSV=$OUT/infer-accuracy-h200.csv
for m in $MODELS; do
  ck=$ACC_DIR/${m}_s1/continue/phase2.safetensors
  [ -f "$ck" ] || { echo "no checkpoint $ck (training did not finish)"; continue; }
  for dt in $DTYPES; do
    for p in $PATHS; do
      echo "== infer $m $dt $p ($(( $(date +%s) - t0 )) s)"
      r=/tmp/acc-infer.txt
      timeout ${INFER_TIMEOUT:-120} build/sparse24 infer --model "$m" --checkpoint "$ck" \
        --data /tmp/cifar --device cuda --dtype "$dt" --path "$p" --batch "$BATCH" --repeats 20 \
        --csv "$CSV" --layers "$OUT/infer-accuracy-layers.csv" > "$r" 2>&1
      rc=$?
      { echo "== $m $dt $p: rc $rc"; cat "$r"; } >> "$OUT/infer-accuracy.log"
      head -5 "$r"
    done
  done
done
cat "$CSV"
echo "== done ($(( $(date +%s) - t0 )) s)"
