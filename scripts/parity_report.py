#!/usr/bin/env python3
"""parity_report.py: the accuracy-parity table of sparse24's training engine
against PyTorch, from the per-epoch CSVs that scripts/gpu/run_parity.sh
brings back (s24_MODEL_sSEED.csv: sparse24's train.csv;
torch_MODEL_sSEED.csv: bench/torch_train_parity.py; both with the columns
phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds). It does not
measure; every number comes from the CSVs.

For each (model, engine): the final test accuracy of every run (by seed; two
runs of one seed, from two folders, are both shown and both counted), the
number of runs, mean +/- sample standard deviation, and the median seconds
per epoch; then per model the difference of the means (sparse24 - PyTorch)
with Welch's standard error sqrt(s1^2/n1 + s2^2/n2).

A run whose last epoch is short of the model's epoch count (--epochs, else
the most epochs any run of that model reached) is marked as partial and
left out of the statistics (--include-partial counts it at its last epoch).

--svg FILE draws the per-epoch mean test accuracy of each engine with a
min-max band over its runs, one panel per model, as a plain SVG written by
hand (no plotting library needed).

usage: parity_report.py DIR_OR_CSV... [-o REPORT.md] [--svg CURVES.svg]
                        [--epochs N] [--phase 1] [--include-partial]
"""
import argparse
import csv
import math
import os
import re
import statistics
import sys

NAME = re.compile(r"^(s24|torch)_(.+)_s(\d+)\.csv$")
ENGINE_LABEL = {"s24": "sparse24", "torch": "PyTorch"}
ENGINE_COLOUR = {"s24": "#c0392b", "torch": "#1f5fa8"}
ENGINES = ("s24", "torch")
NEEDED = ("phase", "epoch", "test_acc", "seconds")


def find_csvs(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if NAME.match(f):
                        out.append(os.path.join(root, f))
        elif os.path.isfile(p):
            if NAME.match(os.path.basename(p)):
                out.append(p)
            else:
                print(f"parity_report: {p}: not named s24_MODEL_sSEED.csv or torch_MODEL_sSEED.csv; "
                      f"skipped", file=sys.stderr)
        else:
            print(f"parity_report: {p}: no such file or folder", file=sys.stderr)
    seen, uniq = set(), []
    for p in out:
        k = os.path.realpath(p)
        if k not in seen:
            seen.add(k)
            uniq.append(p)
    return uniq


def read_run(path, phase):
    engine, model, seed = NAME.match(os.path.basename(path)).groups()
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        missing = [c for c in NEEDED if c not in (rd.fieldnames or [])]
        if missing:
            print(f"parity_report: {path}: no column {', '.join(missing)}; skipped", file=sys.stderr)
            return None
        rows = []
        for r in rd:
            try:
                if int(r["phase"]) != phase:
                    continue
                rows.append((int(r["epoch"]), float(r["test_acc"]), float(r["seconds"])))
            except (TypeError, ValueError):
                print(f"parity_report: {path}: unreadable row {r}; skipped", file=sys.stderr)
    if not rows:
        print(f"parity_report: {path}: no phase-{phase} rows; skipped", file=sys.stderr)
        return None
    rows.sort()
    return {"engine": engine, "model": model, "seed": int(seed), "path": path,
            "epochs": [r[0] for r in rows], "acc": [r[1] for r in rows],
            "seconds": [r[2] for r in rows], "last": rows[-1][0], "final": rows[-1][1]}


def mean_std(xs):
    if not xs:
        return None, None
    m = statistics.fmean(xs)
    return m, (statistics.stdev(xs) if len(xs) > 1 else None)


def fmt(v, spec=".2f"):
    return "–" if v is None else format(v, spec)


def report(runs, expected, include_partial, phase):
    models = sorted({r["model"] for r in runs})
    lines = ["# Accuracy parity: sparse24 vs PyTorch", "",
             "CIFAR-10 (JPEG re-encoding), the paper's dense recipe (phase %d). Final test "
             "accuracy in percent, per seed; mean ± sample standard deviation over the runs "
             "counted; s/epoch is the median wall time of an epoch (training + evaluation)." % phase,
             ""]
    stats = {}
    for model in models:
        mruns = [r for r in runs if r["model"] == model]
        seeds = sorted({r["seed"] for r in mruns})
        e = expected[model]
        lines += [f"## {model} ({e} epochs)", "",
                  "| engine | " + " | ".join(f"seed {s}" for s in seeds) +
                  " | runs | mean ± std | s/epoch |",
                  "|---|" + "---:|" * len(seeds) + "---:|---|---:|"]
        for eng in ENGINES:
            er = [r for r in mruns if r["engine"] == eng]
            if not er:
                continue
            cells, counted, secs = [], [], []
            for s in seeds:
                vals = []
                for r in (x for x in er if x["seed"] == s):
                    partial = r["last"] < e
                    if partial:
                        vals.append(f"{r['final']:.2f} (epoch {r['last']})†")
                    else:
                        vals.append(f"{r['final']:.2f}")
                    if not partial or include_partial:
                        counted.append(r["final"])
                    secs.extend(r["seconds"])
                cells.append(" / ".join(vals) if vals else "")
            m, sd = mean_std(counted)
            stats[(model, eng)] = (m, sd, len(counted))
            ms = "–" if m is None else (f"{m:.2f} ± {sd:.2f}" if sd is not None else f"{m:.2f}")
            lines.append(f"| {ENGINE_LABEL[eng]} | " + " | ".join(cells) +
                         f" | {len(counted)} | {ms} | {fmt(statistics.median(secs) if secs else None, '.1f')} |")
        lines.append("")
    lines += ["## Difference of means", "",
              "| model | sparse24 | PyTorch | sparse24 − PyTorch | std. error (Welch) |",
              "|---|---:|---:|---:|---:|"]
    for model in models:
        a = stats.get((model, "s24"), (None, None, 0))
        b = stats.get((model, "torch"), (None, None, 0))
        diff = a[0] - b[0] if a[0] is not None and b[0] is not None else None
        se = (math.sqrt(a[1] ** 2 / a[2] + b[1] ** 2 / b[2])
              if diff is not None and a[1] is not None and b[1] is not None else None)

        def cell(s):
            return "–" if s[0] is None else f"{s[0]:.2f} (n={s[2]})"
        lines.append(f"| {model} | {cell(a)} | {cell(b)} | {fmt(diff, '+.2f')} | {fmt(se)} |")
    lines.append("")
    if any(r["last"] < expected[r["model"]] for r in runs):
        lines += ["† partial run (stopped before the last epoch): " +
                  ("counted at its last epoch." if include_partial else "not counted."), ""]
    lines += ["Runs read:", ""]
    for r in sorted(runs, key=lambda r: (r["model"], r["engine"], r["seed"], r["path"])):
        lines.append(f"- `{r['path']}`: {r['model']}, {ENGINE_LABEL[r['engine']]}, seed {r['seed']}, "
                     f"{r['last']} epochs, final {r['final']:.2f}%")
    lines.append("")
    return "\n".join(lines)


def nice_step(span, target=6):
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_curves(runs, expected, include_partial):
    models = sorted({r["model"] for r in runs})
    pw, ph = 460, 330               # one panel
    ml, mr, mt, mb = 56, 16, 34, 46  # margins inside a panel
    W, H = pw * len(models), ph
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for k, model in enumerate(models):
        x0 = k * pw
        used = [r for r in runs if r["model"] == model
                and (r["last"] >= expected[model] or include_partial)]
        series = {}
        for eng in ENGINES:
            er = [r for r in used if r["engine"] == eng]
            per = {}
            for r in er:
                for ep, acc in zip(r["epochs"], r["acc"]):
                    per.setdefault(ep, []).append(acc)
            if per:
                series[eng] = (len(er), sorted((ep, statistics.fmean(v), min(v), max(v))
                                               for ep, v in per.items()))
        allv = [p for _, pts in series.values() for pt in pts for p in pt[1:]]
        emax = max([expected[model]] + [pt[0] for _, pts in series.values() for pt in pts])
        lo = math.floor(min(allv) / 10) * 10 if allv else 0
        hi = min(100, math.ceil(max(allv) / 5) * 5) if allv else 100
        if hi - lo < 5:
            lo, hi = max(0, hi - 5), max(hi, 5)
        ax, ay, aw, ah = x0 + ml, mt, pw - ml - mr, ph - mt - mb

        def X(e):
            return ax + aw * (e - 1) / max(1, emax - 1)

        def Y(v):
            return ay + ah * (hi - v) / (hi - lo)

        out.append(f'<text x="{x0 + pw / 2:.1f}" y="20" text-anchor="middle" font-size="14">'
                   f'{esc(model)}: test accuracy per epoch</text>')
        ys = nice_step(hi - lo)
        v = math.ceil(lo / ys) * ys
        while v <= hi + 1e-9:
            out.append(f'<line x1="{ax}" y1="{Y(v):.1f}" x2="{ax + aw}" y2="{Y(v):.1f}" stroke="#e4e4e4"/>')
            out.append(f'<text x="{ax - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
            v += ys
        xs = nice_step(emax - 1) if emax > 1 else 1
        xs = max(1, int(round(xs)))
        ticks = [1] + list(range(xs, emax + 1, xs))
        for e in sorted(set(ticks)):
            out.append(f'<line x1="{X(e):.1f}" y1="{ay + ah}" x2="{X(e):.1f}" y2="{ay + ah + 4}" stroke="black"/>')
            out.append(f'<text x="{X(e):.1f}" y="{ay + ah + 17}" text-anchor="middle">{e}</text>')
        out.append(f'<rect x="{ax}" y="{ay}" width="{aw}" height="{ah}" fill="none" stroke="black"/>')
        out.append(f'<text x="{ax + aw / 2:.1f}" y="{ph - 10}" text-anchor="middle">epoch</text>')
        out.append(f'<text transform="translate({x0 + 16},{ay + ah / 2:.1f}) rotate(-90)" '
                   f'text-anchor="middle">test accuracy (%)</text>')
        ly = ay + ah - 12 - 18 * (len(series) - 1)
        for eng, (nruns, pts) in series.items():
            c = ENGINE_COLOUR[eng]
            if nruns > 1:
                band = [f"{X(p[0]):.1f},{Y(p[3]):.1f}" for p in pts] + \
                       [f"{X(p[0]):.1f},{Y(p[2]):.1f}" for p in reversed(pts)]
                out.append(f'<polygon points="{" ".join(band)}" fill="{c}" fill-opacity="0.15" stroke="none"/>')
            line = " ".join(f"{X(p[0]):.1f},{Y(p[1]):.1f}" for p in pts)
            out.append(f'<polyline points="{line}" fill="none" stroke="{c}" stroke-width="1.8"/>')
            out.append(f'<line x1="{ax + aw - 150}" y1="{ly}" x2="{ax + aw - 126}" y2="{ly}" '
                       f'stroke="{c}" stroke-width="2.5"/>')
            out.append(f'<text x="{ax + aw - 120}" y="{ly + 4}">{ENGINE_LABEL[eng]} (n={nruns})</text>')
            ly += 18
        if series:
            band = any(nr > 1 for nr, _ in series.values())
            out.append(f'<text x="{ax + aw - 8}" y="{ay + 16}" text-anchor="end" fill="#555">'
                       f'mean over runs{"; band: min–max" if band else ""}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="folders (searched recursively) or CSV files")
    ap.add_argument("-o", "--out", help="write the markdown here (default: stdout)")
    ap.add_argument("--svg", help="also draw the per-epoch mean curves into this SVG")
    ap.add_argument("--epochs", type=int, default=0,
                    help="epochs a complete run has (default: the most any run of the model has)")
    ap.add_argument("--phase", type=int, default=1, help="which phase's rows to read (default 1)")
    ap.add_argument("--include-partial", action="store_true",
                    help="count runs that stopped early, at their last epoch")
    a = ap.parse_args()
    runs = [r for r in (read_run(p, a.phase) for p in find_csvs(a.paths)) if r]
    if not runs:
        print("parity_report: no s24_*_s*.csv or torch_*_s*.csv with data found", file=sys.stderr)
        return 1
    expected = {}
    for r in runs:
        expected[r["model"]] = a.epochs or max(expected.get(r["model"], 0), r["last"])
    md = report(runs, expected, a.include_partial, a.phase)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)
        print(f"parity_report: wrote {a.out}", file=sys.stderr)
    else:
        sys.stdout.write(md)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg_curves(runs, expected, a.include_partial))
        print(f"parity_report: wrote {a.svg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
