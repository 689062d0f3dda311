#!/usr/bin/env python3
"""torch_gemm.py: PyTorch's 2:4 GEMM (torch._cslt_sparse_mm, with and without
its algorithm search) and its dense GEMM (torch.mm; torch._int_mm for int8,
torch._scaled_mm for fp8) on the shapes of a `sparse24 bench gemm` CSV, timed
the same way (CUDA events per call, warm-up, L2 flushed before each call by
reading a 2x-L2 buffer, median), so the two tools compare side by side.

It needs PyTorch and a GPU; it does not build or call sparse24.
usage: torch_gemm.py GEMM_CSV OUT_CSV [--repeats N]
"""
import argparse
import csv
import math
import os
import statistics
import sys
import warnings

import torch

DT = {"fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8,
      "fp8": getattr(torch, "float8_e4m3fn", None)}


def rand(rows, cols, dt, gen):
    if dt == "int8":
        x = torch.randint(-8, 8, (rows, cols), device="cuda", dtype=torch.int8, generator=gen)
        x[x == 0] = 1  # never zero
        return x
    x = torch.rand(rows, cols, device="cuda", generator=gen) * 2 - 1
    x[x.abs() < 1 / 64] = 1 / 64
    # fp8 stays bf16 until pruned (few ops exist for float8 tensors)
    return x.to(torch.bfloat16 if dt == "fp8" else DT[dt])


def prune24(w):
    """Keep the two largest magnitudes of every group of four along k (rows)."""
    m, k = w.shape
    g = w.float().abs().reshape(m, k // 4, 4)
    idx = g.topk(2, dim=-1).indices
    mask = torch.zeros_like(g, dtype=torch.bool).scatter_(-1, idx, True)
    # torch.where: multiplication is not implemented for every dtype (fp8)
    return torch.where(mask.reshape(m, k), w, torch.zeros_like(w))


def timed(fn, repeats, flush):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(repeats):
        flush.sum()
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gemm_csv")
    ap.add_argument("out_csv")
    ap.add_argument("--repeats", type=int, default=50)
    a = ap.parse_args()
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    flush = torch.ones(2 * l2 // 4, device="cuda", dtype=torch.float32)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1234)
    rows = list(csv.DictReader(open(a.gemm_csv)))
    print(f"# torch {torch.__version__}, cuda {torch.version.cuda}, {props.name}, "
          f"cuSPARSELt {getattr(torch.backends.cusparselt, 'version', lambda: '?')()}", flush=True)
    out = []
    for r in rows:
        name, dt = r["name"], r["dtype"]
        m, n, k = int(r["pad_m"]), int(r["pad_n"]), int(r["pad_k"])
        res = {"name": name, "m": r["m"], "n": r["n"], "k": r["k"], "dtype": dt,
               "torch_dense_ms": math.nan, "torch_sparse_ms": math.nan, "torch_sparse_search_ms": math.nan,
               "status": "ok"}
        try:
            if DT[dt] is None:
                raise RuntimeError("no float8 in this torch")
            w = rand(m, k, dt, gen)
            x = rand(n, k, dt, gen)  # B = x.t(): k x n column-major, as sparse24's default
            wp = prune24(w)
            if dt == "fp8":
                w, wp, x = w.to(DT[dt]), wp.to(DT[dt]), x.to(DT[dt])
            bt = x.t()
            if dt == "int8":
                dense = lambda: torch._int_mm(w, bt)
            elif dt == "fp8":
                one = torch.ones((), device="cuda")
                dense = lambda: torch._scaled_mm(w, bt, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            else:
                dense = lambda: torch.mm(w, bt)
            res["torch_dense_ms"] = timed(dense, a.repeats, flush)
            kw = {}
            if dt == "int8":
                kw["out_dtype"] = torch.int32
            elif dt == "fp8":
                kw["out_dtype"] = torch.bfloat16
            wc = torch._cslt_compress(wp)
            res["torch_sparse_ms"] = timed(lambda: torch._cslt_sparse_mm(wc, bt, **kw), a.repeats, flush)
            try:
                # deprecated in PyTorch 2.11 in favour of a private module; it is
                # still what the image's PyTorch offers, so say nothing about it
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    found = torch._cslt_sparse_mm_search(wc, bt, **kw)
                alg = found[0] if isinstance(found, (tuple, list)) else found
                extra = {}
                if isinstance(found, (tuple, list)) and len(found) >= 3:
                    extra = {"split_k": found[1], "split_k_mode": found[2]}
                fn = lambda: torch._cslt_sparse_mm(wc, bt, alg_id=alg, **extra, **kw)
                res["torch_sparse_search_ms"] = timed(fn, a.repeats, flush)
            except Exception as e:  # the search API differs between versions
                res["status"] = "search: " + str(e).splitlines()[0][:100].replace(",", ";")
        except Exception as e:
            res["status"] = str(e).splitlines()[0][:120].replace(",", ";")
        best = min(v for v in (res["torch_sparse_ms"], res["torch_sparse_search_ms"]) if v == v) \
            if (res["torch_sparse_ms"] == res["torch_sparse_ms"] or
                res["torch_sparse_search_ms"] == res["torch_sparse_search_ms"]) else math.nan
        res["torch_speedup"] = res["torch_dense_ms"] / best if best == best else math.nan
        out.append(res)
        print(f"{name:16s} {dt:5s} dense {res['torch_dense_ms']:9.4f} sparse {res['torch_sparse_ms']:9.4f} "
              f"searched {res['torch_sparse_search_ms']:9.4f} speedup {res['torch_speedup']:6.3f} {res['status']}",
              flush=True)
        torch.cuda.empty_cache()
    tmp = a.out_csv + ".tmp"
    with open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(out[0].keys()) if out else ["name"])
        wr.writeheader()
        for o in out:
            wr.writerow({kk: (f"{v:.5f}" if isinstance(v, float) else v) for kk, v in o.items()})
    os.replace(tmp, a.out_csv)


if __name__ == "__main__":
    sys.exit(main())
