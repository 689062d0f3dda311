#!/bin/bash
# run_readme.sh: one device call that runs the README's commands needing a
# GPU or the CIFAR-10 data, as written (scripts/readme_check.sh with
# README_SET=device; the others run in CI): converts CIFAR-10 from
# .carry/data, builds with the image's cuSPARSELt, and keeps each command's
# output. Run from the repository root with .debs and .carry/data carried:
#   GIT_COMMIT=<id> [README_ONLY='train|eval|infer'] scripts/gpu/run_readme.sh
# Output in $OUT: readme.tar.gz (build.log, info.txt, readme.log, cmdN.log).
# The whole list (two
# 40-epoch trainings, one of them two-phase, eval, infer, bench gemm) may
# not fit one 10-minute call: README_ONLY splits it; README_DEADLINE
# (default 560 s from the start) stops the check so the logs come back.
set -o pipefail
OUT=${OUT:-out}
R=/tmp/readme-run
mkdir -p "$OUT" "$R/logs"
t0=$(date +%s)
. scripts/gpu/env.sh > "$R/env.log" 2>&1
# the image's cuSPARSELt wheel (header and library), as a user's pip install gives it
LT=image s24_cusparselt >> "$R/env.log" 2>&1
lt=""
[ -n "$CUSPARSELT_DIR" ] && lt="USE_CUSPARSELT=1 CUSPARSELT_DIR=$CUSPARSELT_DIR"
# shellcheck disable=SC2086
make -j"$(nproc)" CUDA_ARCHS=90 ${GIT_COMMIT:+GIT_COMMIT=$GIT_COMMIT} $lt all > "$R/build.log" 2>&1
echo "build: rc $?, $(( $(date +%s) - t0 )) s"
build/sparse24 info > "$R/info.txt" 2>&1
if [ ! -f /tmp/cifar/test_batch.bin ]; then
  python3 .carry/data/jpeg2bin.py .carry/data/cifar10-jpeg.tar.xz /tmp/cifar > "$R/data.log" 2>&1 ||
    { echo "data conversion failed"; tail -5 "$R/data.log"; }
fi
echo "data: $(( $(date +%s) - t0 )) s"
# cut short before the device tool's 600 s so the logs still come back
lim=$(( ${README_DEADLINE:-560} - ($(date +%s) - t0) ))
README_SET=device README_DATA=/tmp/cifar README_LOGS="$R/logs" \
  timeout -k 5 "$lim" sh scripts/readme_check.sh "$(pwd)/build/sparse24" 2>&1 | tee "$R/readme.log"
rc=${PIPESTATUS[0]}
echo "== done ($(( $(date +%s) - t0 )) s), rc $rc"
tar czf "$OUT/readme.tar.gz" -C "$R" build.log info.txt readme.log logs
exit "$rc"
