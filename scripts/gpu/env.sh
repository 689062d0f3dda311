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
