#!/usr/bin/env python3
"""check_torch_load.py: does PyTorch take a checkpoint that `sparse24 prune`
wrote for the test fixture (tests/fixtures/torch_small_*.safetensors)?

Rebuilds the fixture's torch.nn.Sequential, loads the pruned file with
load_state_dict(strict=True), checks that the pruned weights are 2:4 along
input channels (at most 2 non-zeros in every group of 4 input channels, for
every output channel and kernel position), optionally compares against the
unpruned original (untouched tensors identical, pruned weights keep the
largest magnitudes of each group), and runs a forward pass.

Runs where PyTorch is (not in CI). Reads safetensors itself (json + struct),
so the `safetensors` package is optional; when it is installed its reader is
cross-checked too. Exit code 0 = pass, 1 = a check failed, 2 = bad usage.

    sparse24 prune tests/fixtures/torch_small_f32.safetensors -o /tmp/p.safetensors
    python3 scripts/check_torch_load.py /tmp/p.safetensors \
        --original tests/fixtures/torch_small_f32.safetensors
"""
import argparse
import json
import struct
import sys

try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover - depends on the machine
    print("check_torch_load: PyTorch is not installed here", file=sys.stderr)
    sys.exit(2)

DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16,
    "I32": torch.int32, "I64": torch.int64, "F16": torch.float16,
    "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
}


def read_safetensors(path):
    """name -> tensor, plus metadata; a minimal reader with basic checks."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} past the end")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        raw = bytearray(data[b:end])
        t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def build_model():
    """The fixture's network; indices match its tensor names (0., 1., 3., ...)."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False),   # 0
        nn.BatchNorm2d(32),                           # 1
        nn.ReLU(),                                    # 2
        nn.Conv2d(32, 64, 3, padding=1, bias=False),  # 3
        nn.BatchNorm2d(64),                           # 4
        nn.ReLU(),                                    # 5
        nn.AdaptiveAvgPool2d(1),                      # 6
        nn.Flatten(),                                 # 7
        nn.Linear(64, 32),                            # 8
        nn.ReLU(),                                    # 9
        nn.Linear(32, 10),                            # 10
    )


def groups_of_4(w):
    """(OC, IC[, KH, KW]) -> (groups, 4) along input channels."""
    if w.dim() == 4:
        w = w.permute(0, 2, 3, 1)  # OC, KH, KW, IC
    return w.reshape(-1, 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pruned", help="checkpoint written by sparse24 prune")
    ap.add_argument("--original", help="the unpruned checkpoint, for comparisons")
    ap.add_argument("--pruned-names", default="3.weight,8.weight",
                    help="weights that must be 2:4 (default: the asp-eligible ones)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    failures = []

    def check(ok, what):
        print(("PASS " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    sd, meta = read_safetensors(args.pruned)
    try:
        from safetensors.torch import load_file
        ref = load_file(args.pruned)
        same = ref.keys() == sd.keys() and all(
            ref[k].dtype == sd[k].dtype and torch.equal(ref[k], sd[k]) for k in sd)
        check(same, "safetensors package reads the same tensors")
    except ImportError:
        print("note: safetensors package not installed; own reader only")

    model = build_model()
    dtype = sd["3.weight"].dtype
    model = model.to(dtype)
    try:
        model.load_state_dict(sd, strict=True)
        check(True, "load_state_dict(strict=True)")
    except Exception as e:  # noqa: BLE001 - report any load failure
        check(False, f"load_state_dict(strict=True): {e}")
        print("RESULT: FAIL")
        return 1

    names = [n for n in args.pruned_names.split(",") if n]
    for name in names:
        g = groups_of_4(sd[name])
        nnz = (g != 0).sum(dim=1)
        check(bool((nnz <= 2).all()), f"{name} {tuple(sd[name].shape)} is 2:4 "
              f"(max {int(nnz.max())} non-zeros per group of 4)")

    if args.original:
        orig, ometa = read_safetensors(args.original)
        check(orig.keys() == sd.keys(), "same tensor names as the original")
        check(ometa == meta, "same metadata as the original")
        for k in orig:
            if k not in sd:
                continue
            a, b = orig[k], sd[k]
            if a.dtype != b.dtype or a.shape != b.shape:
                check(False, f"{k}: dtype/shape changed")
                continue
            if k not in names:
                check(torch.equal(a, b), f"{k} unchanged")
                continue
            ga, gb = groups_of_4(a).float(), groups_of_4(b).float()
            kept = gb != 0
            check(bool(torch.equal(ga[kept], gb[kept])), f"{k}: kept values equal the original")
            mag = ga.abs()
            kept_min = torch.where(kept, mag, torch.full_like(mag, float("inf"))).min(dim=1).values
            pruned_max = torch.where(kept, torch.full_like(mag, -1.0), mag).max(dim=1).values
            # groups with fewer than 2 non-zero kept values (zeros kept) are fine
            full = kept.sum(dim=1) == 2
            check(bool((kept_min[full] >= pruned_max[full]).all()),
                  f"{k}: every group keeps its 2 largest magnitudes")

    dev = torch.device(args.device)
    run_dtype = dtype
    if dev.type == "cpu" and dtype == torch.float16:
        run_dtype = torch.float32  # fp16 convolutions are not on every CPU build
    model = model.to(dev, run_dtype).eval()
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32, device=dev, dtype=run_dtype)
    with torch.no_grad():
        y = model(x)
    check(tuple(y.shape) == (4, 10), f"forward on {dev} ({run_dtype}) gives shape {tuple(y.shape)}")
    check(bool(torch.isfinite(y.float()).all()), "forward output is finite")

    print("RESULT: " + ("PASS" if not failures else f"FAIL ({len(failures)} checks)"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
