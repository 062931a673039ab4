#!/usr/bin/env bash
# Measures the overload curves of docs/BENCHMARKS.md ("Overload") and redraws
# their plots: cmd/loadcurve against fresh local stacks (scripts/load-local.sh:
# DynamoDB Local in memory + cmd/local, DEBUG_CAPACITY off), with the server's
# defaults (admission control and the account queue on) and with both off:
#
#   on, off                 bursts, hot accounts, heartbeats that send back their
#                           renewal tokens as players do (rates TOKEN_RATES)
#   on-writes, off-writes   heartbeats without tokens, each one a store write
#                           (rates WRITE_RATES)
#
# then `loadcurve plot` into docs/img/overload-*.png. Reports land in
# build/load-curve/ (<run>.json, <run>.txt); with admission on, each step also
# records what the server's limiter did (GET /debug/admission: admitted,
# queued, refused, gave up; its limit and rate at the step's end).
#
#   scripts/load-curve.sh                     # the four runs, then the plots
#   scripts/load-curve.sh -bursts 160,320     # arguments go to every run
#   RUNS="on on-writes" scripts/load-curve.sh # some runs only (plots from what is there)
#
# About 12 minutes on the 2-core development machine. Stops what it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
GO="${GO:-go}"
out="$root/build/load-curve"
mkdir -p "$out"
token_rates="${TOKEN_RATES:-2000,4000,6000,8000,10000,12000}"
write_rates="${WRITE_RATES:-200,400,600,800,1000,1200,1600,2000}"
for run in ${RUNS:-on off on-writes off-writes}; do
  mode="${run%-writes}"
  args=(-label "admission $mode" -hb-rates "$token_rates")
  if [[ "$run" == *-writes ]]; then
    args=(-label "admission $mode, no tokens" -bursts '' -hot '' -hb-no-tokens -hb-rates "$write_rates")
  fi
  echo "load-curve: $run" >&2
  TOOL=loadcurve DEBUG_CAPACITY=false DEBUG_ADMISSION=true ADMISSION="$mode" ACCOUNT_QUEUE="$mode" scripts/load-local.sh \
    "${args[@]}" -admission auto -json "$out/$run.json" "$@" | tee "$out/$run.txt"
done
reports=()
for run in on off on-writes off-writes; do
  [[ ! -f "$out/$run.json" ]] || reports+=("$out/$run.json")
done
$GO run ./cmd/loadcurve plot -out docs/img "${reports[@]}"
