// Package faults holds the fault-injection tests (its _test.go files): the
// real server (internal/app wiring) under simulated players (internal/loadgen)
// while DynamoDB Local is killed and restarted with its data on disk, and
// while a TCP proxy (internal/testenv/faultproxy) between the server and DynamoDB
// Local adds latency, drops connections, swallows them and refuses them.
//
// What they check, per the outage policy (README "Outage policy"): while
// DynamoDB is unreachable every answer that needs it is a 503 with
// Retry-After, each within 2 s; once it is back, full service; and the
// audit finds no lease lost that a player kept heartbeating, none invented,
// and never more live leases than the limit.
package faults
