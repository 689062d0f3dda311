#!/bin/sh
# readme_check.sh: runs, once, every command README.md shows that needs
# neither a GPU nor the CIFAR-10 data, as written, in order, in an empty
# folder (CI runs it after the tests). The inputs the README assumes are made
# first: model.safetensors and in.safetensors (a PyTorch fixture),
# weight.npy (a fixture), trained.safetensors (a tiny ResNet18 trained on the
# synthetic set). Commands that run for minutes get sizing options appended,
# listed below; the rest run unchanged. It does not check their output
# beyond the exit status: the tests do that.
# README_SET=device runs the other ones instead, on a GPU machine with the
# data (scripts/gpu/run_readme.sh): those needing a GPU or CIFAR-10, as
# written, with `cifar10/` a link to README_DATA (a converted CIFAR-10
# folder), each command's output kept in README_LOGS (one file per command);
# README_ONLY (an extended regular expression) keeps the matching commands.
# Usage: sh scripts/readme_check.sh [path/to/sparse24]   (default build/sparse24)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cli=${1:-$root/build/sparse24}
case "$cli" in /*) ;; *) cli=$(pwd)/$cli ;; esac
[ -x "$cli" ] || { echo "readme_check: $cli not found (build first)"; exit 1; }
work=$(mktemp -d /tmp/s24-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/setup"
ln -s "$cli" "$work/bin/sparse24"
PATH=$work/bin:$PATH
export PATH
cd "$work"

cp "$root/tests/fixtures/torch_small_f32.safetensors" model.safetensors
cp model.safetensors in.safetensors
cp "$root/tests/fixtures/random_128x64_seed1.npy" weight.npy
sparse24 train --model resnet18 --data synthetic --synthetic-size 8 --synthetic-train 32 \
    --synthetic-test 16 --batch 16 --epochs 1 --phase2-epochs 0 --strategy dense \
    --out setup/r >setup/train.log 2>&1 || { cat setup/train.log; exit 1; }
cp setup/r/phase1.safetensors trained.safetensors

# The README's commands: the "Command line" block, then the demo of "Fresh
# machine" (its setup and make steps are what CI runs anyway).
awk '/^## Command line/ {on = 1; next} /^## / {on = 0} on && /^    sparse24 /' "$root/README.md" |
    sed -e 's/^    //' -e 's/[[:space:]][[:space:]]*#.*$//' >commands.txt
grep -q 'build/sparse24 demo' "$root/README.md" && echo "sparse24 demo" >>commands.txt
[ -s commands.txt ] || { echo "readme_check: no commands found in README.md"; exit 1; }

set_=${README_SET:-ci}
if [ "$set_" = device ]; then
    [ -d "${README_DATA:-}" ] || { echo "readme_check: README_DATA must name a CIFAR-10 folder"; exit 1; }
    ln -s "$README_DATA" cifar10
    logs=${README_LOGS:-$work/logs}
    mkdir -p "$logs"
fi
ran=0 skipped=0 failed=0 n=0
while IFS= read -r cmd; do
    n=$((n + 1))
    extra="" skip=""
    case "$cmd" in
    *cifar10/*) skip="needs the CIFAR-10 data" ;;
    *"--device cuda"* | "sparse24 bench gemm"*) skip="needs a GPU" ;;
    # minutes as written: the same command on less work
    "sparse24 train --model smallcnn --data synthetic "*)
        extra="--synthetic-train 512 --synthetic-test 128 --synthetic-size 16" ;;
    "sparse24 bench cpu") extra="--sizes 256 --no-layers --repeats 1 --rounds 1" ;;
    "sparse24 bench train")
        extra="--device cpu --models smallcnn --batch 8 --size 16 --warmup 1 --group 1 --repeats 1" ;;
    "sparse24 bench permute") extra="--quick" ;;
    esac
    if [ -n "${README_ONLY:-}" ] && ! printf '%s\n' "$cmd" | grep -Eq "$README_ONLY"; then
        echo "skip (not in README_ONLY): $cmd"
        skipped=$((skipped + 1))
        continue
    fi
    if [ "$set_" = device ]; then # the complement, unchanged
        [ -n "$skip" ] && skip="" extra="" || skip="runs in CI"
    fi
    if [ -n "$skip" ]; then
        echo "skip ($skip): $cmd"
        skipped=$((skipped + 1))
        continue
    fi
    s=$(date +%s)
    if sh -c "$cmd $extra" >out.txt 2>&1 </dev/null; then
        [ "$set_" = device ] && { echo "\$ $cmd"; cat out.txt; } >"$logs/cmd$n.log"
        echo "ok   ($(( $(date +%s) - s )) s): $cmd${extra:+  [+ $extra]}"
    else
        echo "FAIL: $cmd${extra:+  [+ $extra]}"
        tail -n 15 out.txt | sed 's/^/   | /'
        [ "$set_" = device ] && { echo "\$ $cmd"; cat out.txt; } >"$logs/cmd$n.log"
        failed=$((failed + 1))
    fi
    ran=$((ran + 1))
done <commands.txt
echo "readme_check ($set_): $ran run, $skipped skipped, $failed failed"
[ $failed = 0 ]
