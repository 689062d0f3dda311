#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpora of the fuzz targets into
fuzz/corpus/<target>/ (committed; rerun only to change them). Small valid
inputs of each format, a few near misses, nothing random: libFuzzer mutates
from here. The decompress seeds come from the CLI (S24_CLI, default
build/sparse24) pruning and compressing a small checkpoint made here."""
import json, os, struct, subprocess, sys, tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, meta=None):
    """tensors: list of (name, dtype, shape, bytes), laid out in order."""
    hdr, off, body = {}, 0, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, data in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        body += data
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def npy(descr, shape, data, version=(1, 0)):
    sh = "(" + "".join("%d," % s for s in shape) + ")" if len(shape) != 1 else "(%d,)" % shape[0]
    if not shape:
        sh = "()"
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, sh)
    pre = 10 if version[0] == 1 else 12
    pad = -(pre + len(d) + 1) % 64
    d = (d + " " * pad + "\n").encode()
    lenf = struct.pack("<H", len(d)) if version[0] == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes(version) + lenf + d + data


def main():
    w = f32([0.5, -1.0, 0.25, 2.0] * 8)  # (8, 4)
    put("safetensors", "one_f32", safetensors([("fc.weight", "F32", [8, 4], w)]))
    put("safetensors", "meta_two", safetensors(
        [("a.weight", "F16", [2, 4], b"\x00\x3c" * 8), ("a.bias", "BF16", [2], b"\x80\x3f" * 2)],
        {"format": "pt", "sparse24.pattern": "2:4"}))
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "zero_size",
        safetensors([("z", "F32", [0, 4], b""), ("s", "I64", [], b"\x01" * 8)]))
    put("safetensors", "u8_bool",
        safetensors([("m", "U8", [4], b"\x01\x00\x01\x00"), ("b", "BOOL", [2], b"\x01\x00")]))
    put("safetensors", "npy_magic", b"\x93NUMPY\x01\x00v\x00{'descr'")

    put("npy", "f32_2x3", npy("<f4", [2, 3], f32([1, 2, 3, 4, 5, 6])))
    put("npy", "f64_1d", npy("<f8", [3], struct.pack("<3d", 1, 2, 3)))
    put("npy", "i64_perm", npy("<i8", [4], struct.pack("<4q", 3, 1, 0, 2)))
    put("npy", "f16_0d", npy("<f2", [], b"\x00\x3c"))
    put("npy", "v2_f32", npy("<f4", [1, 1], f32([7]), version=(2, 0)))

    rec = bytes([3]) + bytes(range(256)) * 12  # label + 3x32x32
    put("cifar", "one_record", rec)
    put("cifar", "two_records", rec + bytes([9]) + rec[1:])
    put("cifar", "bad_label", bytes([10]) + rec[1:])

    put("cli_values", "pattern", b"\x002:4")
    put("cli_values", "pattern_wide", b"\x001:16")
    put("cli_values", "int", b"\x01-123")
    put("cli_values", "double", b"\x021.5e-3")
    put("cli_values", "device", b"\x03cuda")
    put("cli_values", "cpu_sizes", b"\x04256,512,4096")
    put("cli_values", "cpu_dtypes", b"\x05f32,f16,bf16")
    put("cli_values", "gemm_sizes", b"\x06128,8192")
    put("cli_values", "cpu_shapes", b"\x07# name M K N\nconv3x3 64 576 16384\nfc 10 512 16\n")
    put("cli_values", "gemm_shapes", b"\x08qkv 4096 4096 4096  # m n k\n\nup 11008 4096 4096\n")

    cli = os.environ.get("S24_CLI", "build/sparse24")
    with tempfile.TemporaryDirectory() as tmp:
        dense = os.path.join(tmp, "d.safetensors")
        vals = [((i * 37) % 17 - 8) / 8.0 for i in range(16 * 16)]
        with open(dense, "wb") as f:
            f.write(safetensors([("l.weight", "F32", [16, 16], f32(vals)),
                                 ("l.bias", "F32", [16], f32(vals[:16]))]))
        for name, args in (("pruned_f32", []),):
            pr, out = os.path.join(tmp, "p"), os.path.join(tmp, name)
            for cmd in ([cli, "prune", dense, "-o", pr, "-q", "--min-shape", "any"] + args,
                        [cli, "compress", pr, "-o", out, "-q"]):
                r = subprocess.run(cmd, capture_output=True)
                if r.returncode:
                    sys.exit("make_corpus: %s failed: %s" % (" ".join(cmd), r.stderr.decode()))
            os.remove(pr)
            put("decompress", name, open(out, "rb").read())
    put("decompress", "not_compressed", safetensors([("fc.weight", "F32", [8, 4], w)]))


if __name__ == "__main__":
    main()
