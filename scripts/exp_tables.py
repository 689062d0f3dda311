#!/usr/bin/env python3
"""exp_tables.py: the generated tables of the pruning grid's results doc
(issue 10): mean +/- std over seeds of summary.csv per model and strategy,
and "right after pruning" (accuracy at phase 2's epoch 0 and the magnitude 2:4
keeps per layer, with and without channel permutations) from the runs'
prune_report.csv. `scripts/exp.sh plots` calls it.

Each table goes between a pair of markers in the doc,
    <!-- BEGIN generated: NAME ... -->  ...  <!-- END generated: NAME -->
and only there, so the prose around them stays as written and a rerun gives
the same file. It never writes summary.csv (one row per run, no mean rows).

usage: exp_tables.py RESULTS DOC [MODELS] [STRATEGIES]   (lists space-separated)
"""
import csv
import math
import os
import re
import sys

PRETTY = {"resnet18": "ResNet18", "efficientnet_b0": "EfficientNet-B0"}
# pairs compared right after pruning: the same phase 1 and mask rule, natural
# channel order against the permutation found on the trained weights
PAIRS = [("continue", "continue_perm"), ("rewind", "rewind_perm")]


def die(msg):
    print(f"exp_tables.py: {msg}", file=sys.stderr)
    sys.exit(1)


def mean_std(xs):
    """Mean and sample standard deviation (n - 1; None for one value)."""
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, None
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))


def cell(xs, digits=2, signed=False):
    """'90.35 ± 0.12 (n=3)'; '-' without values; signed: '+0.21' for a
    difference. n in every cell, so a table over partial data says how many
    seeds each figure rests on."""
    if not xs:
        return "-"
    m, s = mean_std(xs)
    f = f"{'+' if signed else ''}.{digits}f"
    if s is None:
        return f"{m:{f}} (n=1)"
    return f"{m:{f}} ± {s:.{digits}f} (n={len(xs)})"


def num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def read_summary(path):
    rows = list(csv.DictReader(open(path, newline="")))
    want = ["model", "strategy", "seed", "epochs", "acc_after_prune", "final_acc", "best_acc"]
    if rows and list(rows[0].keys()) != want:
        die(f"{path}: header {list(rows[0].keys())}, expected {want}")
    return rows


def summary_table(rows, models, order):
    out = ["Test accuracy (%) on the 10,000 CIFAR-10 test images: mean ± sample "
           "standard deviation over the seeds done, n = the number of seeds; "
           "after pruning = phase 2's epoch 0, before any retraining (empty where "
           "no mask was applied); best over epochs 1 to the last.", ""]
    for m in models:
        mine = [r for r in rows if r["model"] == m]
        if not mine:
            continue
        seeds = sorted({int(r["seed"]) for r in mine})
        out.append(f"**{PRETTY.get(m, m)}** (seeds with a run: {', '.join(map(str, seeds))})")
        out.append("")
        out.append("| strategy | epochs | after pruning | final | best |")
        out.append("|---|---:|---:|---:|---:|")
        strategies = order + sorted({r["strategy"] for r in mine} - set(order))
        for s in strategies:
            rs = [r for r in mine if r["strategy"] == s]
            if not rs:
                continue
            col = {k: [v for v in (num(r[k]) for r in rs) if v is not None]
                   for k in ("acc_after_prune", "final_acc", "best_acc")}
            epochs = "/".join(sorted({r["epochs"] for r in rs}, key=int))
            out.append(f"| {s} | {epochs} | {cell(col['acc_after_prune'])} | "
                       f"{cell(col['final_acc'])} | {cell(col['best_acc'])} |")
        out.append("")
    return out


def avg(xs):
    return f"{sum(xs) / len(xs):.2f}" if xs else "-"


def read_report(path):
    """prune_report.csv as {tensor: (numel, magnitude, kept, kept_perm, bound)}, in file order."""
    rep = {}
    for r in csv.DictReader(open(path, newline="")):
        rep[r["tensor"]] = (int(r["numel"]), num(r["magnitude"]), num(r["kept_fraction"]),
                            num(r["kept_fraction_permuted"]), num(r["bound_fraction"]))
    return rep


def after_prune_table(results, rows, models):
    out = ["Right after pruning against after retraining, natural channel order "
           "against `--permute` (the permutation is searched on the trained "
           "weights; `rewind_perm` applies it to the original initialisation too). "
           "Δ is perm minus natural, paired by seed (both runs start from the "
           "same phase 1). Accuracy in %, mean ± sample standard deviation, n seeds.", ""]
    out.append("| model | pair | after pruning, natural | permuted | Δ | final, natural | "
               "permuted | Δ |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for m in models:
        for a, b in PAIRS:
            ra = {r["seed"]: r for r in rows if r["model"] == m and r["strategy"] == a}
            rb = {r["seed"]: r for r in rows if r["model"] == m and r["strategy"] == b}
            if not ra and not rb:
                continue
            both = sorted(set(ra) & set(rb), key=int)
            cells = []
            for k in ("acc_after_prune", "final_acc"):
                xa = [num(r[k]) for r in ra.values() if num(r[k]) is not None]
                xb = [num(r[k]) for r in rb.values() if num(r[k]) is not None]
                d = [num(rb[s][k]) - num(ra[s][k]) for s in both
                     if num(ra[s][k]) is not None and num(rb[s][k]) is not None]
                cells += [cell(xa), cell(xb), cell(d, signed=True)]
            out.append(f"| {PRETTY.get(m, m)} | {a} / {b} | " + " | ".join(cells) + " |")
    out.append("")
    # the kept magnitude: continue_perm's report holds both orders (the
    # natural one measured before the search, on the same trained weights)
    out.append("Magnitude kept by the 2:4 mask (sum of |w| kept over sum of |w|, "
               "trained phase-1 weights, in %), natural order and after the "
               "permutations, and the bound no permutation can pass (each row's "
               "largest half), from `continue_perm/prune_report.csv`; `all` sums "
               "over every masked weight.")
    out.append("")
    warn = []
    for m in models:
        reps = {}
        for s in sorted({r["seed"] for r in rows if r["model"] == m}, key=int):
            p = os.path.join(results, f"{m}_s{s}", "continue_perm", "prune_report.csv")
            if not os.path.exists(p):
                continue
            reps[s] = read_report(p)
            # the natural order of the permuted run is continue's mask: check it
            q = os.path.join(results, f"{m}_s{s}", "continue", "prune_report.csv")
            if os.path.exists(q):
                nat = read_report(q)
                for t, v in reps[s].items():
                    if t not in nat or nat[t][2] is None or v[2] is None or \
                            abs(nat[t][2] - v[2]) > 1e-6:
                        warn.append(f"{m} seed {s} {t}: continue and continue_perm "
                                    "differ in the natural order's kept magnitude")
                        break
        if not reps:
            continue
        seeds = sorted(reps, key=int)
        first = reps[seeds[0]]
        n = len(seeds)

        def vals(t, i, scale=100.0):
            return [reps[s][t][i] * scale for s in seeds
                    if t in reps[s] and reps[s][t][i] is not None]

        def gains(t):
            return [(reps[s][t][3] - reps[s][t][2]) * 100 for s in seeds
                    if t in reps[s] and None not in (reps[s][t][2], reps[s][t][3])]

        tot = "all"
        if tot in first:
            out.append(f"**{PRETTY.get(m, m)}**, all masked weights: natural "
                       f"{cell(vals(tot, 2))}, permuted {cell(vals(tot, 3))}, gain "
                       f"{cell(gains(tot), signed=True)} points, bound {cell(vals(tot, 4))}.")
            out.append("")
        layers = [t for t in first if t != tot]
        out.append(f"<details><summary>{PRETTY.get(m, m)}: per layer ({len(layers)} masked "
                   f"weights; mean over n={n} seed{'s' if n != 1 else ''}: "
                   f"{', '.join(seeds)})</summary>")
        out.append("")
        out.append("| layer | weights | natural | permuted | gain | bound |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for t in layers:
            nat, per, bnd, g = vals(t, 2), vals(t, 3), vals(t, 4), gains(t)
            sign = "+" if g and sum(g) >= 0 else ""
            out.append(f"| `{t}` | {first[t][0]} | {avg(nat)} | {avg(per)} | "
                       f"{sign}{avg(g)} | {avg(bnd)} |")
        out.append("")
        out.append("</details>")
        out.append("")
    for w in warn:
        print(f"exp_tables.py: WARNING {w}", file=sys.stderr)
    return out


def put(doc_text, name, lines, doc):
    begin = re.compile(rf"^<!-- BEGIN generated: {re.escape(name)}\b.*-->$", re.M)
    end = re.compile(rf"^<!-- END generated: {re.escape(name)} -->$", re.M)
    b, e = begin.search(doc_text), end.search(doc_text)
    if not b or not e or e.start() < b.end():
        die(f"{doc}: no '<!-- BEGIN generated: {name} ... -->' ... "
            f"'<!-- END generated: {name} -->' pair to write between")
    return doc_text[:b.end()] + "\n" + "\n".join(lines) + "\n" + doc_text[e.start():]


def main():
    if len(sys.argv) < 3:
        die("usage: exp_tables.py RESULTS DOC [MODELS] [STRATEGIES]")
    results, doc = sys.argv[1], sys.argv[2]
    models = (sys.argv[3] if len(sys.argv) > 3 else "resnet18 efficientnet_b0").split()
    order = (sys.argv[4] if len(sys.argv) > 4 else
             "dense_phase1 continue rewind reinit continue_perm rewind_perm dense_control "
             "continue_10").split()
    summary = os.path.join(results, "summary.csv")
    if not os.path.exists(summary):
        die(f"{summary} missing (scripts/exp.sh summary)")
    rows = read_summary(summary)
    text = open(doc, encoding="utf-8").read()
    text = put(text, "summary", summary_table(rows, models, order), doc)
    text = put(text, "after-pruning", after_prune_table(results, rows, models), doc)
    tmp = doc + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, doc)
    print(f"exp_tables.py: {doc}: tables of {len(rows)} runs")


if __name__ == "__main__":
    main()
