#!/usr/bin/env python3
"""torch_infer.py: PyTorch's dense inference baseline for `sparse24 bench infer`
(issue 11 item 4): the time of one whole-batch forward, appended to the same
CSV as sparse24's rows.

Models, as sparse24's registry builds them (random weights from PyTorch's own
init, seed 0; random normal input):
  resnet18 at 32         torchvision's resnet18 with the CIFAR stem (conv1 3x3
                         stride 1 padding 1, max-pool replaced by Identity), 10
                         classes: sparse24's `resnet18`
  resnet18 at 224        torchvision's resnet18 as it is, 1000 classes:
                         sparse24's `resnet18_imagenet`
  efficientnet_b0 at 32  torchvision's efficientnet_b0, 10 classes
  efficientnet_b0 at 224 the same network, 1000 classes (sparse24 has one
                         `efficientnet_b0` for both sizes)
Each row: the model in eval mode under torch.inference_mode(), weights and
input in the dtype (fp16 or bf16: a cast model, not autocast), channels_last,
cudnn.benchmark on; path `eager` (the module) or `compile` (torch.compile,
default mode, static shapes, a fresh compilation per row). 10 warm-up calls
(cuDNN's algorithm search and the compilation happen there), then 50 calls,
each between a pair of CUDA events; `ms` is their median, img_s = batch / ms.

CSV (appended; the header is written when the file is new or empty, and a
file with another header is refused rather than mixed):
  model,resolution,batch,dtype,engine,path,ms,img_s
  engine pytorch; path eager or compile.
A row that fails (torch.compile's error, out of memory) is left out and said
on stderr with the reason; the others still run. Exit status 1 only when no
row was measured. A compile row compiles afresh, which is most of its time:
split a sweep over device calls with the filters (say --engines compile
--batch 256 for the rows issue 11's goals name).

usage: torch_infer.py --csv OUT.csv [--model resnet18,efficientnet_b0]
                      [--resolution 32,224] [--batch 1,8,32,256,1024]
                      [--dtype fp16,bf16] [--engines eager,compile]
"""
import argparse
import csv
import os
import statistics
import sys
import traceback

import torch
import torch.nn as nn
import torchvision

COLUMNS = ["model", "resolution", "batch", "dtype", "engine", "path", "ms", "img_s"]
MODELS = ("resnet18", "efficientnet_b0")
RESOLUTIONS = (32, 224)
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
PATHS = ("eager", "compile")
WARMUP, REPEATS = 10, 50


def build(model, resolution):
    """torchvision's network, in the form sparse24 runs at this resolution."""
    classes = 10 if resolution == 32 else 1000
    if model == "resnet18":
        m = torchvision.models.resnet18(num_classes=classes)
        if resolution == 32:
            m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            m.maxpool = nn.Identity()
        return m
    return torchvision.models.efficientnet_b0(num_classes=classes)


def time_row(model, resolution, batch, dtype, path):
    """Median milliseconds of one forward of `batch` images."""
    dev = torch.device("cuda")
    torch.manual_seed(0)
    m = build(model, resolution).eval().to(dev, dtype=DTYPES[dtype],
                                           memory_format=torch.channels_last)
    x = torch.randn(batch, 3, resolution, resolution, device=dev, dtype=DTYPES[dtype])
    x = x.contiguous(memory_format=torch.channels_last)
    if path == "compile":
        torch._dynamo.reset()  # a row's compilation never reuses another's
        fn = torch.compile(m, dynamic=False)
    else:
        fn = m
    with torch.inference_mode():
        for _ in range(WARMUP):
            fn(x)
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                 for _ in range(REPEATS)]
        for a, b in pairs:
            a.record()
            fn(x)
            b.record()
        torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in pairs)


def csv_list(text, convert, allowed, what):
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        try:
            v = convert(tok)
        except ValueError:
            v = None
        if v is None or (allowed is not None and v not in allowed):
            sys.exit(f"torch_infer.py: --{what} '{tok}': expected "
                     + (", ".join(str(a) for a in allowed) if allowed else "positive integers"))
        out.append(v)
    return out


def positive(tok):
    v = int(tok)
    if v < 1:
        raise ValueError(tok)
    return v


def open_csv(path):
    """The CSV for appending, its header written when new; refuses another header."""
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:
        with open(path, newline="") as f:
            head = next(csv.reader(f), [])
        if head != COLUMNS:
            sys.exit(f"torch_infer.py: {path} has the header {','.join(head)}, "
                     f"not {','.join(COLUMNS)}: not appending")
    f = open(path, "a", newline="")
    w = csv.writer(f)
    if new:
        w.writerow(COLUMNS)
    return f, w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True, help="CSV to append the rows to")
    ap.add_argument("--models", "--model", default=",".join(MODELS))
    ap.add_argument("--resolution", default=",".join(str(r) for r in RESOLUTIONS))
    ap.add_argument("--batch", default="1,8,32,256,1024")
    ap.add_argument("--dtype", default=",".join(DTYPES))
    ap.add_argument("--engines", default=",".join(PATHS),
                    help="PyTorch paths to run: eager, compile")
    a = ap.parse_args()
    models = csv_list(a.models, str, MODELS, "model")
    resolutions = csv_list(a.resolution, int, RESOLUTIONS, "resolution")
    batches = csv_list(a.batch, positive, None, "batch")
    dtypes = csv_list(a.dtype, str, tuple(DTYPES), "dtype")
    paths = csv_list(a.engines, str, PATHS, "engines")
    if not torch.cuda.is_available():
        sys.exit("torch_infer.py: no CUDA device")

    p = torch.cuda.get_device_properties(0)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}", file=sys.stderr)
    print(f"GPU {p.name}, {p.total_memory / 2**30:.1f} GiB, capability {p.major}.{p.minor}",
          file=sys.stderr)
    torch.backends.cudnn.benchmark = True

    f, w = open_csv(a.csv)
    done = failed = 0
    with f:
        for model in models:
            for res in resolutions:
                for dtype in dtypes:
                    for path in paths:
                        for batch in batches:
                            row = f"{model} {res} batch {batch} {dtype} {path}"
                            try:
                                ms = time_row(model, res, batch, dtype, path)
                            except Exception as e:  # compile errors, OOM: this row only
                                failed += 1
                                print(f"torch_infer.py: {row}: not measured: "
                                      f"{type(e).__name__}: {e}", file=sys.stderr)
                                traceback.print_exc(limit=2, file=sys.stderr)
                                torch.cuda.empty_cache()
                                continue
                            w.writerow([model, res, batch, dtype, "pytorch", path, f"{ms:.4f}",
                                        f"{batch / (ms / 1e3):.1f}"])
                            f.flush()
                            done += 1
                            print(f"{row}: {ms:.4f} ms, {batch / (ms / 1e3):.1f} img/s",
                                  flush=True)
    print(f"torch_infer.py: {done} rows measured, {failed} not", file=sys.stderr)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
