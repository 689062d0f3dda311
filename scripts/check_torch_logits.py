#!/usr/bin/env python3
"""check_torch_logits.py: does torchvision's model, loaded with a sparse24
checkpoint, give sparse24's logits?

Loads CHECKPOINT (safetensors written by sparse24: PyTorch layout and names)
into torchvision's resnet18 (CIFAR stem) / resnet18 (resnet18_imagenet) /
efficientnet_b0 / the smallcnn twin
with load_state_dict(strict=True), runs INPUT (.npy, float32, NCHW; or NHWC
with --nhwc) in eval mode and compares with LOGITS (.npy, float32, (N, classes))
that sparse24 computed for the same input. Passes when
max |torch - sparse24| <= tol * max(1, max |torch|); exit code 0 pass, 1 fail,
2 usage. Runs where PyTorch is (not in CI); reads safetensors itself when the
`safetensors` package is absent.

Usage: python3 scripts/check_torch_logits.py --arch resnet18 \
           --checkpoint m.safetensors --input x.npy --logits logits.npy
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torch_fixtures import CONFIG, build  # noqa: E402  (the same model builders)

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32}


def read_safetensors(path):
    try:
        from safetensors.torch import load_file
        return load_file(path)
    except ImportError:
        pass
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(buf[base + a:base + b], dtype=DTYPES[info["dtype"]])
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", required=True, choices=list(CONFIG))
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--logits", required=True)
    ap.add_argument("--nhwc", action="store_true", help="INPUT is (N, H, W, 3)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    sd = read_safetensors(a.checkpoint)
    m = build(a.arch, a.classes)
    m.load_state_dict(sd, strict=True)  # raises on any missing/unexpected/misshapen tensor
    m.eval()
    x = np.load(a.input).astype(np.float32)
    if a.nhwc:
        x = x.transpose(0, 3, 1, 2)
    ref = np.load(a.logits).astype(np.float64)
    with torch.no_grad():
        got = m.double()(torch.from_numpy(np.ascontiguousarray(x)).double()).numpy()
    if got.shape != ref.shape:
        print(f"{a.arch}: FAIL shape {got.shape} vs sparse24 {ref.shape}")
        return 1
    err = float(np.max(np.abs(got - ref)))
    scale = max(1.0, float(np.max(np.abs(got))))
    ok = err <= a.tol * scale
    print(f"{a.arch}: {'PASS' if ok else 'FAIL'} max |torch - sparse24| = {err:.3g} "
          f"(scale {scale:.3g}, tol {a.tol:g}); argmax agree "
          f"{int(np.sum(got.argmax(1) == ref.argmax(1)))}/{len(ref)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
