#!/usr/bin/env python3
"""check_safetensors_compat.py: cross-checks sparse24's safetensors files
against the reference implementation (the `safetensors` PyPI package, whose
reader is the Rust one) and against numpy, without PyTorch.

1. A file written by the reference writer (every numpy dtype, a 0-d tensor,
   metadata) goes through `sparse24 prune --min-shape any`, `compress`,
   `decompress`: decompress must restore the pruned file byte for byte, and
   every untouched tensor must read back equal through the reference reader.
2. The pruned linear weight must equal a numpy top-2-of-4 reference.
3. The compressed file, read by the reference reader and decoded in Python
   from the layout in docs/format.md, must give the pruned weight back; its
   metadata must carry the format version and the original entries.
4. Every file the CLI wrote for the given fixture (pruned, masks, compressed,
   decompressed) must open in the reference reader.

Not run in CI (needs the safetensors package). Exit 0 pass, 1 fail, 2 usage.

    python3 scripts/check_safetensors_compat.py --cli build/sparse24 \
        --fixture tests/fixtures/torch_small_f32.safetensors
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"check_safetensors_compat: needs numpy and safetensors ({e})", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", default="build/sparse24", help="the sparse24 binary")
    ap.add_argument("--fixture", default="tests/fixtures/torch_small_f32.safetensors")
    args = ap.parse_args()
    failures = []

    def check(ok, what):
        print(("PASS " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    def run(*a):
        r = subprocess.run([args.cli, *a], capture_output=True, text=True)
        check(r.returncode == 0, "sparse24 " + " ".join(os.path.basename(x) for x in a)
              + ("" if r.returncode == 0 else f": {r.stderr.strip()}"))
        return r.returncode == 0

    with tempfile.TemporaryDirectory() as tmp:
        j = lambda n: os.path.join(tmp, n)  # noqa: E731
        rng = np.random.default_rng(1)
        t = {}
        for dt in [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.float16, np.int32,
                   np.uint32, np.float32, np.float64, np.int64, np.uint64]:
            if dt == np.bool_:
                a = rng.integers(0, 2, size=(3, 5)).astype(bool)
            else:
                a = rng.integers(0, 120, size=(3, 5)).astype(dt)
            t["x." + np.dtype(dt).name] = a
        t["scalar"] = np.array(7, dtype=np.int64)
        w = rng.standard_normal((16, 32)).astype(np.float32)
        t["lin.weight"] = w
        save_file(t, j("ref.st"), metadata={"format": "pt", "k": "v"})

        ok = (run("prune", j("ref.st"), "-o", j("p.st"), "--min-shape", "any", "-q")
              and run("compress", j("p.st"), "-o", j("c.st"), "-q")
              and run("decompress", j("c.st"), "-o", j("d.st")))
        if ok:
            same = open(j("p.st"), "rb").read() == open(j("d.st"), "rb").read()
            check(same, "decompress(compress(prune(reference file))) is byte-identical")
            p = load_file(j("p.st"))
            for k in t:
                if k != "lin.weight":
                    check(p[k].dtype == t[k].dtype and p[k].shape == t[k].shape
                          and np.array_equal(p[k], t[k]), f"{k} unchanged through prune")
            g = np.abs(w.reshape(16, 8, 4))
            order = np.argsort(-g, axis=2, kind="stable")  # ties: lower index first
            keep = np.zeros_like(g, dtype=bool)
            np.put_along_axis(keep, order[:, :, :2], True, axis=2)
            ref = np.where(keep.reshape(16, 32), w, 0).astype(np.float32)
            check(np.array_equal(p["lin.weight"], ref), "prune equals numpy top-2-of-4")

            c = load_file(j("c.st"))
            vals, meta = c["lin.weight.values"], c["lin.weight.meta"]
            check(vals.shape == (16, 16) and meta.shape == (16, 4) and meta.dtype == np.uint8,
                  "values [16,16] and meta [16,4] U8")
            dense = np.zeros((16, 32), np.float32)
            for r in range(16):
                for gi in range(8):
                    nib = (int(meta[r, gi // 2]) >> (4 * (gi % 2))) & 0xF
                    i0, i1 = nib & 3, nib >> 2
                    dense[r, 4 * gi + i0] = vals[r, 2 * gi]
                    dense[r, 4 * gi + i1] = vals[r, 2 * gi + 1]
            check(np.array_equal(dense, ref), "docs/format.md decode of the compressed weight")
            with safe_open(j("c.st"), framework="numpy") as f:
                m = f.metadata() or {}
            check(m.get("sparse24.format") == "2:4-v1" and m.get("format") == "pt"
                  and m.get("k") == "v" and m.get("sparse24.tensor.lin.weight") == "F32 [16,32]",
                  "compressed metadata")

        if os.path.exists(args.fixture):
            ok = (run("prune", args.fixture, "-o", j("fp.st"), "--save-masks", j("fm.st"), "-q")
                  and run("compress", j("fp.st"), "-o", j("fc.st"), "-q")
                  and run("decompress", j("fc.st"), "-o", j("fd.st")))
            for n in ["fp.st", "fm.st", "fc.st", "fd.st"] if ok else []:
                try:
                    with safe_open(j(n), framework="numpy") as f:
                        keys = list(f.keys())
                    check(True, f"reference reader opens {n} ({len(keys)} tensors)")
                except Exception as e:  # noqa: BLE001
                    check(False, f"reference reader opens {n}: {e}")

    print("RESULT: " + ("PASS" if not failures else f"FAIL ({len(failures)} checks)"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
