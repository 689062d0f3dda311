#!/bin/bash
# exp.sh: the host side of the pruning grid (issue 10, docs/experiments.md):
# which runs are done, the device call for each pending (model, seed) group,
# and the results of fetched calls merged into docs/results/pruning-cifar10/.
# The device side is scripts/gpu/exp_group.sh; this script never trains.
#
#   scripts/exp.sh init            runs.csv with every run of the grid (pending) if missing
#   scripts/exp.sh status          what is done, partial, pending
#   scripts/exp.sh plan            the device call(s) for every group with pending runs
#   scripts/exp.sh ingest DIR|TAR...  unpack fetched exp_*.tar.gz, update runs.csv, summary.csv
#   scripts/exp.sh summary         rebuild summary.csv from runs.csv and the run CSVs
#   scripts/exp.sh plots           figures (`sparse24 plot`, needs build/sparse24 or S24) and,
#                                  with rsvg-convert, their PNGs; the tables of DOC
#                                  (scripts/exp_tables.py)
#
# Files (RESULTS, default docs/results/pruning-cifar10):
#   runs.csv      model,seed,strategy,epochs,status,commit,command: the run list;
#                 status pending | partial | failed | skipped | done, commit and
#                 command as the device call recorded them (pending: the command
#                 exp_group.sh will run)
#   summary.csv   model,strategy,seed,epochs,acc_after_prune,final_acc,best_acc of
#                 every done run
#   MODEL_sSEED/STRATEGY/{train.csv,prune_report.csv,log.txt}, MODEL_sSEED/calls/TAG/
#                 (each call's manifest.csv, versions.txt, timeline.txt, phase1.sha256)
#   MODEL.svg, MODEL_fig3.svg, MODEL_fig4.svg (and .png): every strategy; continue,
#                 rewind, reinit; with and without permutations (scripts/exp.sh plots)
# Environment: RESULTS, DOC (the results doc whose generated tables plots rewrites,
#   default docs/results/pruning-cifar10.md), PNG (auto | 1 | 0: PNG copies of the figures),
#   S24 (the sparse24 binary), MODELS [resnet18 efficientnet_b0], SEEDS [1 42 98],
#   GPUS (GPUs of the machine asked for, default 1), CAP1_<model> / CAP2_<model> (phase-2
#   epochs per GPU the first / a later call of a group is planned to hold; from measured rates,
#   see docs/experiments.md), FRESH=1 (plan every call as on a fresh machine).
set -eo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${RESULTS:-$ROOT/docs/results/pruning-cifar10}
DOC=${DOC:-$ROOT/docs/results/pruning-cifar10.md}
MODELS=${MODELS:-"resnet18 efficientnet_b0"}
SEEDS=${SEEDS:-"1 42 98"}
GPUS=${GPUS:-1}
STRATEGIES="dense_phase1 continue rewind reinit continue_perm rewind_perm dense_control continue_10"
RUNS_CSV=$RESULTS/runs.csv
SUMMARY_CSV=$RESULTS/summary.csv
command -v python3 >/dev/null || { echo "exp.sh: python3 is needed" >&2; exit 1; }

die() { echo "exp.sh: $*" >&2; exit 1; }

# The commit a device call would stamp: HEAD, "-dirty" when the sources the
# device copy builds from differ from it (the device gets the working tree).
commit_id() {
  local c
  c=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null) || { echo unknown; return; }
  if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- src include tools bench mk \
             Makefile scripts 2>/dev/null)" ]; then
    c="$c-dirty"
  fi
  echo "$c"
}

init() {
  mkdir -p "$RESULTS"
  local tmp
  tmp=$(mktemp)
  for m in $MODELS; do
    for s in $SEEDS; do
      # the commands exactly as exp_group.sh builds them (one source of truth)
      EXP_DRY=1 S24=${S24:-build/sparse24} "$ROOT/scripts/gpu/exp_group.sh" "$m" "$s" | tail -n +2 |
        while IFS=, read -r strategy epochs cmd; do
          echo "$m,$s,$strategy,$epochs,pending,,\"$cmd\""
        done >> "$tmp"
    done
  done
  python3 - "$RUNS_CSV" "$tmp" <<'PY'
import csv, os, sys
path, new = sys.argv[1], sys.argv[2]
head = ["model", "seed", "strategy", "epochs", "status", "commit", "command"]
rows = []
if os.path.exists(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
have = {(r["model"], r["seed"], r["strategy"]) for r in rows}
added = 0
with open(new, newline="") as f:
    for r in csv.reader(f):
        d = dict(zip(head, r))
        if (d["model"], d["seed"], d["strategy"]) not in have:
            rows.append(d)
            added += 1
with open(path + ".tmp", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=head, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
os.replace(path + ".tmp", path)
print(f"exp.sh: {path}: {len(rows)} runs ({added} added)")
PY
  rm -f "$tmp"
  [ -f "$SUMMARY_CSV" ] ||
    echo "model,strategy,seed,epochs,acc_after_prune,final_acc,best_acc" > "$SUMMARY_CSV"
}

status() {
  [ -f "$RUNS_CSV" ] || die "$RUNS_CSV missing (scripts/exp.sh init)"
  python3 - "$RUNS_CSV" <<'PY'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
count = collections.Counter(r["status"] for r in rows)
print("runs: " + ", ".join(f"{v} {k}" for k, v in sorted(count.items())) + f" (of {len(rows)})")
groups = collections.OrderedDict()
for r in rows:
    groups.setdefault((r["model"], r["seed"]), []).append(r)
for (m, s), rs in groups.items():
    todo = [r["strategy"] + ("" if r["status"] == "pending" else f" ({r['status']})")
            for r in rs if r["status"] != "done"]
    print(f"  {m} seed {s}: " + (", ".join(todo) if todo else "all done"))
PY
}

plan() {
  [ -f "$RUNS_CSV" ] || die "$RUNS_CSV missing (scripts/exp.sh init)"
  local commit kind
  commit=$(commit_id)
  case $GPUS in
    1) kind=nvidia-h200 ;;
    2|4|8) kind=nvidia-h200-x$GPUS ;;
    *) die "GPUS $GPUS: expected 1, 2, 4 or 8" ;;
  esac
  case $commit in *-dirty)
    echo "exp.sh: warning: the working tree differs from HEAD in src/include/tools/mk/scripts;" \
         "commit first so that runs.csv names what ran" >&2 ;;
  esac
  python3 - "$RUNS_CSV" "$commit" "$kind" "$GPUS" <<'PY'
import csv, os, sys, collections
path, commit, kind, gpus = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# Per model, measured on one H200 (2026-12-01, commit 993b517, the calls'
# timeline.txt; docs/experiments.md): seconds of phase 1 alone, seconds per
# phase-2 epoch of one run while 3-4 share the GPU, and the phase-2 epochs a
# call is planned to hold: the first call of a group (setup and phase 1
# first), a later one on the machine still warm from it; both leave ~15 %
# of the 580 s deadline spare.
est = {"resnet18": (90, 2.3, 150, 220), "efficientnet_b0": (115, 2.1, 140, 230)}
for m in est:
    p1, ep, c1, c2 = est[m]
    c1 = int(os.environ.get(f"CAP1_{m}", c1))
    c2 = int(os.environ.get(f"CAP2_{m}", c2))
    est[m] = (p1, ep, c1, c2)
setup = 60  # env, CIFAR conversion (~15 s) and the CUDA build (~12 s on 16 cores), measured; plus slack
fresh = os.environ.get("FRESH", "0") == "1"  # plan every call as on a fresh machine
rows = list(csv.DictReader(open(path, newline="")))
groups = collections.OrderedDict()
for r in rows:
    groups.setdefault((r["model"], r["seed"]), []).append(r)
calls = 0
for (m, s), rs in groups.items():
    todo = [r for r in rs if r["status"] != "done"]
    if not todo:
        continue
    p1, ep, c1, c2 = est.get(m, (60, 1.0, 100, 220))
    # first fit, in the grid's order: the first call holds less (it builds and trains phase 1)
    chunks = []
    for r in todo:
        if r["strategy"] == "dense_phase1":
            continue
        cost = int(r["epochs"]) + (5 if r["strategy"].endswith("_perm") else 0)
        for ch in chunks:
            if ch["load"] + cost <= ch["cap"]:
                break
        else:
            ch = {"cap": (c1 if not chunks or fresh else c2) * gpus, "load": 0, "runs": []}
            chunks.append(ch)
        ch["runs"].append(r["strategy"])
        ch["load"] += cost
    if not chunks:
        chunks = [{"cap": 0, "load": 0, "runs": ["none"]}]
    print(f"# {m} seed {s}: pending {' '.join(r['strategy'] for r in todo)}")
    for i, ch in enumerate(chunks):
        calls += 1
        first = i == 0 or fresh
        t = (setup + p1 if first else 0) + ch["load"] * ep / gpus
        how = "setup + phase 1" if first else "phase 1 reused (machine still warm)"
        print(f"#   call {i + 1}/{len(chunks)}: {how} + {' '.join(ch['runs'])}: "
              f"about {t:.0f} s (from measured rates)")
        print(f'run(kind="{kind}", timeout_s=600, carry=[".debs", ".carry/data"],')
        print(f'    command="GIT_COMMIT={commit} EXP_RUNS=\'{" ".join(ch["runs"])}\' '
              f'scripts/gpu/exp_group.sh {m} {s}")')
print(f"# {calls} call(s); after each: scripts/exp.sh ingest FILES_AT "
      "(the folder the files came back to)" if calls else "# nothing pending")
PY
}

ingest() {
  [ $# -ge 1 ] || die "ingest: give the folder(s) or exp_*.tar.gz file(s) a call brought back"
  [ -f "$RUNS_CSV" ] || init
  local tars=() a
  for a in "$@"; do
    if [ -d "$a" ]; then
      while IFS= read -r f; do tars+=("$f"); done < <(find "$a" -name 'exp_*.tar.gz' | sort)
    elif [ -f "$a" ]; then tars+=("$a")
    else die "ingest: $a: no such file or folder"; fi
  done
  [ ${#tars[@]} -gt 0 ] || die "ingest: no exp_*.tar.gz in $*"
  for t in "${tars[@]}"; do
    local tmp tag
    tmp=$(mktemp -d)
    tar xzf "$t" -C "$tmp" || die "ingest: $t: cannot unpack"
    tag=$(basename "$t" .tar.gz)
    tag=${tag##*_}
    python3 - "$tmp" "$RESULTS" "$RUNS_CSV" "$tag" "$t" <<'PY'
import csv, glob, os, shutil, sys
tmp, results, runs_csv, tag, tar = sys.argv[1:6]
rank = {"pending": 0, "skipped": 1, "failed": 2, "partial": 3, "done": 4}
head = ["model", "seed", "strategy", "epochs", "status", "commit", "command"]
rows = list(csv.DictReader(open(runs_csv, newline="")))
index = {(r["model"], r["seed"], r["strategy"]): r for r in rows}
for man in sorted(glob.glob(os.path.join(tmp, "*", "manifest.csv"))):
    gdir = os.path.dirname(man)
    g = os.path.basename(gdir)
    dest = os.path.join(results, g)
    calls = os.path.join(dest, "calls", tag)
    os.makedirs(calls, exist_ok=True)
    for f in ("manifest.csv", "versions.txt", "timeline.txt", "phase1.sha256"):
        if os.path.exists(os.path.join(gdir, f)):
            shutil.copy(os.path.join(gdir, f), calls)
    man_rows = list(csv.DictReader(open(man, newline="")))
    # phase 1 of this call against the phase 1 already recorded for the group
    shas = sorted(glob.glob(os.path.join(dest, "calls", "*", "phase1.sha256")))
    seen = {open(p).read().strip() for p in shas} - {""}
    if len(seen) > 1:
        print(f"exp.sh: WARNING {g}: phase 1 differs between calls ({len(seen)} checkpoints: "
              f"{', '.join(sorted(s[:12] for s in seen))}); phase-2 runs of different calls "
              f"did not start from the same weights (see docs/experiments.md)", file=sys.stderr)
    for r in man_rows:
        key = (r["model"], r["seed"], r["strategy"])
        old = index.get(key)
        src = os.path.join(gdir, r["strategy"])
        dst = os.path.join(dest, r["strategy"])
        old_rank = rank.get(old["status"], 0) if old else -1
        new_rank = rank.get(r["status"], 0)
        # a done run is never replaced by a lesser one; phase 1 once done is kept
        # (a later call's phase 1 is a re-run of the same, checked by its sha256)
        keep_old = old_rank == rank["done"] and (new_rank < rank["done"] or
                                                 r["strategy"] == "dense_phase1")
        if not keep_old and os.path.isdir(src):
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
        if not keep_old and new_rank >= old_rank:
            d = {k: r[k] for k in head}
            if old:
                old.update(d)
            else:
                rows.append(d)
                index[key] = d
        print(f"  {g} {r['strategy']:<14} {r['status']:<8} {r['epochs_done']:>3}/{r['epochs']:<3}"
              f" {'(kept the earlier done run)' if keep_old else ''}")
with open(runs_csv + ".tmp", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=head, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
os.replace(runs_csv + ".tmp", runs_csv)
print(f"exp.sh: {tar} merged into {results}")
PY
    rm -rf "$tmp"
  done
  summary
}

summary() {
  [ -f "$RUNS_CSV" ] || die "$RUNS_CSV missing (scripts/exp.sh init)"
  python3 - "$RUNS_CSV" "$SUMMARY_CSV" "$RESULTS" "$STRATEGIES" "$MODELS" <<'PY'
import csv, math, os, sys
runs_csv, out, results, order, models = sys.argv[1:6]
order = order.split()
models = models.split()
head = ["model", "strategy", "seed", "epochs", "acc_after_prune", "final_acc", "best_acc"]
def num(x):
    try:
        v = float(x)
    except ValueError:
        return None
    return None if math.isnan(v) else v
rows = []
for r in csv.DictReader(open(runs_csv, newline="")):
    if r["status"] != "done":
        continue
    path = os.path.join(results, f"{r['model']}_s{r['seed']}", r["strategy"], "train.csv")
    if not os.path.exists(path):
        print(f"exp.sh: {path} missing for a done run", file=sys.stderr)
        continue
    phase = 1 if r["strategy"] == "dense_phase1" else 2
    after, accs = "", []
    for t in csv.DictReader(open(path, newline="")):
        if int(t["phase"]) != phase:
            continue
        acc = num(t["test_acc"])
        if int(t["epoch"]) == 0:
            after = f"{acc:.2f}" if acc is not None else ""
        elif acc is not None:
            accs.append(acc)
    if not accs:
        continue
    rows.append({"model": r["model"], "strategy": r["strategy"], "seed": r["seed"],
                 "epochs": len(accs), "acc_after_prune": after, "final_acc": f"{accs[-1]:.2f}",
                 "best_acc": f"{max(accs):.2f}"})
def key(d):
    m = models.index(d["model"]) if d["model"] in models else len(models)
    s = order.index(d["strategy"]) if d["strategy"] in order else len(order)
    return (m, d["model"], s, int(d["seed"]))
rows.sort(key=key)
with open(out + ".tmp", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=head, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
os.replace(out + ".tmp", out)
print(f"exp.sh: {out}: {len(rows)} done runs")
PY
}

# Colours by strategy, the same in every figure (sparse24 plot --color).
strategy_color() {
  case $1 in
    dense_phase1) echo "#444444" ;; continue) echo "#d62728" ;; rewind) echo "#2ca02c" ;;
    reinit) echo "#ff7f0e" ;; continue_perm) echo "#1f77b4" ;; rewind_perm) echo "#9467bd" ;;
    dense_control) echo "#8c564b" ;; continue_10) echo "#e377c2" ;; *) echo "#17becf" ;;
  esac
}

# One figure: the train.csv of every seed of the given strategies of model $1,
# one curve (mean, min-max band) per strategy, drawn to $2.svg, with $3 as
# title; the zoom panel over phase 2's second half when phase 2 is long
# enough to have one.
figure() {
  local m=$1 out=$2 title=$3 s files=() args=() p1 p2
  shift 3
  for s in "$@"; do
    local f=("$RESULTS"/"$m"_s*/"$s"/train.csv)
    [ -f "${f[0]}" ] || continue
    files+=("${f[@]}")
    args+=(--label "$s=*/$s/train.csv" --color "$s=$(strategy_color "$s")")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  # the longest phase 1 and phase 2 among the files: where the zoom starts
  read -r p1 p2 < <(awk -F, 'FNR > 1 { if ($1 == 1 && $2 > a) a = $2; if ($1 == 2 && $2 > b) b = $2 }
                              END { print a + 0, b + 0 }' "${files[@]}")
  [ "$p2" -ge 8 ] && args+=(--zoom $((p1 + p2 / 2)))
  "$S24_BIN" plot "${files[@]}" -o "$out.svg" --title "$title" "${args[@]}" > /dev/null
  echo "exp.sh: $out.svg (${#files[@]} CSVs)"
  if [ "$PNG" = 1 ]; then
    rsvg-convert "$out.svg" -o "$out.png.tmp" || die "rsvg-convert $out.svg failed"
    mv "$out.png.tmp" "$out.png"
    echo "exp.sh: $out.png"
  fi
}

plots() {
  S24_BIN=${S24:-$ROOT/build/sparse24}
  [ -x "$S24_BIN" ] || die "$S24_BIN not found; run make first"
  [ -f "$SUMMARY_CSV" ] || die "$SUMMARY_CSV missing (scripts/exp.sh summary)"
  # PNG copies are optional (CI has no converter): PNG=1 requires one, PNG=0 skips them
  case ${PNG:-auto} in
    auto) if command -v rsvg-convert > /dev/null; then PNG=1; else PNG=0
            echo "exp.sh: rsvg-convert not found (apt package librsvg2-bin): SVG only" >&2; fi ;;
    1) command -v rsvg-convert > /dev/null || die "PNG=1: rsvg-convert not found (librsvg2-bin)" ;;
    0) ;;
    *) die "PNG=$PNG: expected auto, 0 or 1" ;;
  esac
  local m name what
  for m in $MODELS; do
    case $m in resnet18) name=ResNet18 ;; efficientnet_b0) name=EfficientNet-B0 ;; *) name=$m ;; esac
    what="CIFAR-10, mean over seeds, min-max band"
    # shellcheck disable=SC2086
    figure "$m" "$RESULTS/$m" "$name, $what: every run of the grid" $STRATEGIES
    figure "$m" "$RESULTS/${m}_fig3" "$name, $what: continue, rewind, reinit (Figure 3)" \
      dense_phase1 continue rewind reinit
    figure "$m" "$RESULTS/${m}_fig4" "$name, $what: channel permutations (Figure 4)" \
      dense_phase1 continue continue_perm rewind rewind_perm
  done
  python3 "$ROOT/scripts/exp_tables.py" "$RESULTS" "$DOC" "$MODELS" "$STRATEGIES"
}

case "${1:-}" in
  init) init ;;
  status) status ;;
  plan) plan ;;
  ingest) shift; ingest "$@" ;;
  summary) summary ;;
  plots) plots ;;
  *) awk 'NR > 1 && /^set -eo/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
