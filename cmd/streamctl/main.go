// Command streamctl is the operators' tool for a streamlimit table: create
// it, list an account's sessions, revoke one, set or clear an account's
// limit and at-limit policy, and scan every account.
// It talks to DynamoDB directly (--endpoint for DynamoDB Local, else AWS
// with the usual credential chain) through the same lease.Service as the
// API, so every change keeps the service's guarantees. Without an endpoint
// and without AWS credentials it stops before any call, naming the
// command that reaches the DynamoDB Local of `make run`; it never picks
// localhost by itself.
//
// Run `streamctl --help`, or `streamctl <command> --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/cmd/internal/cli"
	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
)

func main() {
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) })
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad command line
)

// nowEnv, when set to an RFC 3339 time, fixes streamctl's clock. Only the
// golden tests set it (so their output is stable); it is not in --help.
const nowEnv = "STREAMCTL_NOW"

// command is one subcommand.
type command struct {
	name    string
	args    []string // positional arguments, in order
	summary string
	// store says the command needs DynamoDB (common flags, client, service).
	store bool
	flags func(fs *flag.FlagSet, o *options)
	run   func(ctx context.Context, e *env, args []string) error
}

// options holds every subcommand's flags.
type options struct {
	endpoint, table, region string
	pageSize                int
}

// env is what a command runs with.
type env struct {
	out    io.Writer
	getenv func(string) string
	cfg    config.Config
	opts   options
	now    func() time.Time
	client *dynamodb.Client
	svc    *lease.Service
}

var commands = []command{
	{name: "create-table", summary: "Create the lease table. Keys uid (partition) and sk (sort), on-demand billing, TTL on expiresAt; waits until it is active. An existing table is fine.",
		store: true, run: createTable},
	{name: "list", args: []string{"uid"}, summary: "List an account's live sessions. Shows each session's handle (for revoke), device, client and times, and the limit and policy in force.",
		store: true, run: list},
	{name: "revoke", args: []string{"uid", "session"}, summary: "End one live session by its handle. The reason is admin: the player's next heartbeat gets 410 lease_revoked, and the slot is free at once.",
		store: true, run: revoke},
	{name: "set-limit", args: []string{"uid", "n"}, summary: fmt.Sprintf("Set an account's own limit. n is 1-%d; it applies from the next canStream. Lowering it ends no stream: new ones are refused until the count drops.", lease.MaxLimit),
		store: true, run: setLimit},
	{name: "clear-limit", args: []string{"uid"}, summary: "Remove an account's own limit. The deployment's default (MAX_STREAMS) applies again.",
		store: true, run: clearLimit},
	{name: "set-policy", args: []string{"uid", "policy"}, summary: "Set an account's at-limit policy. block_new refuses the newcomer; evict_oldest admits it and revokes the oldest session (with the anti-flap cooldown).",
		store: true, run: setPolicy},
	{name: "clear-policy", args: []string{"uid"}, summary: "Remove an account's own policy. The deployment's default (AT_LIMIT_POLICY) applies again.",
		store: true, run: clearPolicy},
	{name: "scan", summary: "Count every account's leases. A paginated, consistent Scan of the whole table: live, expired and revoked leases, limit and policy per account. It reads every item: mind the cost on a large table.",
		store: true, run: scan,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.IntVar(&o.pageSize, "page-size", 0, "items per Scan page (0: DynamoDB's 1 MB pages)")
		}},
}

// run runs one command line and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		usage(w)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "streamctl: unknown command %q; run streamctl --help\n", args[0])
		return exitUsage
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "streamctl:", err)
		return exitError
	}
	e := &env{out: stdout, getenv: getenv, cfg: cfg, now: time.Now}
	fs := flag.NewFlagSet("streamctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd.store {
		fs.StringVar(&e.opts.endpoint, "endpoint", cfg.DynamoEndpoint, "DynamoDB `URL`: "+localEndpoint+" for the DynamoDB Local of make run; empty means AWS ($DYNAMODB_ENDPOINT)")
		fs.StringVar(&e.opts.table, "table", cfg.TableName, "table name ($TABLE_NAME)")
		fs.StringVar(&e.opts.region, "region", cfg.Region, "AWS region ($AWS_REGION, else the SDK's, else us-east-1)")
	}
	if cmd.flags != nil {
		cmd.flags(fs, &e.opts)
	}
	pos, err := parseInterleaved(fs, args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		commandUsage(stdout, cmd, fs)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "streamctl %s: %v\n\n", cmd.name, err)
		commandUsage(stderr, cmd, fs)
		return exitUsage
	case len(pos) != len(cmd.args):
		want := "no arguments"
		if len(cmd.args) > 0 {
			want = argNames(*cmd)
		}
		fmt.Fprintf(stderr, "streamctl %s: want %s, got %d argument(s)\n\n", cmd.name, want, len(pos))
		commandUsage(stderr, cmd, fs)
		return exitUsage
	}
	if v := getenv(nowEnv); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fmt.Fprintf(stderr, "streamctl: %s=%q: %v\n", nowEnv, v, err)
			return exitError
		}
		e.now = func() time.Time { return t }
	}
	if cmd.store {
		if err := e.connect(ctx, args); err != nil {
			fmt.Fprintln(stderr, "streamctl:", err)
			return exitError
		}
	}
	if err := cmd.run(ctx, e, pos); err != nil {
		fmt.Fprintf(stderr, "streamctl %s: %v\n", cmd.name, friendly(err, e.opts.table))
		var u usageError
		if errors.As(err, &u) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// usageError is an argument error found by a command itself (exit 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// friendly explains errors an operator can fix.
func friendly(err error, table string) error {
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return fmt.Errorf("table %s not found (create it with streamctl create-table): %w", table, lease.ErrUnavailable)
	}
	return err
}

// parseInterleaved parses flags wherever they stand among the arguments
// (`list alice --endpoint …` as well as `list --endpoint … alice`) and
// returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `streamctl: operate a streamlimit lease table: DynamoDB Local with --endpoint, else AWS.

usage: streamctl <command> [flags] [arguments]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+argNames(c)), firstSentence(c.summary))
	}
	tw.Flush()
	fmt.Fprint(w, `
Every command takes --help. The store commands take --endpoint, --table and --region
(defaults from DYNAMODB_ENDPOINT, TABLE_NAME, AWS_REGION) and use the service's
configuration variables (MAX_STREAMS, AT_LIMIT_POLICY, LEASE_TTL_SECONDS, ...) for
defaults. Exit status: 0 success, 1 failure, 2 bad command line.

Beside `+"`make run`"+` (DynamoDB Local on port 8000, or $DYNAMODB_PORT if you set it):
  streamctl list --endpoint `+localEndpoint+` alice
  export DYNAMODB_ENDPOINT=`+localEndpoint+`   # the same, for every command
Without an endpoint streamctl uses AWS (the SDK's credential chain), never localhost;
it stops at once, saying so, when it finds no AWS credentials.
`)
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("streamctl "+c.name+" [flags] "+argNames(*c)), wrap(c.summary, 88))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func argNames(c command) string {
	var b []string
	for _, a := range c.args {
		b = append(b, "<"+a+">")
	}
	return strings.Join(b, " ")
}

// wrap breaks s into lines of at most width bytes at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		switch {
		case i == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// localEndpoint is where `make run` (scripts/run-local.sh) serves DynamoDB
// Local unless DYNAMODB_PORT says otherwise.
const localEndpoint = "http://localhost:8000"

// connect builds the DynamoDB client and the lease service. args is the
// command line, for the hint when AWS has no credentials.
func (e *env) connect(ctx context.Context, args []string) error {
	client, err := dynamo.New(ctx, dynamo.Config{
		Endpoint: e.opts.endpoint, Region: e.opts.region, Timeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	if e.opts.endpoint == "" {
		if err := awsCredentials(ctx, client, args); err != nil {
			return err
		}
	}
	// The server's own lease options (config.LeaseOptions), so a kick or
	// a limit change here follows the same rules as the service.
	opts := append(e.cfg.LeaseOptions(), lease.WithClock(e.now))
	svc, err := lease.New(dynamostore.New(client, dynamostore.WithTable(e.opts.table)), opts...)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	e.client, e.svc = client, svc
	return nil
}

// awsCredentials checks that the AWS SDK finds credentials before a command
// goes to AWS. Without them the first call fails deep in the SDK (an
// instance metadata error), which tells a newcomer beside `make run`
// nothing; this says what to run instead. streamctl never falls back to
// DynamoDB Local by itself: an operator whose credentials are missing must
// not be sent to a local table without noticing.
func awsCredentials(ctx context.Context, client *dynamodb.Client, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if p := client.Options().Credentials; p == nil {
		err = errors.New("no credentials provider")
	} else if _, err = p.Retrieve(ctx); err == nil {
		return nil
	}
	local := append([]string{"streamctl", args[0], "--endpoint", localEndpoint}, args[1:]...)
	for i, a := range local {
		local[i] = shellQuote(a)
	}
	return fmt.Errorf(`no AWS credentials found, and no DynamoDB endpoint given (--endpoint, $DYNAMODB_ENDPOINT).
For the DynamoDB Local of `+"`make run`"+` (port 8000, or $DYNAMODB_PORT if you set it):
  %s
  or, for every command: export DYNAMODB_ENDPOINT=%s
For AWS: configure credentials (AWS_PROFILE, ~/.aws/credentials, an instance role, ...).
(AWS SDK: %v)`, strings.Join(local, " "), localEndpoint, err)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func createTable(ctx context.Context, e *env, _ []string) error {
	if err := dynamostore.CreateTable(ctx, e.client, e.opts.table); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "table %s is ready: keys uid (partition) and sk (sort), on-demand, TTL on expiresAt\n", e.opts.table)
	return nil
}

func list(ctx context.Context, e *env, args []string) error {
	uid := args[0]
	l, err := e.svc.List(ctx, uid)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: %d of %d streams live, policy %s\n", uid, l.StreamCount, l.MaxStreams, l.Policy)
	if len(l.Sessions) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tDEVICE\tTITLE\tUSER AGENT\tSTARTED\tRENEWED\tEXPIRES")
	for _, s := range l.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Handle, dash(s.DeviceID), dash(clip(s.Client.Title, 24)),
			dash(clip(s.Client.UserAgent, 32)), stamp(s.CreatedAt), stamp(s.RenewedAt), stamp(s.ExpiresAt))
	}
	return tw.Flush()
}

func revoke(ctx context.Context, e *env, args []string) error {
	uid, handle := args[0], args[1]
	rel, err := e.svc.Kick(ctx, uid, handle, lease.RevokedAdmin)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: revoked session %s (reason %s); streams live now: %d\n", uid, handle, lease.RevokedAdmin, rel.StreamCount)
	return nil
}

func setLimit(ctx context.Context, e *env, args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return usageError(fmt.Sprintf("limit %q is not a whole number", args[1]))
	}
	return e.setOwn(args[0], "maxStreams", n, "limit", e.svc.SetLimit(ctx, args[0], n))
}

func clearLimit(ctx context.Context, e *env, args []string) error {
	return e.cleared(args[0], "maxStreams", e.svc.MaxStreams(), e.svc.ClearLimit(ctx, args[0]))
}

func setPolicy(ctx context.Context, e *env, args []string) error {
	p := lease.Policy(args[1])
	return e.setOwn(args[0], "policy", p, "policy", e.svc.SetPolicy(ctx, args[0], p))
}

func clearPolicy(ctx context.Context, e *env, args []string) error {
	return e.cleared(args[0], "policy", e.svc.Policy(), e.svc.ClearPolicy(ctx, args[0]))
}

// setOwn reports an account's own setting (its limit or policy), set by
// the call that returned err.
func (e *env) setOwn(uid, name string, value any, what string, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: %s %v (own %s), from the next canStream\n", uid, name, value, what)
	return nil
}

// cleared reports an account's setting back at the deployment's default
// def, by the call that returned err.
func (e *env) cleared(uid, name string, def any, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: %s %v (the default)\n", uid, name, def)
	return nil
}

func scan(ctx context.Context, e *env, _ []string) error {
	if e.opts.pageSize < 0 || e.opts.pageSize > 1<<20 {
		return usageError(fmt.Sprintf("--page-size %d is out of range", e.opts.pageSize))
	}
	accounts, err := dynamostore.ScanAccounts(ctx, e.client, e.opts.table, e.now(),
		dynamostore.ScanOptions{PageSize: int32(e.opts.pageSize)})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tLIVE\tEXPIRED\tREVOKED\tLIMIT\tPOLICY")
	var live, expired, revoked int
	for _, a := range accounts {
		limit, policy := strconv.Itoa(e.svc.MaxStreams()), string(e.svc.Policy())
		if a.MaxStreams > 0 {
			limit = strconv.Itoa(a.MaxStreams) + " (own)"
		}
		if a.Policy != "" {
			policy = string(a.Policy) + " (own)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", a.UID, a.Live, a.Expired, a.Revoked, limit, policy)
		live, expired, revoked = live+a.Live, expired+a.Expired, revoked+a.Revoked
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%d accounts; leases: %d live, %d expired, %d revoked\n", len(accounts), live, expired, revoked)
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens s to n runes, marking the cut with "…".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
