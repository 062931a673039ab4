#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called from a trap
# Runs cmd/loadgen against a fresh local stack on free loopback ports:
# DynamoDB Local in memory (from .cache/, `make ddb-local`) and the local server
# (build/local) with DEBUG_CAPACITY=true (unless set otherwise), so the report has DynamoDB calls and
# capacity per operation, and the audit reads the table directly.
#
#   scripts/load-local.sh -players 2000 -duration 10m -crash 0.1
#
# Arguments go to loadgen (see `go run ./cmd/loadgen -h`); -base, -ddb-endpoint,
# -table, -capacity, -server-output and -server-pid are set here. Server settings come from the environment
# (HEARTBEAT_INTERVAL_SECONDS, LEASE_TTL_SECONDS, MAX_STREAMS, RENEW_BELOW_SECONDS,
# STORE=memory, ...): pass the matching -ttl/-limit to loadgen. WARMUP (30s) runs
# 20 players first, unmeasured. TOOL=loadcurve runs cmd/loadcurve instead of
# loadgen (scripts/load-curve.sh). Logs land in build/load-local/. Stops what it
# started, and only that.
set -euo pipefail
# shellcheck source=scripts/lib/stack.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/stack.sh"
GO="${GO:-go}"
dir="$root/build/load-local"
mkdir -p "$dir"

ddb_pid="" server_pid=""
cleanup() {
  for pid in $server_pid $ddb_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $server_pid $ddb_pid; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$GO build -o build/local ./cmd/local
$GO build -o build/loadgen ./cmd/loadgen
[[ "${TOOL:-loadgen}" != loadcurve ]] || $GO build -o build/loadcurve ./cmd/loadcurve

table="load_$(date +%s)"
extra=()
if [[ "${STORE:-dynamodb}" != memory ]]; then
  make -s ddb-local
  start_ddb_local "$dir" 1g
  extra=(-ddb-endpoint "$DYNAMODB_ENDPOINT" -table "$table")
fi
# The server creates the table at start; on a busy machine DynamoDB Local's first
# answers can outlast STORE_TIMEOUT_MS, so a failed start is retried.
for attempt in 1 2 3 4 5; do
  port="$(free_port)"
  PORT="$port" STAGE=dev TABLE_NAME="$table" CREATE_TABLE=true DEBUG_CAPACITY="${DEBUG_CAPACITY:-true}" AWS_REGION=us-east-1 \
    build/local >"$dir/server.log" 2>"$dir/server.err" &
  server_pid=$!
  for ((i = 0; i < 300; i++)); do
    curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/healthz" && break 2
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  echo "load-local: server start $attempt failed: $(tail -1 "$dir/server.err")" >&2
done
[[ -n "$server_pid" ]] || exit 1

# WARMUP (default 30s): a few players first, so DynamoDB Local's JVM has compiled
# its hot paths before the measured run; their uids and counters are apart.
warmup="${WARMUP:-30s}"
if [[ "$warmup" != 0 && "$warmup" != 0s ]]; then
  echo "load-local: warming up for $warmup" >&2
  build/loadgen -base "http://127.0.0.1:$port/dev" -players 20 -uids 10 -duration "$warmup" \
    -session-min 2s -session-max 5s -pause 1s -crash 0 -skip-final -quiet >"$dir/warmup.out" ||
    { echo "load-local: warm-up run failed (see $dir/warmup.out); going on" >&2; }
fi
# TOOL=loadcurve runs cmd/loadcurve (scripts/load-curve.sh) instead of loadgen.
if [[ "${TOOL:-loadgen}" == loadcurve ]]; then
  build/loadcurve -base "http://127.0.0.1:$port/dev" "${extra[@]}" "$@"
  exit
fi
# The cost line: what the server writes (its stdout and stderr files) and its CPU time,
# measured over the run.
build/loadgen -base "http://127.0.0.1:$port/dev" -capacity auto "${extra[@]}" \
  -server-output "$dir/server.log,$dir/server.err" -server-pid "$server_pid" "$@"
