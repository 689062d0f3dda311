#!/usr/bin/env python3
# slim_cusparselt.py: make a copy of libcusparseLt.so that carries GPU code for
# one architecture only, so that it fits the device tool's 64 MiB carry limit.
#
# Why: the cuSPARSELt wheel (0.8.1, which fixes 0.8.0's H100 regression) is a
# 234 MB shared library, about 60% of it GPU code for every architecture from
# sm_75 to sm_121. The H100 loads only sm_90 code. This script walks the
# fatbinaries in .nv_fatbin and .cask_resource and overwrites with zeros the
# payload of every entry the driver would not pick for the target: SASS of
# other architectures, and PTX wherever the same fatbinary already has SASS
# for the target. Headers, sizes and offsets stay as they are, so the ELF and
# every fatbinary keep their layout; the zeros then compress to nothing.
# Usage: slim_cusparselt.py IN.so OUT.so [--arch 90]
import argparse
import os
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_SASS = 1, 2


def sections(elf):
    """Return {name: (file offset, size)} of an ELF64 little-endian file."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize)
            for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for h in hdrs:
        end = elf.index(b"\0", stroff + h[0])
        out[elf[stroff + h[0]:end].decode()] = (h[4], h[5])
    return out


def entries(buf, start, size):
    """Yield (fatbin offset, [(kind, arch, payload offset, payload size)])."""
    pos, end = start, start + size
    while pos + 16 <= end:
        magic, _ver, hsize, fsize = struct.unpack_from("<IHHQ", buf, pos)
        if magic != FATBIN_MAGIC:
            pos += 8            # fatbinaries are 8-byte aligned; skip padding
            continue
        e, stop, items = pos + hsize, pos + hsize + fsize, []
        if stop > end:
            raise ValueError("fatbinary at 0x%x runs past its section" % pos)
        while e < stop:
            kind, _v, ehs, psize = struct.unpack_from("<HHIQ", buf, e)
            arch = struct.unpack_from("<I", buf, e + 28)[0]
            items.append((kind, arch, e + ehs, psize))
            e += ehs + psize
        yield pos, items
        pos = stop


def slim(buf, arch):
    secs = sections(buf)
    kept = blanked = 0
    for name in (".nv_fatbin", ".cask_resource"):
        if name not in secs:
            continue
        off, size = secs[name]
        for _pos, items in entries(buf, off, size):
            has_sass = any(k == KIND_SASS and a == arch for k, a, _, _ in items)
            for kind, a, p, n in items:
                keep = (kind == KIND_SASS and a == arch) or \
                       (kind == KIND_PTX and not has_sass and a <= arch)
                if keep:
                    kept += n
                else:
                    buf[p:p + n] = bytes(n)
                    blanked += n
    return kept, blanked


def main():
    ap = argparse.ArgumentParser(
        description="copy libcusparseLt.so keeping GPU code for one SM only")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--arch", type=int, default=90,
                    help="SM architecture to keep (default 90)")
    a = ap.parse_args()
    try:
        with open(a.src, "rb") as f:
            buf = bytearray(f.read())
        kept, blanked = slim(buf, a.arch)
    except (OSError, ValueError, struct.error) as e:
        sys.exit("slim_cusparselt: %s: %s" % (a.src, e))
    tmp = a.dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf)
    os.replace(tmp, a.dst)
    print("slim_cusparselt: %s: kept %.1f MiB of sm_%d code, blanked %.1f MiB"
          % (a.dst, kept / 2**20, a.arch, blanked / 2**20))


if __name__ == "__main__":
    main()
