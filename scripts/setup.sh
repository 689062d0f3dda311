#!/usr/bin/env bash
# sparse24 set-up: installs what the build needs on a fresh Debian 12 machine.
# Debian packages: compiler, OpenBLAS, oneDNN (the CPU convolutions), cJSON,
# pkg-config, clang and valgrind (fuzzing and memory checks in `make check`).
# Python (PyPI): the cuSPARSELt wheel, unpacked under .deps/ so the sparse GPU path
# compiles and links even on a machine without a GPU.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

pkgs="build-essential pkg-config libopenblas-dev libdnnl-dev libcjson-dev python3-numpy"
# clang + compiler-rt + libomp: the libFuzzer targets (make fuzz-smoke);
# valgrind: scripts/valgrind_cli.sh
pkgs="$pkgs clang libclang-rt-14-dev libomp-dev valgrind"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# cuSPARSELt from PyPI (0.8.1+: its header compiles as C and fixes an H100
# regression of 0.8.0). Optional: the build works without it.
if [ "${S24_NO_CUSPARSELT:-0}" != 1 ] && [ ! -f .deps/cusparselt/include/cusparseLt.h ]; then
  echo "setup: fetching the cuSPARSELt wheel (nvidia-cusparselt-cu13) into .deps/"
  rm -rf .deps/wheel && mkdir -p .deps/wheel
  if [ -n "${S24_CUSPARSELT_WHEEL:-}" ]; then cp "$S24_CUSPARSELT_WHEEL" .deps/wheel/; fi
  if ls .deps/wheel/*.whl >/dev/null 2>&1 || python3 -m pip download -q --no-deps --only-binary=:all: -d .deps/wheel \
        'nvidia-cusparselt-cu13>=0.8.1' 2>/dev/null; then
    python3 - <<'PY'
import glob, zipfile, os, shutil
whl = glob.glob('.deps/wheel/*.whl')[0]
out = '.deps/cusparselt'
shutil.rmtree(out, ignore_errors=True)
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        # 0.8.x wheels use nvidia/cusparselt/, 0.9+ use nvidia/cu13/
        parts = n.split('/')
        if n.endswith('/') or len(parts) < 4 or parts[0] != 'nvidia':
            continue
        if parts[2] not in ('include', 'lib'):
            continue
        rel = '/'.join(parts[2:])
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(n) as src, open(dst, 'wb') as f:
            shutil.copyfileobj(src, f)
lib = os.path.join(out, 'lib')
for f in os.listdir(lib):
    if f.startswith('libcusparseLt.so.') and not os.path.exists(os.path.join(lib, 'libcusparseLt.so')):
        os.symlink(f, os.path.join(lib, 'libcusparseLt.so'))
open(os.path.join(out, 'VERSION'), 'w').write(os.path.basename(whl) + '\n')
print('setup: cuSPARSELt from', os.path.basename(whl))
PY
    rm -rf .deps/wheel
  else
    echo "setup: cuSPARSELt wheel not available; the sparse GPU path will be built without it"
  fi
fi
# CUTLASS's headers from PyPI (nvidia-cutlass), only when asked for
# (S24_CUTLASS=1): sparse24's own Hopper 2:4 GEMM (src/cuda/sm90/) is built
# on its sparse collectives, for sm_90a only. Its templates take minutes to
# compile, so CI (which has no Hopper GPU) builds without them.
if [ "${S24_CUTLASS:-0}" = 1 ] && [ ! -f .deps/cutlass/include/cutlass/gemm/collective/sm90_sparse_mma_tma_gmma_ss_warpspecialized.hpp ]; then
  echo "setup: fetching the CUTLASS headers (nvidia-cutlass) into .deps/cutlass"
  rm -rf .deps/cwheel && mkdir -p .deps/cwheel
  if python3 -m pip download -q --no-deps --only-binary=:all: -d .deps/cwheel 'nvidia-cutlass==4.2.0.0'; then
    python3 - <<'PY'
import glob, zipfile, os, shutil
whl = glob.glob('.deps/cwheel/*.whl')[0]
out = '.deps/cutlass/include'
shutil.rmtree('.deps/cutlass', ignore_errors=True)
# include/{cute,cutlass} and tools/util/include/cutlass/util, merged
roots = ('cutlass_library/source/include/', 'cutlass_library/source/tools/util/include/')
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        root = next((r for r in roots if n.startswith(r)), None)
        if root is None or n.endswith('/'):
            continue
        dst = os.path.join(out, n[len(root):])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(n) as src, open(dst, 'wb') as f:
            shutil.copyfileobj(src, f)
open('.deps/cutlass/VERSION', 'w').write(os.path.basename(whl) + '\n')
print('setup: CUTLASS headers from', os.path.basename(whl))
PY
    rm -rf .deps/cwheel
  else
    echo "setup: nvidia-cutlass not available; the own Hopper kernels will be built without it"
  fi
fi
echo "setup: done"
