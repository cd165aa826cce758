#!/usr/bin/env bash
# Fuzz the wire-facing code (packages conn and pickle), or re-record conn's
# seed corpora from CPython.
#
#   conn/testdata/fuzz.sh [DURATION]   run each fuzz target for DURATION
#                                      (default 3m), one after the other,
#                                      and print its executions and findings:
#                                      conn's FuzzFrameReader and FuzzHandshake,
#                                      pickle's FuzzDecode and FuzzTypedDecode
#   conn/testdata/fuzz.sh seeds        re-record testdata/fuzz/*/python-*
#                                      with every interpreter under pyenv
#
# FUZZ_PARALLEL=N runs N fuzzing processes per target instead of one per
# CPU (use 1 on a shared machine). A plain `go test ./conn ./pickle` runs
# every seed and every crasher kept in testdata/fuzz. A crasher found here is
# written there by go test: rename it after what it shows and commit it with
# the fix, as a regression.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = seeds ]; then
  root="${PYENV_ROOT:-$HOME/.pyenv}"
  for py in "$root"/versions/*/bin/python; do
    [ -x "$py" ] || continue
    echo "recording with $py"
    PYTHONHASHSEED=0 "$py" testdata/fuzz_seeds.py testdata/fuzz
  done
  newest=$(ls -d "$root"/versions/*/bin/python | sort -V | tail -1)
  if [ -n "$newest" ]; then
    PYTHONHASHSEED=0 "$newest" testdata/fuzz_seeds.py testdata/fuzz --large
  fi
  exit 0
fi

duration="${1:-3m}"
status=0
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
  parallel=(-parallel "$FUZZ_PARALLEL")
fi
for spec in .:FuzzFrameReader .:FuzzHandshake ../pickle:FuzzDecode ../pickle:FuzzTypedDecode; do
  pkg=${spec%%:*}
  target=${spec#*:}
  echo "== $target ($pkg) for $duration"
  log=$(mktemp)
  # Inputs that make a Conn allocate its 64 MiB are slow; minimizing each
  # new one for the default minute would stall the run.
  if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -fuzzminimizetime 10s ${parallel[@]+"${parallel[@]}"} "$pkg" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  grep -E '^fuzz: elapsed' "$log" | tail -1
  grep -E -- '--- FAIL|Failing input|_test\.go:[0-9]+:' "$log" || true
  echo "$target: $result"
  rm -f "$log"
done
exit $status
