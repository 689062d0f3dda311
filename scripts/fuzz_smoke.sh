#!/bin/sh
# fuzz_smoke.sh BIN_DIR: run each fuzz target of BIN_DIR (built by `make
# fuzz`) over a scratch copy of its committed seed corpus (fuzz/corpus/<t>/,
# so new finds never land in the tree) plus a fixed 20000 mutations with a
# fixed seed. Fails on the first crash, leak, sanitizer report or timeout and
# shows the end of that target's log. FUZZ_RUNS overrides the count.
set -eu
bin=${1:-build-fuzz/fuzz}
runs=${FUZZ_RUNS:-20000}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/s24fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
for t in safetensors npy cifar decompress cli_values; do
    mkdir -p "$scratch/$t"
    cp fuzz/corpus/$t/* "$scratch/$t/"
    s=$(date +%s)
    # cifar records are 3073 bytes: room for two
    if ! "$bin/fuzz_$t" "$scratch/$t" -runs="$runs" -seed=1 -max_len=8192 -timeout=10 \
        -artifact_prefix="$scratch/" >"$scratch/$t.log" 2>&1; then
        echo "fuzz-smoke: fuzz_$t FAILED; the end of its log:"
        tail -40 "$scratch/$t.log"
        ls "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* 2>/dev/null || true
        exit 1
    fi
    done_line=$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$scratch/$t.log")
    echo "fuzz-smoke: fuzz_$t: $done_line, $(( $(date +%s) - s )) s"
done
