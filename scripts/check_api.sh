#!/bin/sh
# check_api.sh: fails if a declaration in the public headers lacks S24_API.
# The library is built with -fvisibility=hidden, so an unmarked function of
# include/sparse24/ would compile and link statically but be missing from
# libsparse24.so; tests/install_test.sh finds that too, on an installed
# build, this finds it at lint time. A declaration is a line at column 0
# that calls out s24_name( or starts with `extern` (exported data); the
# name is on its first line, as .clang-format breaks them.
hits=$(grep -nE '^[A-Za-z_].*\bs24_[a-z0-9_]+\(|^extern [^"]' include/sparse24/*.h |
    grep -vE '^[^:]+:[0-9]+:(S24_API |typedef )')
if [ -n "$hits" ]; then
  echo "public declarations without S24_API (see include/sparse24/sparse24_api.h):"
  printf '%s\n' "$hits"
  exit 1
fi
echo "lint: every public declaration carries S24_API"
