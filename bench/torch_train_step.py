#!/usr/bin/env python3
"""torch_train_step.py: PyTorch's training step (zero_grad + forward +
cross-entropy + backward + SGD step) on the models of sparse24's training
engine, timed so that `sparse24 bench train` and PyTorch compare row by row
in one CSV.

The models are torchvision's, built as the engine builds them
(docs/engine.md): resnet18 with the CIFAR stem (conv1 3x3 stride 1 padding 1,
no bias, kaiming normal fan_out; max-pool replaced by Identity;
zero_init_residual=True) and efficientnet_b0 (dropout 0.2, stochastic depth
0.2), both with 10 classes, at 32x32 input.

Each (model, mode) runs on the GPU in channels_last with cudnn.benchmark on
and TF32 allowed for fp32 matmuls and convolutions, with
SGD(lr 0.1, momentum 0.9, weight_decay 5e-4) (PyTorch's default foreach
implementation) on synthetic data already on the GPU (normal images
(batch, 3, 32, 32) in channels_last, uniform labels 0..9):
  fp32     no autocast (TF32 tensor-core math where cuDNN / cuBLAS pick it)
  bf16     torch.autocast('cuda', dtype=torch.bfloat16)
  compile  torch.compile(model) (default mode) under the same bf16 autocast;
           the optimizer step is not compiled
`warmup` steps run first (cuDNN's algorithm search and torch.compile's
compilation happen there), then every one of `steps` steps is timed with a
pair of CUDA events around it (no synchronisation between steps, so the
GPU sees the same back-to-back stream as in training), and the median is
reported. Peak memory is torch.cuda.max_memory_allocated() over the timed
steps (the statistics are reset after the warm-up): parameters, gradients,
momentum buffers and activations, in MiB.

CSV columns (appended; the header is written when the file is new or empty):
  model,engine,precision,step_ms,img_s,peak_mb
  engine: pytorch, or pytorch_compile for the compile mode (precision bf16)
If the file already has a different header, the rows go to OUT.torch.csv
instead (said on stderr), so that another tool's file is never mixed up.

A failing mode (compilation error, out of memory, ...) is reported and the
other modes still run; the exit status is 1 when any mode failed.

usage: torch_train_step.py [--models resnet18,efficientnet_b0] [--batch 256]
                           [--warmup 15] [--steps 100] [--modes fp32,bf16,compile]
                           [--csv OUT.csv]
"""
import argparse
import contextlib
import csv
import os
import statistics
import subprocess
import sys
import time
import traceback
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

COLUMNS = ["model", "engine", "precision", "step_ms", "img_s", "peak_mb"]
MODELS = ("resnet18", "efficientnet_b0")
MODES = ("fp32", "bf16", "compile")


def build_model(arch, num_classes=10):
    """torchvision's model, built as sparse24's engine builds it."""
    if arch == "resnet18":
        m = torchvision.models.resnet18(num_classes=num_classes, zero_init_residual=True)
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        # torchvision's own init for convs; a replaced conv1 would otherwise keep
        # nn.Conv2d's default (kaiming uniform, a=sqrt(5))
        nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
        m.maxpool = nn.Identity()
        return m
    if arch == "efficientnet_b0":
        return torchvision.models.efficientnet_b0(num_classes=num_classes, dropout=0.2,
                                                  stochastic_depth_prob=0.2)
    raise ValueError(f"unknown model {arch!r}: expected one of {', '.join(MODELS)}")


def allow_tf32():
    # The flags the brief names; newer PyTorch prefers torch.backends.*.fp32_precision
    # and may warn about these, which is noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def versions():
    lines = [f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
             f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"]
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        lines.append(f"GPU {p.name}, {p.total_memory / 2**30:.1f} GiB, "
                     f"{p.multi_processor_count} SMs, capability {p.major}.{p.minor}")
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        if r.returncode == 0 and r.stdout.strip():
            lines.append("nvidia-smi: " + r.stdout.strip().splitlines()[0])
    except (OSError, subprocess.SubprocessError):
        lines.append("nvidia-smi: not available")
    return lines


def time_mode(arch, mode, batch, warmup, steps, seed):
    """One (model, mode): returns (median step ms, mean step ms, peak MiB)."""
    dev = torch.device("cuda")
    torch.manual_seed(seed)
    model = build_model(arch).to(dev, memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    x = torch.randn(batch, 3, 32, 32, device=dev, generator=gen).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=dev, generator=gen)
    fwd = torch.compile(model) if mode == "compile" else model
    if mode == "fp32":
        amp = contextlib.nullcontext
    else:
        def amp():
            return torch.autocast("cuda", dtype=torch.bfloat16)

    def step():
        opt.zero_grad(set_to_none=True)
        with amp():
            out = fwd(x)
            loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    for _ in range(warmup):
        loss = step()
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - t0
    if warmup and not torch.isfinite(loss).item():
        raise RuntimeError(f"loss not finite after warm-up: {loss.item()}")

    torch.cuda.reset_peak_memory_stats()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
          for _ in range(steps)]
    for a, b in ev:
        a.record()
        step()
        b.record()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20
    ms = [a.elapsed_time(b) for a, b in ev]
    return statistics.median(ms), statistics.fmean(ms), peak, warm_s


def cleanup():
    try:
        torch._dynamo.reset()
    except Exception:  # not every build has dynamo
        pass
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def open_csv(path):
    """(file, DictWriter) appending to `path`; another header -> PATH.torch.csv."""
    exists = os.path.exists(path) and os.path.getsize(path) > 0
    if exists:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if [h.strip() for h in header] != COLUMNS:
            alt = os.path.splitext(path)[0] + ".torch.csv"
            print(f"torch_train_step: {path} has the header {','.join(header)!r}, not "
                  f"{','.join(COLUMNS)!r}; writing to {alt} instead", file=sys.stderr, flush=True)
            path = alt
            exists = os.path.exists(path) and os.path.getsize(path) > 0
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    f = open(path, "a", newline="")
    w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
    if not exists:
        w.writeheader()
        f.flush()
    return f, w, path


def split_list(s, allowed, what):
    items = [t.strip() for t in s.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise SystemExit(f"torch_train_step: --{what} {s!r}: expected a comma-separated list of "
                         f"{', '.join(allowed)}")
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", help="append rows here (header written if the file is new)")
    a = ap.parse_args()
    models = split_list(a.models, MODELS, "models")
    modes = split_list(a.modes, MODES, "modes")
    if a.batch < 1 or a.steps < 1 or a.warmup < 0:
        raise SystemExit("torch_train_step: --batch and --steps must be >= 1, --warmup >= 0")
    if not torch.cuda.is_available():
        print("torch_train_step: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    allow_tf32()
    for line in versions():
        print("# " + line, flush=True)
    print(f"# batch {a.batch}, 32x32, warm-up {a.warmup} steps, {a.steps} timed steps (median), "
          f"channels_last, cudnn.benchmark, TF32 allowed, SGD momentum 0.9 wd 5e-4", flush=True)

    f = w = None
    if a.csv:
        f, w, path = open_csv(a.csv)
    results, failed = [], []
    for arch in models:
        for mode in modes:
            engine = "pytorch_compile" if mode == "compile" else "pytorch"
            prec = "fp32" if mode == "fp32" else "bf16"
            print(f"== {arch} {engine} {prec} ...", flush=True)
            try:
                med, mean, peak, warm_s = time_mode(arch, mode, a.batch, a.warmup, a.steps, a.seed)
            except Exception as e:
                msg = str(e).strip().splitlines()
                msg = msg[0][:300] if msg else type(e).__name__
                print(f"!! {arch} {mode} failed: {type(e).__name__}: {msg}", flush=True)
                traceback.print_exc(file=sys.stderr)
                failed.append((arch, mode, msg))
                cleanup()
                continue
            row = {"model": arch, "engine": engine, "precision": prec,
                   "step_ms": f"{med:.4f}", "img_s": f"{a.batch / med * 1000:.1f}",
                   "peak_mb": f"{peak:.1f}"}
            results.append((row, mean, warm_s))
            print(f"   median {med:.3f} ms (mean {mean:.3f}), {a.batch / med * 1000:.0f} img/s, "
                  f"peak {peak:.0f} MiB, warm-up {warm_s:.1f} s", flush=True)
            if w:
                w.writerow(row)
                f.flush()
            cleanup()
    if f:
        f.close()
        print(f"# rows appended to {path}", flush=True)

    print()
    print(f"{'model':<16} {'engine':<16} {'prec':<5} {'step_ms':>9} {'img/s':>9} {'peak MiB':>9}")
    for row, _, _ in results:
        print(f"{row['model']:<16} {row['engine']:<16} {row['precision']:<5} {row['step_ms']:>9} "
              f"{row['img_s']:>9} {row['peak_mb']:>9}")
    for arch, mode, msg in failed:
        print(f"{arch:<16} {mode:<16} FAILED: {msg}")
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
