#!/bin/sh
# run.sh: runs each test binary given, then prints the total as
# "N passed, N failed" (the line CI reads). Exits non-zero on any failure.
# Each binary gets its own scratch TMPDIR (t_tmpdir and the CLI runs it
# starts write there), removed when the binary passed, kept and named when it
# did not: left behind, hundreds of them had filled a developer's disk.
pass=0; fail=0; broken=""
base=${TMPDIR:-/tmp}
for t in "$@"; do
  scratch=$(mktemp -d "$base/s24run.XXXXXX") || { echo "run.sh: no scratch folder in $base"; exit 1; }
  out=$(TMPDIR=$scratch "$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^FAIL|passed, [0-9]+ failed' | sed 's/^/  /'
  line=$(printf '%s\n' "$out" | grep -E '^[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/  | /'
    echo "  scratch kept: $scratch"; broken="$broken $t"; fail=$((fail + 1)); continue
  fi
  p=$(echo "$line" | sed 's/.*: \([0-9]*\) passed.*/\1/')
  f=$(echo "$line" | sed 's/.* \([0-9]*\) failed/\1/')
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then broken="$broken $t"; fail=$((fail + 1)); fi
  if [ $rc -eq 0 ] && [ "$f" = 0 ]; then rm -rf "$scratch"; else echo "  scratch kept: $scratch"; fi
done
[ -n "$broken" ] && echo "crashed or exited non-zero:$broken"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
