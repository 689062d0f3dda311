#!/bin/sh
# check_banned.sh: fails if C sources use functions that are easy to misuse
# (unbounded copies and formatting, silent number parsing), as curl does.
# Use snprintf, memcpy with explicit sizes, strtol/strtod with end checks.
pat='\b(gets|strcpy|strcat|sprintf|vsprintf|atoi|atol|atof|strtok)[[:space:]]*\('
hits=$(grep -rnE "$pat" src tools bench include --include='*.c' --include='*.h' --include='*.cu' 2>/dev/null)
if [ -n "$hits" ]; then
  echo "banned functions used (see scripts/check_banned.sh):"
  echo "$hits"
  exit 1
fi
echo "lint: no banned functions"
