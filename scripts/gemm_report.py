#!/usr/bin/env python3
"""gemm_report.py: the tables of docs/results/gemm-h100.md from the CSVs of
one `sparse24 bench gemm` run and bench/torch_gemm.py on the same shapes:
the full per-shape table and the counts the goals are judged on. It does
not measure; every number comes from the CSVs.

usage: gemm_report.py GEMM_CSV TORCH_CSV [--summary]
       gemm_report.py --spread GEMM_CSV... (square rows over several runs)
"""
import argparse
import csv
import statistics

from plot_gemm import num  # same NaN-aware parse as the figure


def f(v, fmt):
    return "-" if v is None else format(v, fmt)


def load(gemm_csv, torch_csv):
    rows = list(csv.DictReader(open(gemm_csv)))
    torch = {(r["name"], r["dtype"]): r for r in csv.DictReader(open(torch_csv))} if torch_csv else {}
    for r in rows:
        t = torch.get((r["name"], r["dtype"]), {})
        r["t_dense"] = num(t.get("torch_dense_ms"))
        sp = [v for v in (num(t.get("torch_sparse_ms")), num(t.get("torch_sparse_search_ms"))) if v]
        r["t_sparse"] = min(sp) if sp else None
        r["t_speedup"] = r["t_dense"] / r["t_sparse"] if r["t_dense"] and r["t_sparse"] else None
        r["x"] = num(r["speedup"])
        r["ratio"] = r["x"] / r["t_speedup"] if r["x"] and r["t_speedup"] else None
    return rows


def table(rows):
    print("| shape (m x n x k) | dtype | cuBLASLt dense ms | sparse24 sparse ms | speedup | paired | "
          "TFLOP/s dense / sparse | auto pick, effective (self-pair) | own kernel ms | "
          "PyTorch dense / sparse ms | PyTorch speedup | sparse24 / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m, n, k = int(r["m"]), int(r["n"]), int(r["k"])
        pad = (int(r["pad_m"]), int(r["pad_n"]), int(r["pad_k"]))
        shape = f"{r['name']} {m}x{n}x{k}"
        if pad != (m, n, k):
            shape += f" (sparse padded to {pad[0]}x{pad[1]}x{pad[2]})"
        fl = 2.0 * m * n * k
        d, s = num(r["dense_ms"]), num(r["sparse_ms"])
        print(f"| {shape} | {r['dtype']} | {f(d, '.4f')} | {f(s, '.4f')} | {f(r['x'], '.2f')}x | "
              f"{f(num(r['pair_speedup']), '.2f')}x | {f(fl / d / 1e9 if d else None, '.0f')} / "
              f"{f(fl / s / 1e9 if s else None, '.0f')} | {r['auto_choice']}, {f(num(r['auto_speedup']), '.2f')}x "
              f"({f(num(r['self_pair_ratio']), '.2f')}) | {f(num(r.get('own_ms')), '.4f')} | "
              f"{f(r['t_dense'], '.4f')} / {f(r['t_sparse'], '.4f')} | {f(r['t_speedup'], '.2f')}x | "
              f"{f(r['ratio'], '.2f')} |")


def summary(rows):
    a = [num(r["auto_speedup"]) for r in rows]
    self = [num(r["self_pair_ratio"]) for r in rows if num(r["self_pair_ratio"])]
    print(f"rows: {len(rows)}, status not ok: {sum(r['status'] != 'ok' for r in rows)}")
    print(f"auto >= 1.00: {sum(x >= 1.0 for x in a)}, >= 0.995: {sum(x >= 0.995 for x in a)}, "
          f">= 0.97: {sum(x >= 0.97 for x in a)}, min {min(a):.3f}")
    low = [r for r in rows if num(r["auto_speedup"]) < 0.995]
    print(f"auto < 0.995: {len(low)} rows, choices {sorted({r['auto_choice'] for r in low})}, "
          f"dense time {min(num(r['dense_ms']) for r in low) * 1e3:.1f}-"
          f"{max(num(r['dense_ms']) for r in low) * 1e3:.1f} us, same cuBLASLt pick as the baseline in "
          f"{sum(r['dense_algo'].split(' ')[-1] == r['auto_dense_algo'].split(' ')[-1] and r['dense_algo'].startswith('tuned') == r['auto_dense_algo'].startswith('tuned') for r in low)}")
    print(f"self-pair ratio (one plan against itself): {min(self):.3f}-{max(self):.3f}")
    r2 = [r for r in rows if r["ratio"] is not None]
    print(f"sparse24 ratio >= PyTorch's: {sum(r['ratio'] >= 1.0 for r in r2)} of {len(r2)}; below: " +
          ", ".join(f"{r['name']} {r['dtype']} {r['ratio']:.2f}" for r in r2 if r["ratio"] < 1.0))
    ho = [num(r["host_overhead_us"]) for r in rows if num(r["host_overhead_us"]) is not None]
    if ho:
        ho.sort()
        print(f"host overhead over cusparseLtMatmul: median {ho[len(ho) // 2]:.2f} us over {len(ho)} rows, "
              f"{sum(abs(x) <= 1.0 for x in ho)} within +-1 us, range {ho[0]:.1f}..{ho[-1]:.1f}")
    g = [(r["name"], r["dtype"], num(r["graph_us_per_call"]), num(r["eager_us_per_call"])) for r in rows
         if num(r["graph_us_per_call"])]
    if g:
        print("graph vs eager us/call: " + ", ".join(f"{n} {d} {a:.1f}/{b:.1f}" for n, d, a, b in g[:4]))
    for r in rows:
        if r["name"].startswith("square") and int(r["m"]) >= 4096:
            print(f"{r['name']} {r['dtype']}: {r['x']:.2f}x (paired {num(r['pair_speedup']):.2f}x), "
                  f"sparse {num(r['sparse_ms']):.4f} ms, dense {num(r['dense_ms']):.4f} ms, "
                  f"own {f(num(r.get('own_ms')), '.4f')} ms")


def spread(paths):
    """Per square shape and dtype: the speedup of every run, min-median-max."""
    runs = [list(csv.DictReader(open(p))) for p in paths]
    keys = []
    for r in runs[0]:
        if r["name"].startswith("square"):
            keys.append((r["name"], r["dtype"]))
    print("| shape | dtype | speedup per run | median (min-max) | paired per run | paired median |")
    print("|---|---|---|---|---|---|")
    for name, dt in keys:
        xs, ps = [], []
        for rows in runs:
            for r in rows:
                if r["name"] == name and r["dtype"] == dt:
                    if num(r["speedup"]):
                        xs.append(num(r["speedup"]))
                    if num(r.get("pair_speedup")):
                        ps.append(num(r["pair_speedup"]))
        if not xs:
            continue
        med = statistics.median(xs)
        pmed = statistics.median(ps) if ps else None
        size = name[len("square"):]
        print(f"| {size}^3 | {dt} | {' / '.join(f'{x:.2f}' for x in xs)} | {med:.2f}x ({min(xs):.2f}-{max(xs):.2f}) | "
              f"{' / '.join(f'{x:.2f}' for x in ps)} | {f(pmed, '.2f')}x |")


def main():
    ap = argparse.ArgumentParser(description="tables for docs/results/gemm-h100.md")
    ap.add_argument("gemm_csv")
    ap.add_argument("torch_csv", nargs="?")
    ap.add_argument("--summary", action="store_true", help="the counts instead of the table")
    ap.add_argument("--spread", nargs="*", metavar="MORE_CSV",
                    help="square rows of GEMM_CSV and these runs side by side")
    a = ap.parse_args()
    if a.spread is not None:
        try:
            spread([a.gemm_csv] + ([a.torch_csv] if a.torch_csv else []) + a.spread)
        except (OSError, KeyError) as e:
            raise SystemExit(f"gemm_report.py: {e}")
        return
    try:
        rows = load(a.gemm_csv, a.torch_csv)
    except (OSError, KeyError) as e:
        raise SystemExit(f"gemm_report.py: {e}")
    summary(rows) if a.summary else table(rows)


if __name__ == "__main__":
    main()
