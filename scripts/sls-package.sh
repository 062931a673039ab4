#!/usr/bin/env bash
# Runs `serverless package` offline and leaves the generated CloudFormation in
# .serverless/cloudformation-template-update-stack.json (defaults plus the required identity
# provider, stage $STAGE), .serverless/with-params/ (stage prod, overridden params),
# .serverless/url/ (the Function URL front door, --param="gateway=url"),
# .serverless/insecure-no-auth/ (identity turned off), and the output of a run without
# identity, which must fail, in .serverless/no-identity/, for `go test ./test/deploy`.
#
# Needs Node.js/npm and build/api.zip + build/ws.zip (made by `make package`). Installs the pinned
# Serverless Framework v3 into .cache/serverless (git-ignored) on first use. No AWS
# credentials are needed or used: packaging never calls AWS.
set -euo pipefail

SLS_VERSION=3.40.0
STAGE="${STAGE:-dev}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

prefix="$root/.cache/serverless"
sls="$prefix/node_modules/.bin/serverless"
installed="$(node -p "require('$prefix/node_modules/serverless/package.json').version" 2>/dev/null || true)"
if [[ ! -x "$sls" || "$installed" != "$SLS_VERSION" ]]; then
  echo "sls-package: installing serverless@$SLS_VERSION into .cache/serverless" >&2
  mkdir -p "$prefix"
  [[ -f "$prefix/package.json" ]] || echo '{"private": true}' >"$prefix/package.json"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "serverless@$SLS_VERSION" >&2
fi

if [[ ! -f build/api.zip || ! -f build/ws.zip ]]; then
  echo "sls-package: build/api.zip or build/ws.zip not found; run 'make package' first" >&2
  exit 1
fi

# Packaging is offline; dummy credentials only satisfy the credential check.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-offline}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-offline}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export SLS_TELEMETRY_DISABLED=1
export SLS_TRACKING_DISABLED=1
export SLS_NOTIFICATIONS_MODE=off
export SLS_INTERACTIVE_SETUP_DISABLE=1
export CI=1

# A second run with the parameters a deployer overrides (the seed's table name, another
# retention, an alarm topic, throttles, reserved concurrency, Active tracing, a log sample) lands in .serverless/with-params/, for go test ./test/deploy
# (TestPackagedTemplateParams, which expects exactly these values). It runs first:
# `serverless package` empties .serverless/ wherever it writes.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rm -rf .serverless
# Identity is required (scripts/sls-identity.js): the identity provider of the default run
# (TestPackagedTemplate and TestPackagedIdentity expect these values).
idp=(--param="jwksUrl=https://idp.example.com/.well-known/jwks.json"
  --param="jwtIssuer=https://idp.example.com/" --param="jwtAudience=streamlimit")
"$sls" package --stage prod --param="tableName=uid_concurrency_count" \
  --param="logRetentionDays=14" \
  --param="alarmTopicArn=arn:aws:sns:us-east-1:123456789012:streamlimit-alarms" \
  --param="throttleBurst=50" --param="throttleRate=100" --param="reservedConcurrency=20" \
  --param="jwksUrl=https://login.example.org/keys" --param="jwtIssuer=https://login.example.org" \
  --param="jwtAudience=api://streamlimit" --param="jwtUidClaim=uid" \
  --param="tracing=Active" --param="logSampleRate=0.1" \
  --package "$tmp/with-params"
"$sls" package --stage "$STAGE" --param="insecureNoAuth=true" --package "$tmp/insecure-no-auth"
# The api function behind Lambda Function URLs instead of the HTTP API
# (sls/gateway-url.yml), for TestPackagedFunctionURL.
"$sls" package --stage "$STAGE" --param="gateway=url" "${idp[@]}" --package "$tmp/url"
# Without the identity provider or the opt-out, packaging must fail: its exit status and
# output are kept for TestPackagingNeedsIdentity.
status=0
"$sls" package --stage "$STAGE" --package "$tmp/no-identity/package" >"$tmp/no-identity.log" 2>&1 || status=$?
"$sls" package --stage "$STAGE" "${idp[@]}"

template=.serverless/cloudformation-template-update-stack.json
for variant in with-params insecure-no-auth url; do
  if [[ ! -s "$template" || ! -s "$tmp/$variant/cloudformation-template-update-stack.json" ]]; then
    echo "sls-package: $template or its $variant variant was not produced" >&2
    exit 1
  fi
  mkdir -p ".serverless/$variant"
  cp "$tmp/$variant/cloudformation-template-update-stack.json" ".serverless/$variant/"
done
mkdir -p .serverless/no-identity
cp "$tmp/no-identity.log" .serverless/no-identity/package.log
echo "$status" >.serverless/no-identity/exit-status
echo "sls-package: wrote $template, .serverless/with-params/, .serverless/insecure-no-auth/, .serverless/url/ and .serverless/no-identity/" >&2
