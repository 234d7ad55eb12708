#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the module for $FUZZTIME each (go test
# can only fuzz one target of one package at a time). The seed corpus runs
# in `go test` anyway; this adds coverage-guided time.
set -euo pipefail
fuzztime="${FUZZTIME:-500x}"
fail=0
while IFS= read -r line; do
  file="${line%%:*}"; fn="${line#*func }"; fn="${fn%%(*}"
  pkg="./$(dirname "$file")"
  echo "fuzz $pkg $fn ($fuzztime)"
  if ! go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/edgeway-fuzz.log 2>&1; then
    cat /tmp/edgeway-fuzz.log; fail=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' --exclude-dir=e2e . | sed 's|^\./||' | sort)
exit $fail
