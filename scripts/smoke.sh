#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called from traps and eval look unreachable to shellcheck
# Runs README.md's "Try it" flow against any streamlimit API and checks every answer:
#
#   BASE=https://api.example.com [TOKEN=<jwt>] [SMOKE_UID=<uid>] scripts/smoke.sh
#   make smoke BASE=https://api.example.com TOKEN=<jwt> [UID=<uid>]
#
# BASE is the API base URL the README's $BASE stands for: a deployed HTTP API
# (https://<api-id>.execute-api.<region>.amazonaws.com, or a custom domain: no stage
# prefix) or a local server (http://localhost:3000/dev). TOKEN, when set, goes with every
# request as "Authorization: Bearer $TOKEN" (through a private file, never on a command
# line). The account is a fresh one per run (smoke-<random>) unless SMOKE_UID names one:
# with identity on, the uid must be the token's subject, so pass that subject. A named
# account must be idle (no live streams) when the run starts: the flow fills it to its
# limit, and the run refuses rather than touch streams it did not make. Device ids and the
# TV's secret get a per-run suffix, so no two runs share a device.
#
# The commands of the sh block between <!-- smoke:begin --> and <!-- smoke:end --> run in
# order in one shell (LEASE1=$(...) carries on), with README's uid and device ids
# replaced. What each prints is compared with the "# => " lines that follow it ("…"
# stands for anything), and every HTTP answer's status with what the step expects: the
# status its -w line prints, else 4xx for an error body and 2xx for any other answer.
# The first mismatch stops the run with a line naming the step (README.md:<line>).
# Whatever happens, on exit every lease the run was granted is ended (endStream), and a
# generated account is checked empty (emptied with POST /streams/{uid}/end if not).
# Exit status: 0 when every step and the clean-up answered as expected, 1 otherwise.
set -euo pipefail

smoke_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { echo "smoke: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

command -v curl >/dev/null || fail "curl is required (the README examples use it)"
[[ -n "${BASE:-}" ]] || fail "BASE is not set: BASE=<API base URL> scripts/smoke.sh, or make smoke BASE=<url> TOKEN=<jwt>"
[[ "$BASE" =~ ^https?://[^[:space:]]+$ ]] || fail "BASE=$BASE is not an http(s) URL"
BASE="${BASE%/}"
smoke_token="${TOKEN:-}"
unset TOKEN

smoke_run="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
smoke_uid="${SMOKE_UID:-smoke-$smoke_run}"
smoke_own_uid=1
[[ -n "${SMOKE_UID:-}" ]] && smoke_own_uid=0
# The service's uid rule (lease.ValidUID): 1-128 of A-Z a-z 0-9 - _ . : @ + =.
[[ "$smoke_uid" =~ ^[A-Za-z0-9._:@+=-]{1,128}$ && "$smoke_uid" =~ [^.] ]] ||
  fail "SMOKE_UID=$smoke_uid is not a valid uid (1-128 of A-Z a-z 0-9 - _ . : @ + =)"

# The marked block, each line prefixed with its line number in README.md and a tab.
smoke_block="$(awk '
  /<!-- smoke:begin/ { on = 1; next }
  /<!-- smoke:end/     { on = 0; next }
  on && /^```/           { fence = !fence; next }
  on && fence            { print NR "\t" $0 }
' "$smoke_root/README.md")"
[[ -n "$smoke_block" ]] || fail "README.md has no sh block between <!-- smoke:begin --> and <!-- smoke:end -->"
# The README's account: the uid of its first canStream.
smoke_readme_uid="$(sed -n 's|.*/canStream/\([A-Za-z0-9_-]*\).*|\1|p' <<<"$smoke_block" | head -n 1)"
[[ -n "$smoke_readme_uid" ]] || fail "README.md's block has no canStream/<uid> to take the account from"

smoke_tmp="$(mktemp -d)"
smoke_out="$smoke_tmp/out"         # what the current step printed
smoke_statuses="$smoke_tmp/status" # the HTTP statuses of the current step, one a line
smoke_bodies="$smoke_tmp/bodies"   # every answer of the run: the leases it was granted
smoke_auth="$smoke_tmp/auth"       # the Authorization header, for curl -H @file
: >"$smoke_bodies"
(umask 077 && : >"$smoke_auth")
[[ -z "$smoke_token" ]] || printf 'Authorization: Bearer %s\n' "$smoke_token" >"$smoke_auth"

# api METHOD PATH: an API call of the script's own (preflight, clean-up); prints the body
# (without its final newline), then the status on a line of its own.
api() {
  local body
  body="$(command curl -sS --max-time 30 -H "@$smoke_auth" -A streamlimit-smoke -X "$1" -w '\n%{http_code}' "$BASE$2")" || return
  local text="${body%$'\n'*}"
  printf '%s\n%s' "${text%$'\n'}" "${body##*$'\n'}"
}

# curl: what the README's commands call. It adds the token, a timeout and a User-Agent,
# records the answer's status and keeps the body (for the leases it grants).
curl() {
  local code=0
  rm -f "$smoke_tmp/headers"
  command curl -S --max-time 30 -H "@$smoke_auth" -A streamlimit-smoke -D "$smoke_tmp/headers" "$@" \
    >"$smoke_tmp/body" || code=$?
  cat "$smoke_tmp/body"
  { cat "$smoke_tmp/body" && echo; } >>"$smoke_bodies"
  if [[ -f "$smoke_tmp/headers" ]]; then
    sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$smoke_tmp/headers" | tail -n 1 >>"$smoke_statuses"
  fi
  return "$code"
}

smoke_cleanup() {
  local code=$? lease out status failed=0
  trap - EXIT INT TERM
  local leases
  leases="$(grep -o '"leaseId":"[0-9a-f-]*"' "$smoke_bodies" | sed 's/.*:"\(.*\)"/\1/' | sort -u || true)"
  for lease in $leases; do
    out="$(api POST "/endStream/$smoke_uid/$lease" 2>&1)" || true
    status="${out##*$'\n'}"
    if [[ "$status" != 200 ]]; then
      say "clean-up: endStream of lease $lease answered $status: ${out%$'\n'*}"
      failed=1
    fi
  done
  if ((smoke_started)); then
    out="$(api GET "/streams/$smoke_uid" 2>&1)" || true
    if [[ "${out##*$'\n'}" != 200 || "$out" != *'"streamCount":0,'* ]]; then
      if ((smoke_own_uid)); then
        say "clean-up: account $smoke_uid still holds streams (${out%$'\n'*}); ending them all"
        out="$(api POST "/streams/$smoke_uid/end" 2>&1)" || true
        [[ "${out##*$'\n'}" == 200 ]] || { say "clean-up: POST /streams/$smoke_uid/end answered ${out##*$'\n'}"; failed=1; }
      else
        say "clean-up: account $smoke_uid still holds streams the run could not end: ${out%$'\n'*}
  (they expire with their lease TTL, or end them: POST $BASE/streams/$smoke_uid/end)"
        failed=1
      fi
    fi
  fi
  local n
  n="$(wc -w <<<"$leases")"
  if ((failed)); then
    say "FAIL: clean-up did not end every lease of the run"
    code=1
  elif ((code == 0)); then
    say "clean-up: ended the run's $n leases; $smoke_uid holds no stream"
  elif ((smoke_started)); then
    say "clean-up: ended the run's $n leases"
  fi
  rm -rf "$smoke_tmp"
  exit "$code"
}
smoke_started=0 # set once the preflight passed: from then on the account is the run's
trap smoke_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "BASE=$BASE uid=$smoke_uid${smoke_token:+ (with a token)}"

# Preflight: the API answers for this account, which is idle, with the limit and policy
# the README's flow assumes.
smoke_pre="$(api GET "/streams/$smoke_uid" 2>&1)" || fail "preflight: GET $BASE/streams/$smoke_uid: ${smoke_pre}"
smoke_pre_status="${smoke_pre##*$'\n'}"
smoke_pre_body="${smoke_pre%$'\n'*}"
case "$smoke_pre_status" in
200) ;;
401) fail "preflight: GET /streams/$smoke_uid answered 401: the API wants a token (TOKEN=<jwt>), or refused this one: $smoke_pre_body" ;;
403) fail "preflight: GET /streams/$smoke_uid answered 403: with identity on, the uid must be the token's subject (UID=<sub>): $smoke_pre_body" ;;
*) fail "preflight: GET $BASE/streams/$smoke_uid answered $smoke_pre_status, want 200 (is BASE the API's base URL?): $smoke_pre_body" ;;
esac
[[ "$smoke_pre_body" == *'"streamCount":0,'* ]] ||
  fail "preflight: account $smoke_uid is not idle, the run would disturb its streams: $smoke_pre_body"
[[ "$smoke_pre_body" == *'"maxStreams":3,'* && "$smoke_pre_body" == *'"policy":"block_new"'* ]] ||
  fail "preflight: the README's flow assumes a limit of 3 streams (MAX_STREAMS) and policy block_new; account $smoke_uid has: $smoke_pre_body"
smoke_started=1

# smoke_subst LINE: README's line for this run: its account replaced by the run's, each
# device id and device secret given the run's suffix.
smoke_subst() {
  sed -E \
    -e "s#/$smoke_readme_uid([/?\"'])#/$smoke_uid\\1#g" \
    -e "s#\"uid\":\"$smoke_readme_uid\"#\"uid\":\"$smoke_uid\"#g" \
    -e "s#deviceId=([A-Za-z0-9_-]+)#deviceId=\\1-$smoke_run#g" \
    -e "s#\"deviceId\":\"([A-Za-z0-9_-]+)\"#\"deviceId\":\"\\1-$smoke_run\"#g" \
    -e "s#\"deviceSecret\":\"([A-Za-z0-9_-]+)\"#\"deviceSecret\":\"\\1-$smoke_run\"#g" <<<"$1"
}

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

smoke_n=0
smoke_cmd=""
smoke_at=""    # README.md line of the current command
smoke_first="" # README.md line where the line being read starts
smoke_want=""
smoke_have_want=0

# smoke_step_fail WHY: stops the run at the current step.
smoke_step_fail() {
  fail "step $smoke_n (README.md:$smoke_at) $1
  command:  $smoke_cmd
  expected: ${smoke_want//$'\n'/$'\n'            }
  got:      $(sed '2,$s/^/            /' "$smoke_out")
  statuses: $(tr '\n' ' ' <"$smoke_statuses")"
}

# smoke_check: compares the last command's output and statuses with what it expects.
smoke_check() {
  [[ -n "$smoke_cmd" ]] || return 0
  local got want_status="" s
  got="$(cat "$smoke_out")"
  # shellcheck disable=SC2053 # the right side is a pattern on purpose
  if ((smoke_have_want)) && [[ "$got" != $(smoke_pattern "$smoke_want") ]]; then
    smoke_step_fail "printed an unexpected answer"
  fi
  if ((smoke_have_want)) && [[ "${smoke_want##*$'\n'}" =~ ^[1-5][0-9][0-9]$ ]]; then
    want_status="${smoke_want##*$'\n'}"
  fi
  while read -r s; do
    if [[ -n "$want_status" ]]; then
      [[ "$s" == "$want_status" ]] || smoke_step_fail "answered HTTP $s, want $want_status"
    elif [[ "$smoke_want" == *'"result":"error"'* ]]; then
      [[ "$s" == 4?? ]] || smoke_step_fail "answered HTTP $s to an error, want 4xx"
    else
      [[ "$s" == 2?? ]] || smoke_step_fail "answered HTTP $s, want 2xx"
    fi
  done <"$smoke_statuses"
}

smoke_pending=""
while IFS=$'\t' read -r smoke_lineno smoke_line || [[ -n "$smoke_line" ]]; do
  if [[ -n "$smoke_pending" ]]; then
    smoke_line="$smoke_pending$smoke_line"
    smoke_pending=""
  else
    smoke_first="$smoke_lineno" # where this (maybe continued) line starts
  fi
  if [[ "$smoke_line" == *\\ && "$smoke_line" != \#* ]]; then
    smoke_pending="${smoke_line%\\}"
    continue
  fi
  case "$smoke_line" in
  "# => "*)
    [[ -n "$smoke_cmd" ]] || fail "README.md:$smoke_lineno: expected output before any command"
    if ((smoke_have_want)); then smoke_want+=$'\n'; fi
    smoke_want+="$(smoke_subst "${smoke_line#"# => "}")"
    smoke_have_want=1
    ;;
  "" | \#* | BASE=*) ;; # comments, and the README's own BASE: the run's is set
  *)
    smoke_check
    smoke_n=$((smoke_n + 1))
    smoke_at="$smoke_first"
    smoke_cmd="$(smoke_subst "$smoke_line")"
    smoke_want=""
    smoke_have_want=0
    : >"$smoke_out"
    : >"$smoke_statuses"
    if ! eval "$smoke_cmd" >>"$smoke_out" 2>&1; then
      smoke_step_fail "failed (exit status other than 0)"
    fi
    ;;
  esac
done <<<"$smoke_block"
smoke_check
((smoke_n > 0)) || fail "the README block holds no commands"
say "OK: all $smoke_n README steps answered as documented"
