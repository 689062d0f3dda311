#!/bin/sh
# install_test.sh: `make install` gives a tree that stands alone. Builds the
# CPU configuration in its own folder, installs it under a temporary PREFIX
# and checks that nothing installed points into the source tree (RUNPATH,
# RPATH and resolved libraries of the binaries, the pkg-config files), then
# from outside the tree with a bare environment runs the installed CLI
# (--version, a tiny prune) and builds and runs the README's C example
# against the installed pkg-config files, shared and static; and checks that
# libsparse24.so exports exactly the functions the installed headers mark
# S24_API, no internal one. A GPU build
# (S24_INSTALL_MAKEFLAGS=USE_CUDA=auto) must link no GPU library (the CUDA
# runtime statically; cuBLASLt, cuSPARSELt, cuDNN and NCCL opened at run
# time), and its installed `sparse24 info` must start and name each
# library it cannot open: run from outside the build folder, it does not see
# the build's .deps/ copy, which stands in for a .deps/ moved away. Moves
# nothing: .deps/ is shared with other checkouts.
# Usage: sh tests/install_test.sh  (BUILD, default build-install; extra make
# variables in S24_INSTALL_MAKEFLAGS, default USE_CUDA=0).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build-install}
flags=${S24_INSTALL_MAKEFLAGS:-USE_CUDA=0}
work=$(mktemp -d /tmp/s24-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail=0
bad() { echo "install_test: FAIL: $*"; fail=1; }

# shellcheck disable=SC2086
make -C "$root" --no-print-directory BUILD="$build" $flags WERROR=1 -j2 install \
    PREFIX="$prefix" >"$work/make.log" 2>&1 || { tail -n 30 "$work/make.log"; exit 1; }

# the source tree, and where its .deps link points
tree="$root"
[ -e "$root/.deps" ] && tree="$tree $(cd "$root/.deps" && pwd -P)"
names_tree() { # FILE TEXT: TEXT names a folder of the tree?
    for t in $tree; do case "$2" in *"$t"*) bad "$1 names $t: $2"; return 0 ;; esac; done
    return 0
}
for f in "$prefix/bin/sparse24" "$prefix/lib/libsparse24.so"; do
    [ -x "$f" ] || { bad "$f not installed"; continue; }
    paths=$(readelf -d "$f" | grep -E 'R(UN)?PATH' || true)
    [ -z "$paths" ] || names_tree "$f (readelf -d)" "$paths"
    names_tree "$f (ldd)" "$(ldd "$f" | grep -v 'not found' || true)"
    ! ldd "$f" | grep -q 'not found' || bad "$f: $(ldd "$f" | grep 'not found')"
done
gpulibs='libcudart|libcublas|libcudnn|libcusparseLt|libnccl'
for f in "$prefix/bin/sparse24" "$prefix/lib/libsparse24.so"; do
    ! ldd "$f" | grep -Eq "$gpulibs" ||
        bad "$f links a library it must open at run time: $(ldd "$f" | grep -E "$gpulibs")"
done
for f in "$prefix"/lib/pkgconfig/*.pc; do names_tree "$f" "$(cat "$f")"; done
[ -f "$prefix/lib/libsparse24.a" ] || bad "libsparse24.a not installed"

# libsparse24.so exports what the installed headers declare and nothing else
# (S24_API, everything else built hidden): each S24_API function is defined
# there, and each symbol it defines is named in a header. OpenMP's named
# critical sections (.gomp_critical_user_*) are the compiler's, process-wide
# by design.
so="$prefix/lib/libsparse24.so"
decl=$(grep -h '^S24_API' "$prefix"/include/sparse24/*.h | grep '(' |
    sed -E 's/^[^(]*[ *](s24_[A-Za-z0-9_]+)\(.*/\1/' | sort -u)
defs=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^\.gomp_critical_user_' | sort -u)
named=$(cat "$prefix"/include/sparse24/*.h | grep -oE 's24_[A-Za-z0-9_]+' | sort -u)
[ -n "$decl" ] && [ -n "$defs" ] || bad "no S24_API declarations or no exports ($so)"
unexported=$(printf '%s\n' "$decl" | grep -vxF "$defs" || true)
[ -z "$unexported" ] || bad "declared S24_API but not exported by $so: $unexported"
internal=$(printf '%s\n' "$defs" | grep -vxF "$named" || true)
[ -z "$internal" ] || bad "$so exports what no installed header declares: $internal"

# run from elsewhere, with nothing of the build's environment
cd "$work"
cp "$root/tests/fixtures/torch_small_f32.safetensors" in.safetensors
run() { env -i PATH=/usr/bin:/bin HOME="$work" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" "$@"; }
run "$prefix/bin/sparse24" --version | grep -q '^sparse24 ' || bad "sparse24 --version"
run "$prefix/bin/sparse24" prune in.safetensors -o out.safetensors -q >prune.txt 2>&1 ||
    bad "installed prune: $(cat prune.txt)"
grep -q '^pruned 2 of 16 tensors to 2:4' prune.txt || bad "prune said: $(cat prune.txt)"

# a GPU build: the libraries opened at run time, and said missing when they are
run "$prefix/bin/sparse24" info >info.txt 2>&1 || bad "installed info: $(cat info.txt)"
if grep -q '^cusparselt: ' info.txt; then
    # from outside the build folder: no .deps/ fallback, so unless the
    # system has cuSPARSELt on the loader path it is reported missing
    if ! ldconfig -p 2>/dev/null | grep -q 'libcusparseLt\.so\.0'; then
        grep -q '^cusparselt: not loaded: cuSPARSELt (libcusparseLt.so.0)' info.txt ||
            bad "info without cuSPARSELt said: $(grep cusparselt info.txt)"
    fi
    splt=$(find -L "$root/.deps" -name 'libcusparseLt.so.0' 2>/dev/null | head -n 1)
    if [ -n "$splt" ]; then # pointed at a copy, it loads
        run S24_CUSPARSELT_LIB="$splt" "$prefix/bin/sparse24" info >info2.txt 2>&1 ||
            bad "info with S24_CUSPARSELT_LIB: $(cat info2.txt)"
        grep -q '^cusparselt: [0-9.]* loaded from ' info2.txt ||
            bad "S24_CUSPARSELT_LIB=$splt: $(grep cusparselt info2.txt)"
    fi
fi
if grep -Eq '^(cusparselt|cudnn|cublaslt|nccl): ' info.txt; then
    away="S24_CUSPARSELT_LIB=/nonexistent/libcusparseLt.so.0 S24_CUDNN_LIB=/nonexistent/libcudnn.so.9"
    away="$away S24_CUBLASLT_LIB=/nonexistent/libcublasLt.so S24_NCCL_LIB=/nonexistent/libnccl.so.2"
    # shellcheck disable=SC2086
    run $away "$prefix/bin/sparse24" info >info3.txt 2>&1 ||
        bad "info, libraries away: $(cat info3.txt)"
    for l in 'cusparselt: not loaded: cuSPARSELt (libcusparseLt.so.0)' \
             'cudnn: not loaded: cuDNN (libcudnn.so.9)' \
             'cublaslt: not loaded: cuBLASLt (libcublasLt.so.' \
             'nccl: not loaded: NCCL (libnccl.so.2)'; do
        ! grep -q "^${l%%:*}: " info.txt || grep -qF "$l" info3.txt ||
            bad "info with ${l%%:*} away lacks '$l': $(cat info3.txt)"
    done
    # shellcheck disable=SC2086
    run $away "$prefix/bin/sparse24" --version | grep -q '^sparse24 ' || bad "--version, libraries away"
    # a CPU command of a GPU build, every GPU library away (and, here, no driver)
    # shellcheck disable=SC2086
    run $away "$prefix/bin/sparse24" prune in.safetensors -o out2.safetensors -q >prune2.txt 2>&1 ||
        bad "prune, libraries away: $(cat prune2.txt)"
fi
if grep -q '^cuda runtime: ' info.txt; then
    grep -q '^cuda runtime: .*(linked statically)' info.txt ||
        bad "info's runtime line: $(grep '^cuda runtime' info.txt)"
fi

# the README's C example, exactly as the README shows it
awk '/^```c$/ {on = 1; next} /^```$/ {on = 0} on' "$root/README.md" >example.c
[ -s example.c ] || bad "no C example in README.md"
line=$(grep -E '^    cc example\.c ' "$root/README.md" | head -n 1 | sed 's/^    //')
[ -n "$line" ] || bad "no 'cc example.c' line in README.md"
run sh -c "$line -o example" >cc.txt 2>&1 || bad "README's build line '$line': $(cat cc.txt)"
run ./example >ex.txt 2>&1 || bad "example: $(cat ex.txt)"
grep -q '^compressed 17408 bytes (dense 32768)' ex.txt || bad "example printed: $(cat ex.txt)"

# static: the archive, no libsparse24.so needed
static=$(grep -E '^    cc example\.c .*sparse24-static' "$root/README.md" | head -n 1 | sed 's/^    //')
[ -n "$static" ] || bad "no static build line (sparse24-static) in README.md"
run sh -c "$static -o example_static" >cc.txt 2>&1 || bad "'$static': $(cat cc.txt)"
! readelf -d example_static | grep -q 'libsparse24' || bad "example_static needs libsparse24.so"
run ./example_static | grep -q '^compressed 17408 bytes' || bad "example_static did not run"
# --static on the shared package lists the same libraries the archive needs
want=$(run pkg-config --libs sparse24-static | tr ' ' '\n' | grep -v 'libsparse24\.a' | sort -u)
have=$(run pkg-config --static --libs sparse24 | tr ' ' '\n' | sort -u)
missing=$(printf '%s\n' "$want" | grep -vxF "$have" || true)
[ -z "$missing" ] || bad "pkg-config --static --libs sparse24 lacks: $missing"

[ $fail = 0 ] && echo "install_test: the installed tree stands alone ($prefix)"
exit $fail
