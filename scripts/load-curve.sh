#!/usr/bin/env bash
# Measures the overload curves of docs/BENCHMARKS.md ("Overload") and redraws
# their plots: cmd/loadcurve against a fresh local stack (scripts/load-local.sh:
# DynamoDB Local in memory + cmd/local), once with the server's defaults
# (admission control and the account queue on) and once with both off, then
# `loadcurve plot` into docs/img/overload-*.png. Reports land in
# build/load-curve/ (on.json, off.json, on.txt, off.txt).
#
#   scripts/load-curve.sh                 # both runs, then the plots
#   scripts/load-curve.sh -hb-rates ''    # arguments go to both loadcurve runs
#
# About 6 minutes on the 2-core development machine. Stops what it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
GO="${GO:-go}"
out="$root/build/load-curve"
mkdir -p "$out"
for mode in on off; do
  echo "load-curve: admission $mode" >&2
  TOOL=loadcurve ADMISSION="$mode" ACCOUNT_QUEUE="$mode" scripts/load-local.sh \
    -label "admission $mode" -json "$out/$mode.json" "$@" | tee "$out/$mode.txt"
done
$GO run ./cmd/loadcurve plot -out docs/img "$out/on.json" "$out/off.json"
