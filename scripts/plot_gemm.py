#!/usr/bin/env python3
"""plot_gemm.py: the paper's Figure 2 for sparse24: 2:4 sparse over dense
speedup against the square size, one line per dtype (solid: sparse24's
cuSPARSELt plans; dashed: PyTorch's torch._cslt_sparse_mm on the same
shapes, when a torch CSV is given; dotted: sparse24's own mma.sp kernel,
fp16, where the CSV has it), from `sparse24 bench gemm` CSVs.
Writes a self-contained SVG; standard library only. It does not measure.

usage: plot_gemm.py GEMM_CSV [TORCH_CSV] -o OUT.svg [--title TEXT]
"""
import argparse
import csv
import math
import os

COLORS = {"fp16": "#1f77b4", "bf16": "#ff7f0e", "int8": "#2ca02c", "fp8": "#d62728"}


def num(s):
    try:
        v = float(s)
        return v if math.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def square_rows(path, key):
    """{dtype: [(size, speedup)]} for square shapes."""
    out = {}
    for r in csv.DictReader(open(path)):
        if not r["name"].startswith("square"):
            continue
        v = key(r)
        if v is None:
            continue
        out.setdefault(r["dtype"], []).append((int(r.get("m") or r["name"][len("square"):]), v))
    for v in out.values():
        v.sort()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gemm_csv")
    ap.add_argument("torch_csv", nargs="?")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--title", default="2:4 sparse / dense GEMM speedup (H100)")
    a = ap.parse_args()
    ours = square_rows(a.gemm_csv, lambda r: num(r["speedup"]))
    # sparse24's own mma.sp kernel (fp16 only; columns absent in older CSVs)
    own = square_rows(a.gemm_csv, lambda r: num(r.get("own_speedup")))
    theirs = square_rows(a.torch_csv, lambda r: num(r["torch_speedup"])) if a.torch_csv else {}
    sizes = sorted({s for d in list(ours.values()) + list(theirs.values()) for s, _ in d})
    vals = [v for d in list(ours.values()) + list(theirs.values()) + list(own.values()) for _, v in d]
    if not sizes:
        raise SystemExit("plot_gemm.py: no square shapes in " + a.gemm_csv)
    W, H, L, R, T, B = 720, 440, 70, 150, 40, 60
    x0, x1 = math.log2(sizes[0]), math.log2(sizes[-1])
    x1 = x1 if x1 > x0 else x0 + 1
    ymax = max(2.0, math.ceil(max(vals) * 4) / 4 + 0.25)

    def X(s):
        return L + (math.log2(s) - x0) / (x1 - x0) * (W - L - R)

    def Y(v):
        return T + (1 - min(v, ymax) / ymax) * (H - T - B)

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14">{a.title}</text>']
    y = 0.0
    while y <= ymax + 1e-9:
        o.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(y):.1f}" y2="{Y(y):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{L - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{y:.2f}x</text>')
        y += 0.25
    o.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(1):.1f}" y2="{Y(1):.1f}" stroke="#555" stroke-dasharray="2,2"/>')
    for s in sizes:
        o.append(f'<text x="{X(s):.1f}" y="{H - B + 18}" text-anchor="middle">{s}</text>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">m = n = k</text>')
    o.append(f'<text x="18" y="{(T + H - B) / 2}" transform="rotate(-90 18 {(T + H - B) / 2})" '
             'text-anchor="middle">dense time / sparse time</text>')
    ly = T + 10
    for label, data, dash in (("sparse24", ours, ""), ("PyTorch", theirs, ' stroke-dasharray="6,4"'),
                              ("own mma.sp", own, ' stroke-dasharray="2,3"')):
        for dt in ("fp16", "bf16", "int8", "fp8"):
            pts = data.get(dt)
            if not pts:
                continue
            c = COLORS[dt]
            path = " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in pts)
            o.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
            for s, v in pts:
                o.append(f'<circle cx="{X(s):.1f}" cy="{Y(v):.1f}" r="3" fill="{c}"/>')
            o.append(f'<line x1="{W - R + 10}" x2="{W - R + 34}" y1="{ly}" y2="{ly}" stroke="{c}" '
                     f'stroke-width="2"{dash}/>')
            o.append(f'<text x="{W - R + 40}" y="{ly + 4}">{label} {dt}</text>')
            ly += 18
    o.append("</svg>")
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(o) + "\n")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
