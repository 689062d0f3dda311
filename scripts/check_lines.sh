#!/bin/sh
# check_lines.sh: fails if a C or CUDA source line is longer than 100 columns,
# the limit of the style guide (.clang-format's ColumnLimit: 100). awk only,
# so CI needs no clang-format; a tab counts as one column (the code indents
# with spaces). Checks *.c, *.h and *.cu under src, include, tools, bench and
# tests; prints FILE:LINE for every line over the limit.
limit=100
files=$(find src include tools bench tests -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) 2>/dev/null | sort)
if [ -z "$files" ]; then
  echo "check_lines.sh: no sources found (run it from the repository root)"
  exit 1
fi
# shellcheck disable=SC2086 # the file names have no spaces
hits=$(awk -v lim="$limit" 'length($0) > lim { print FILENAME ":" FNR ": " length($0) " columns" }' $files)
if [ -n "$hits" ]; then
  echo "lines over $limit columns (see scripts/check_lines.sh; clang-format wraps most):"
  printf '%s\n' "$hits"
  exit 1
fi
n=$(printf '%s\n' "$files" | wc -l)
echo "lint: no line over $limit columns ($((n)) files)"
