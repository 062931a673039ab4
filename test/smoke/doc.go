// Package smoke holds the tests (its _test.go files) of scripts/smoke.sh,
// the post-deploy smoke test (`make smoke BASE=… TOKEN=…`): run against the
// real HTTP API (in-memory store) behind a stub that requires a token and
// can falsify one answer, the script must pass on the real answers, fail
// with a line naming the README step on a wrong field or a wrong status,
// refuse an account that is not idle, and end every lease it was granted
// whether it passed or failed. `make test` also runs it against a fresh
// local stack (scripts/readme-smoke.sh).
package smoke
