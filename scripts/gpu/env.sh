# env.sh: sourced by the device-run scripts: makes the build's libraries
# findable on the GPU machine's bare image. cJSON comes from the .deb files
# carried in .debs/ (unpacked out of /), cuDNN from the image's Python wheel
# (nvidia/cudnn), with the unversioned names the linker needs.
if ls .debs/*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/cj
  for f in .debs/*.deb; do dpkg -x "$f" /tmp/cj; done
  export CPATH=/tmp/cj/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=/tmp/cj/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if ! echo '#include <cudnn.h>' | cc -E -I/usr/local/cuda/include - >/dev/null 2>&1; then
  h=$(find / -name cudnn.h -path '*cudnn*' -not -path '/proc/*' 2>/dev/null | head -1)
  if [ -n "$h" ]; then
    d=$(dirname "$(dirname "$h")")
    mkdir -p /tmp/cudnn/lib
    for f in "$d"/lib/libcudnn*.so*; do ln -sf "$f" /tmp/cudnn/lib/; done
    for f in /tmp/cudnn/lib/libcudnn*.so.[0-9]*; do
      b=$(basename "$f"); ln -sf "$f" "/tmp/cudnn/lib/${b%%.so.*}.so"
    done
    export CPATH=$d/include${CPATH:+:$CPATH}
    export LIBRARY_PATH=/tmp/cudnn/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=/tmp/cudnn/lib:$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "env.sh: cuDNN from $d"
  else
    echo "env.sh: no cuDNN header found"
  fi
fi

# s24_cusparselt: CUSPARSELT_DIR for the build, exported, and said: the
# slimmed library carried in .carry/cusparselt (scripts/gpu/pack_cusparselt.sh)
# unless LT=image, else the image's Python wheel. The wheel ships only
# libcusparseLt.so.0, so the linker gets a folder with both names (the RPATH
# then points there). One copy for every device script that builds with it.
s24_cusparselt() {
  local t0 h
  t0=$(date +%s)
  if [ -z "$CUSPARSELT_DIR" ] && [ "${LT:-carried}" != image ] &&
     [ -f .carry/cusparselt/lib/libcusparseLt.so.0.xz ]; then
    mkdir -p /tmp/ltc/lib
    cp -r .carry/cusparselt/include /tmp/ltc/
    [ -f .carry/cusparselt/VERSION ] && cp .carry/cusparselt/VERSION /tmp/ltc/
    xz -dc .carry/cusparselt/lib/libcusparseLt.so.0.xz > /tmp/ltc/lib/libcusparseLt.so.0 2>/dev/null ||
      python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        .carry/cusparselt/lib/libcusparseLt.so.0.xz /tmp/ltc/lib/libcusparseLt.so.0
    ln -sf libcusparseLt.so.0 /tmp/ltc/lib/libcusparseLt.so
    CUSPARSELT_DIR=/tmp/ltc
    echo "cuSPARSELt from .carry: $(cat /tmp/ltc/VERSION 2>/dev/null) ($(( $(date +%s) - t0 )) s to unpack)"
  fi
  if [ -z "$CUSPARSELT_DIR" ]; then
    h=$(find /opt /usr/local /usr/lib -name cusparseLt.h -path '*nvidia*' 2>/dev/null | head -1)
    [ -n "$h" ] && CUSPARSELT_DIR=$(dirname "$(dirname "$h")")
  fi
  if [ -n "$CUSPARSELT_DIR" ] && [ ! -e "$CUSPARSELT_DIR/lib/libcusparseLt.so" ]; then
    mkdir -p /tmp/splt/lib
    ln -sfn "$CUSPARSELT_DIR/include" /tmp/splt/include
    ln -sf "$CUSPARSELT_DIR/lib/libcusparseLt.so.0" /tmp/splt/lib/libcusparseLt.so.0
    ln -sf "$CUSPARSELT_DIR/lib/libcusparseLt.so.0" /tmp/splt/lib/libcusparseLt.so
    CUSPARSELT_DIR=/tmp/splt
  fi
  export CUSPARSELT_DIR
  echo "CUSPARSELT_DIR=${CUSPARSELT_DIR:-none}"
}
