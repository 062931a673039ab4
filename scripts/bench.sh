#!/usr/bin/env bash
# `make bench`: a short, bounded benchmark run (about 1-2 minutes on 2 cores),
# written to test-output/bench.txt (benchstat-friendly lines plus a load-run
# report). The full figures and how they were taken: docs/BENCHMARKS.md.
#
#   BENCH_OUT   where to write (test-output/bench.txt)
#   BENCH_COUNT -count for the Go benchmarks (1; use 5+ for benchstat)
set -euo pipefail
# shellcheck source=scripts/lib/stack.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/stack.sh"
GO="${GO:-go}"
out="${BENCH_OUT:-test-output/bench.txt}"
count="${BENCH_COUNT:-1}"
mkdir -p "$(dirname "$out")"
start=$SECONDS

# One DynamoDB Local for every benchmark binary (each would otherwise start its own),
# unless DYNAMODB_ENDPOINT names one already. Stopped on exit.
ddb_pid=""
trap 'rc=$?; [[ -z "$ddb_pid" ]] || { kill "$ddb_pid" 2>/dev/null || true; wait "$ddb_pid" 2>/dev/null || true; }; exit $rc' EXIT
if [[ -z "${DYNAMODB_ENDPOINT:-}" ]]; then
  start_ddb_local build/bench 512m
fi

{
  echo "# streamlimit make bench, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "# $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "# $($GO version), $(java -version 2>&1 | head -1)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: read latencies with it)"
  if [[ -f build/api/bootstrap ]]; then
    echo "# Lambda bootstrap (make package, linux/arm64): $(stat -c %s build/api/bootstrap) bytes, zip $(stat -c %s build/api.zip) bytes"
  fi
  echo
} >"$out"

bench() { # bench REGEX BENCHTIME
  echo "bench: $1 ($((SECONDS - start)) s)" >&2
  $GO test -run '^$' -bench "$1" -benchtime "$2" -count "$count" -timeout 10m ./test/bench | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >>"$out"
}
bench '^BenchmarkHandler$' 5000x
bench '^BenchmarkOp$' 60x
bench '^BenchmarkStoreCall$' 40x
bench '^BenchmarkContention$' 1x
bench '^BenchmarkServerHeartbeat$' 1000x
bench '^BenchmarkStart' 3x

{
  echo
  echo "# load run: 60 players, 10 s, heartbeat every 2 s, TTL 6 s, 10% crashing (scripts/load-local.sh)"
} >>"$out"
mkdir -p build/bench
HEARTBEAT_INTERVAL_SECONDS=2 LEASE_TTL_SECONDS=6 WARMUP=3s scripts/load-local.sh -players 60 -uids 24 \
  -duration 10s -ramp 2s -session-min 4s -session-max 10s -pause 1s -crash 0.1 -ttl 6s -audit-every 2s -quiet \
  -json build/bench/load.json >>"$out" 2>&1 || echo "# load run FAILED (exit $?)" >>"$out"
# The same measurement priced as one-hour sessions at 15/30/60 s heartbeats (cmd/costs;
# docs/BENCHMARKS.md, "Cost model", has a longer run at 30 s).
{
  echo
  echo "# cost of one-hour sessions from the load run's per-request figures (cmd/costs)"
  $GO run ./cmd/costs -report build/bench/load.json || echo "# cost tables FAILED (exit $?)"
} >>"$out" 2>&1
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - start)) s" >>"$out"
echo "bench: results in $out ($((SECONDS - start)) s)"
