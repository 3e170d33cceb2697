#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time (default 10s each).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($fuzztime)"
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/custos-fuzz.$$ 2>&1; then
      tail -n 1 /tmp/custos-fuzz.$$
    else
      cat /tmp/custos-fuzz.$$
      status=1
    fi
  done
done
rm -f /tmp/custos-fuzz.$$
exit $status
