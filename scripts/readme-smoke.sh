#!/usr/bin/env bash
# Checks that README.md's "Try it" examples work as written against a fresh local stack
# (`make smoke` without BASE, and `make test`): starts scripts/run-local.sh (DynamoDB
# Local + the server) on free ports, runs scripts/smoke.sh against it (the README's
# commands in order, each answer compared with its "# => " lines, every lease ended
# afterwards), then stops the stack with SIGINT and checks that nothing it started is left.
#
# PORT and DYNAMODB_PORT choose the ports (free ones by default).
set -euo pipefail

smoke_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$smoke_root"

say() { echo "readme-smoke: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

command -v curl >/dev/null || fail "curl is required (the README examples use it)"

smoke_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
smoke_free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 30000))
    [[ "$p" != "${1:-}" ]] && ! smoke_listening "$p" && { echo "$p"; return 0; }
  done
  fail "no free port found"
}
smoke_port="${PORT:-$(smoke_free_port)}"
smoke_ddb_port="${DYNAMODB_PORT:-$(smoke_free_port "$smoke_port")}"

smoke_tmp="$(mktemp -d)"
smoke_log="$smoke_tmp/run-local.log"
smoke_pid=""

smoke_cleanup() {
  local code=$?
  if [[ -n "$smoke_pid" ]] && kill -0 "$smoke_pid" 2>/dev/null; then
    kill -INT "$smoke_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      kill -0 "$smoke_pid" 2>/dev/null || break
      sleep 0.1
    done
    # Last resort: the whole process group of run-local.sh (started with job control).
    kill -KILL -- "-$smoke_pid" 2>/dev/null || true
  fi
  if ((code != 0)) && [[ -f "$smoke_log" ]]; then
    say "run-local.sh output:"
    sed 's/^/  | /' "$smoke_log" >&2
  fi
  rm -rf "$smoke_tmp"
}
trap smoke_cleanup EXIT

say "starting scripts/run-local.sh (PORT=$smoke_port DYNAMODB_PORT=$smoke_ddb_port)"
# A generous STORE_TIMEOUT_MS: a fresh DynamoDB Local's first transaction can take
# over a second on a busy machine, and this checks the flow, not latency.
# Job control gives run-local.sh its own process group and leaves SIGINT
# deliverable to it (background jobs of scripts otherwise ignore SIGINT).
set -m
env -u DYNAMODB_ENDPOINT -u STORE -u MAX_STREAMS -u LEASE_TTL_SECONDS -u HEARTBEAT_INTERVAL_SECONDS \
  -u TABLE_NAME -u CREATE_TABLE -u ALLOWED_ORIGINS \
  PORT="$smoke_port" DYNAMODB_PORT="$smoke_ddb_port" STAGE=dev STORE_TIMEOUT_MS=10000 \
  scripts/run-local.sh >"$smoke_log" 2>&1 &
smoke_pid=$!
set +m

smoke_start=$SECONDS
until curl -s -o /dev/null -m 2 "http://localhost:$smoke_port/healthz" &&
  [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://localhost:$smoke_port/healthz")" == 200 ]]; do
  kill -0 "$smoke_pid" 2>/dev/null || fail "run-local.sh exited before /healthz answered"
  ((SECONDS - smoke_start < 180)) || fail "/healthz did not answer 200 within 180 s"
  sleep 0.2
done
say "stack up after $((SECONDS - smoke_start)) s"

# The README's flow, checked step by step, with its own clean-up (scripts/smoke.sh).
BASE="http://localhost:$smoke_port/dev" TOKEN="" SMOKE_UID="" "$smoke_root/scripts/smoke.sh" ||
  fail "scripts/smoke.sh failed against the local stack (its output above)"

# Stop the stack as Ctrl-C would, and check that nothing it started survives.
smoke_server_pid="$(sed -n 's/^run-local: streamlimit pid \([0-9]*\)$/\1/p' "$smoke_log")"
smoke_ddb_pid="$(sed -n 's/^run-local: DynamoDB Local pid \([0-9]*\)$/\1/p' "$smoke_log")"
[[ -n "$smoke_server_pid" ]] || fail "run-local.sh did not report the server's pid"
[[ -n "$smoke_ddb_pid" ]] || fail "run-local.sh did not start DynamoDB Local on the free port $smoke_ddb_port"
kill -INT "$smoke_pid"
smoke_code=0
wait "$smoke_pid" || smoke_code=$?
smoke_pid=""
[[ "$smoke_code" == 130 ]] || fail "run-local.sh exited with status $smoke_code after SIGINT, want 130"
for smoke_p in "$smoke_server_pid" "$smoke_ddb_pid"; do
  ! kill -0 "$smoke_p" 2>/dev/null || fail "process $smoke_p ($(ps -o args= -p "$smoke_p" 2>/dev/null)) survived SIGINT"
done
for smoke_p in "$smoke_port" "$smoke_ddb_port"; do
  ! smoke_listening "$smoke_p" || fail "port $smoke_p still listens after SIGINT"
done
say "OK: SIGINT stopped the server (pid $smoke_server_pid) and DynamoDB Local (pid $smoke_ddb_pid)"
