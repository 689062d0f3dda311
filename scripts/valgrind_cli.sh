#!/bin/sh
# valgrind_cli.sh CLI: the CLI on tiny inputs under valgrind (memcheck): prune,
# inspect, compress, decompress, permute (a .npy matrix and a safetensors
# tensor) and a smallcnn training run of two steps per phase on synthetic
# data (OneCycle needs more than one step). Fails on any
# memory error or anything definitely or indirectly lost (possibly lost and
# still reachable blocks of the thread pools are not counted). The suite runs
# under ASan in `make check`; this catches what ASan does not see in an
# uninstrumented build: uninitialised reads. Run by `make valgrind-cli`.
set -eu
cli=${1:-build-valgrind/sparse24}
fx=${S24_FIXTURES:-tests/fixtures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/s24vg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
vg() {
    name=$1
    shift
    s=$(date +%s)
    if ! valgrind -q --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --log-file="$tmp/$name.vg" "$cli" "$@" >"$tmp/$name.out" 2>&1; then
        echo "valgrind-cli: $name FAILED: sparse24 $*"
        tail -30 "$tmp/$name.out"
        cat "$tmp/$name.vg"
        exit 1
    fi
    echo "valgrind-cli: $name clean ($(( $(date +%s) - s )) s)"
}
in=$fx/torch_small_f16.safetensors
vg prune prune "$in" -o "$tmp/p.safetensors" --save-masks "$tmp/m.safetensors" -t 1
vg prune-masks prune "$in" -o "$tmp/p2.safetensors" --masks "$tmp/m.safetensors" -q -t 1
vg inspect inspect "$tmp/p.safetensors"
vg compress compress "$tmp/p.safetensors" -o "$tmp/c.safetensors"
vg decompress decompress "$tmp/c.safetensors" -o "$tmp/d.safetensors"
cmp "$tmp/p.safetensors" "$tmp/d.safetensors"
vg permute-npy permute "$fx/random_128x64_seed1.npy" -o "$tmp/perm.npy" --threads 1
vg permute-tensor permute "$in" --tensor 8.weight -o "$tmp/perm2.npy" --threads 1
vg train train --model smallcnn --data synthetic --epochs 1 --phase2-epochs 1 \
    --synthetic-train 16 --synthetic-test 8 --batch 8 --threads 1 \
    --device cpu --out "$tmp/train"
