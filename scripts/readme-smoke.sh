#!/usr/bin/env bash
# Checks that README.md's "Try it" examples work as written: starts
# scripts/run-local.sh (DynamoDB Local + the server) on free ports, runs the
# commands of the sh block between <!-- smoke:begin ... --> and <!-- smoke:end -->
# in order in one shell (so LEASE1=$(...) carries on), and compares what each
# prints with the "# => " lines that follow it ("…" stands for anything). Then
# it stops the stack with SIGINT and checks that nothing it started is left.
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

# The commands of the marked block, one per line ("\" continuations joined),
# each followed by its expected lines prefixed with "=> ".
smoke_block="$(awk '
  /<!-- smoke:begin/ { on = 1; next }
  /<!-- smoke:end/     { on = 0; next }
  on && /^```/           { fence = !fence; next }
  on && fence            { print }
' README.md)"
[[ -n "$smoke_block" ]] || fail "README.md has no sh block between <!-- smoke:begin --> and <!-- smoke:end -->"

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

# smoke_pattern EXPECTED: a [[ == ]] pattern matching EXPECTED literally, "…" matching anything.
smoke_pattern() {
  local p="$1"
  p="${p//\\/\\\\}"
  p="${p//\*/\\*}"
  p="${p//\?/\\?}"
  p="${p//\[/\\[}"
  p="${p//…/*}"
  printf '%s' "$p"
}

smoke_out="$smoke_tmp/out"
smoke_n=0
smoke_cmd=""
smoke_want=""
smoke_have_want=0

# smoke_check: compares the output of the last command with its expected lines.
smoke_check() {
  [[ -n "$smoke_cmd" && "$smoke_have_want" == 1 ]] || return 0
  local got
  got="$(cat "$smoke_out")"
  # shellcheck disable=SC2053 # the right side is a pattern on purpose
  if [[ "$got" != $(smoke_pattern "$smoke_want") ]]; then
    fail "README command #$smoke_n printed an unexpected answer
  command:  $smoke_cmd
  expected: ${smoke_want//$'\n'/$'\n'            }
  got:      ${got//$'\n'/$'\n'            }"
  fi
}

smoke_pending=""
while IFS= read -r smoke_line || [[ -n "$smoke_line" ]]; do
  if [[ -n "$smoke_pending" ]]; then
    smoke_line="$smoke_pending$smoke_line"
    smoke_pending=""
  fi
  if [[ "$smoke_line" == *\\ && "$smoke_line" != \#* ]]; then
    smoke_pending="${smoke_line%\\}"
    continue
  fi
  case "$smoke_line" in
  "# => "*)
    [[ -n "$smoke_cmd" ]] || fail "README: expected output before any command: $smoke_line"
    if ((smoke_have_want)); then smoke_want+=$'\n'; fi
    smoke_want+="${smoke_line#"# => "}"
    smoke_have_want=1
    ;;
  "" | \#*) ;;
  *)
    smoke_check
    smoke_n=$((smoke_n + 1))
    smoke_cmd="${smoke_line//localhost:3000/localhost:$smoke_port}"
    smoke_want=""
    smoke_have_want=0
    : >"$smoke_out"
    if ! eval "$smoke_cmd" >>"$smoke_out" 2>&1; then
      fail "README command #$smoke_n failed: $smoke_cmd
$(sed 's/^/  | /' "$smoke_out")"
    fi
    ;;
  esac
done <<<"$smoke_block"
smoke_check
((smoke_n > 0)) || fail "the README block holds no commands"
say "all $smoke_n README commands answered as documented"

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
