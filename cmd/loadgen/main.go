// Command loadgen simulates video players against a running streamlimit
// server on this machine and audits the result (see internal/loadgen).
//
//	go run ./cmd/loadgen -base http://127.0.0.1:3000/dev -players 200 -duration 2m
//
// With -ddb-endpoint and -table the audit reads the lease table itself
// (one consistent Query per uid); otherwise it reads GET /streams/{uid}.
// With -capacity (the server started with DEBUG_CAPACITY=true) it reports
// DynamoDB calls and capacity units per operation, and the run's itemized
// cost per million stream-hours (internal/cost); -server-output and
// -server-pid add the server's output bytes and CPU time to it. It prints a progress
// line every few seconds, the report at the end, and exits 1 when the run
// had unexpected answers or a failed audit. Only loopback targets.
//
// Run `loadgen -h` for what it does, examples and every flag.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/cmd/internal/cli"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/cost"
	"github.com/streamlimit/streamlimit/internal/loadgen"
)

func main() {
	cli.Main(func(ctx context.Context) int {
		code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
		}
		return code
	})
}

// about is the help text before the flags.
const about = `loadgen simulates video players against a streamlimit server on this machine and
audits the result.

Each player asks canStream, heartbeats on the interval the server announces and ends
its stream after a random session; a share of sessions (-crash) stops silently instead,
leaving its lease to expire. Throughout, the audit checks that no account holds more
leases than its limit (read through GET /streams/{uid}, or from the table itself with
-ddb-endpoint) and that none is lost or invented. A progress line goes to stderr every
5 s. After -duration the players end their streams; then loadgen waits until every
lease has expired (-ttl: the server's LEASE_TTL_SECONDS), checks that none is left and
that every account with a crash gets its full limit again, and prints the report.

usage: loadgen [flags]

examples:
  # beside make run (server on :3000/dev, heartbeat 30 s, lease TTL 100 s); the final
  # audit then waits about 100 s more, -skip-final skips it:
  go run ./cmd/loadgen -players 50 -duration 30s
  # short leases, so heartbeats, crashes and expiries all happen within a short run:
  HEARTBEAT_INTERVAL_SECONDS=2 LEASE_TTL_SECONDS=6 make run
  go run ./cmd/loadgen -duration 30s -session-min 5s -session-max 15s -ttl 6s
  # the audit reads the table; DynamoDB calls and capacity per operation
  # (the server started with DEBUG_CAPACITY=true make run):
  go run ./cmd/loadgen -ddb-endpoint http://localhost:8000 -capacity auto -duration 1m
  # all of that against a fresh stack of its own, on free ports:
  scripts/load-local.sh -players 200 -duration 2m -crash 0.1

Only loopback targets. Exit status: 0 a clean run, 1 unexpected answers or a failed
audit, 2 a bad command line or a run that could not start.

flags:
`

// usageHint follows a command-line error.
const usageHint = "run loadgen -h for what it does, examples and every flag"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // help and errors are written below
	var (
		c        loadgen.Config
		ddb      = fs.String("ddb-endpoint", "", "DynamoDB Local URL: the audit reads the table directly (consistent Query per uid)")
		table    = fs.String("table", "uid_concurrency_count", "the lease table (with -ddb-endpoint)")
		capURL   = fs.String("capacity", "", `server's capacity counters: a URL, or "auto" for <base host>/debug/capacity (server with DEBUG_CAPACITY=true)`)
		jsonOut  = fs.String("json", "", "also write the report as JSON to this file")
		allowed  = fs.String("allow", "", "comma-separated outcomes that are documented for this run (e.g. 503,timeout)")
		quiet    = fs.Bool("quiet", false, "no progress line")
		bearer   = fs.String("bearer", "", "send Authorization: Bearer <token> with every request")
		interval = fs.Duration("interval", 0, "heartbeat interval (default: the one the server announces)")
		output   = fs.String("server-output", "", "comma-separated files the server's stdout/stderr go to: bytes written per request (with -capacity)")
	)
	fs.IntVar(&c.Cost.ServerPID, "server-pid", 0, "the server's process id: its CPU time per request, from /proc (with -capacity)")
	fs.IntVar(&c.Cost.MemoryMB, "memory", cost.DefaultMemoryMB, "Lambda memory size (MB) the cost line prices")
	fs.Float64Var(&c.Cost.TraceRate, "xray-rate", 0, "share of the Lambda shapes' requests X-Ray records in the cost line (0: serverless.yml's tracing=PassThrough; 0.05: tracing=Active)")
	fs.Float64Var(&c.Cost.PlatformLogBytes, "platform-log-bytes", 0, "Lambda's own log bytes per invocation (0: JSON log format at system level WARN)")
	fs.StringVar(&c.Base, "base", "http://127.0.0.1:3000/dev", "API base URL (loopback only)")
	fs.IntVar(&c.Players, "players", 100, "players running at once")
	fs.IntVar(&c.UIDs, "uids", 0, "accounts the players share (default players/2)")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "how long players keep playing (at most 3h)")
	fs.DurationVar(&c.Ramp, "ramp", 0, "spread of the players' first requests (default min(duration/4, 30s))")
	fs.DurationVar(&c.SessionMin, "session-min", time.Minute, "shortest session")
	fs.DurationVar(&c.SessionMax, "session-max", 3*time.Minute, "longest session")
	fs.DurationVar(&c.PauseMax, "pause", 5*time.Second, "longest pause between sessions and after a refusal")
	fs.Float64Var(&c.CrashShare, "crash", 0.1, "share of sessions that stop silently, without endStream")
	fs.DurationVar(&c.TTL, "ttl", 100*time.Second, "the server's LEASE_TTL_SECONDS (the final audit waits for it)")
	fs.IntVar(&c.Limit, "limit", 3, "the server's MAX_STREAMS")
	fs.DurationVar(&c.AuditEvery, "audit-every", 10*time.Second, "how often the audit samples")
	fs.IntVar(&c.AuditSample, "audit-sample", 20, "uids read from the store per sampled moment")
	fs.BoolVar(&c.SkipFinal, "skip-final", false, "skip the final TTL wait and crash audit")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, about)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0, nil
	case err != nil:
		return 2, fmt.Errorf("%w\n%s", err, usageHint)
	case fs.NArg() > 0:
		return 2, fmt.Errorf("unexpected argument %q: every setting is a flag, such as -duration 30s\n%s", fs.Arg(0), usageHint)
	}
	c.Interval = *interval
	for _, f := range strings.Split(*output, ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.Cost.ServerOutput = append(c.Cost.ServerOutput, f)
		}
	}
	if !*quiet {
		c.Progress = stderr
	}
	if *bearer != "" {
		c.Header = http.Header{"Authorization": {"Bearer " + *bearer}}
	}
	for _, a := range strings.Split(*allowed, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Allowed = append(c.Allowed, a)
		}
	}
	switch *capURL {
	case "":
	case "auto":
		u, err := url.Parse(c.Base)
		if err != nil {
			return 2, err
		}
		c.CapacityURL = u.Scheme + "://" + u.Host + "/debug/capacity"
	default:
		c.CapacityURL = *capURL
	}
	if *ddb != "" {
		if err := loadgen.CheckLoopback(*ddb); err != nil {
			return 2, err
		}
		client, err := dynamo.New(ctx, dynamo.Config{Endpoint: *ddb, Region: "us-east-1", Timeout: 10 * time.Second})
		if err != nil {
			return 2, err
		}
		c.Reader = loadgen.TableReader{API: client, Table: *table}
	}
	rep, err := loadgen.Run(ctx, c)
	if err != nil {
		return 2, err
	}
	rep.WriteText(stdout)
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			return 2, err
		}
	}
	if !rep.OK {
		return 1, nil
	}
	return 0, nil
}
