package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var (
	endpoint string
	client   *dynamodb.Client
	skipMsg  string
)

// runMainEnv, set to 1, makes the test binary act as streamctl itself (see
// runBinary): a test can then give it an environment of its own, since the
// AWS SDK reads the process's environment, not run's getenv.
const runMainEnv = "STREAMCTL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	flag.Parse()
	ddblocal.Main(m, dynamo.Config{Timeout: 30 * time.Second}, func(ep string, c *dynamodb.Client, skip string) {
		endpoint, client, skipMsg = ep, c, skip
	})
}

// t0 is the seeded table's time origin: far enough ahead of real time that
// DynamoDB Local's TTL sweeper never deletes a seeded item during a test,
// so what the test looks at stays put however slow the machine.
var t0 = time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)

// cliNow is streamctl's fixed clock in the golden tests (STREAMCTL_NOW).
var cliNow = t0.Add(100 * time.Second)

// tableToken and endpointToken stand for the random table name and
// DynamoDB Local's URL in golden files.
const (
	tableToken    = "{{table}}"
	endpointToken = "{{endpoint}}"
)

// fixture is one test's table.
type fixture struct {
	t       *testing.T
	table   string
	env     map[string]string
	handles map[string]string // "uid/device" -> session handle
	log     bytes.Buffer      // the transcript compared with the golden file
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if client == nil {
		t.Skip(skipMsg)
	}
	table := fmt.Sprintf("ctl_%08x", rand.Uint32())
	f := &fixture{t: t, table: table, handles: map[string]string{}, env: map[string]string{
		"DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table, "AWS_REGION": "us-east-1",
		nowEnv: cliNow.Format(time.RFC3339),
	}}
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	return f
}

// seed writes a known set of accounts through the lease service, with a
// manual clock starting at t0 and sequential lease ids, so handles and
// times are the same on every run. At cliNow:
//
//	alice  own limit 4; tv expired, phone and laptop live, tablet revoked (kicked)
//	bob    own policy evict_oldest; console live
//	carol  own limit 1; an expired lease
func (f *fixture) seed() {
	t := f.t
	t.Helper()
	ctx := t.Context()
	now := t0
	var ids atomic.Int64
	svc, err := lease.New(dynamostore.New(client, dynamostore.WithTable(f.table)),
		lease.WithClock(func() time.Time { return now }),
		lease.WithIDGenerator(func() (string, error) {
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids.Add(1)), nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	grant := func(second int, uid, device string, c lease.Client) {
		t.Helper()
		now = t0.Add(time.Duration(second) * time.Second)
		d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: device, Client: c})
		if err != nil || !d.Granted {
			t.Fatalf("seed %s/%s: %+v, %v", uid, device, d, err)
		}
		f.handles[uid+"/"+device] = d.Lease.Handle
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.SetLimit(ctx, "alice", 4))
	grant(0, "alice", "tv", lease.Client{UserAgent: "LivingRoomTV/2.1", Title: "Big Buck Bunny"})
	grant(0, "carol", "old-phone", lease.Client{})
	grant(50, "bob", "console", lease.Client{UserAgent: "ExamplePlayer/4.2 (Tizen 7.0) with a very long user agent string"})
	grant(60, "alice", "phone", lease.Client{UserAgent: "Mozilla/5.0 (Android 15)"})
	grant(61, "alice", "tablet", lease.Client{Title: "Sintel"})
	grant(62, "alice", "laptop", lease.Client{})
	must(svc.SetPolicy(ctx, "bob", lease.PolicyEvictOldest))
	must(svc.SetLimit(ctx, "carol", 1))
	now = cliNow
	_, err = svc.Kick(ctx, "alice", f.handles["alice/tablet"], lease.RevokedKicked)
	must(err)
}

// run runs streamctl and records the command line, its output and a
// non-zero exit status in the transcript.
func (f *fixture) run(args ...string) int {
	f.t.Helper()
	var out, errOut bytes.Buffer
	code := run(f.t.Context(), args, func(k string) string { return f.env[k] }, &out, &errOut)
	fmt.Fprintf(&f.log, "$ streamctl %s\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	if code != 0 {
		fmt.Fprintf(&f.log, "[exit %d]\n", code)
	}
	f.log.WriteString("\n")
	return code
}

// golden compares the transcript with testdata/name.golden (or rewrites
// it with -update).
func (f *fixture) golden(name string) {
	f.t.Helper()
	got := f.log.String()
	if f.table != "" {
		got = strings.ReplaceAll(got, f.table, tableToken)
	}
	if endpoint != "" {
		got = strings.ReplaceAll(got, endpoint, endpointToken)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatalf("%v (run go test ./cmd/streamctl -update to create it)", err)
	}
	if got != string(want) {
		f.t.Errorf("output differs from %s (go test ./cmd/streamctl -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	f := &fixture{t: t, env: map[string]string{}}
	f.run("--help")
	for _, c := range commands {
		if code := f.run(c.name, "--help"); code != 0 {
			t.Errorf("%s --help: exit %d", c.name, code)
		}
	}
	f.golden("help")
}

func TestCreateTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.env["TABLE_NAME"] = f.table + "_new"
	f.run("create-table")
	f.run("create-table") // again: an existing table is fine
	f.run("scan")
	f.golden("create-table")
	if _, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: &[]string{f.table + "_new"}[0]}); err != nil {
		t.Fatalf("the table was not created: %v", err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	f.run("list", "alice")
	f.run("list", "--table", f.table, "bob") // a flag before the argument
	f.run("list", "carol", "--endpoint", endpoint)
	f.run("list", "nobody")
	f.run("list", "bad uid")
	f.run("list")
	f.golden("list")
}

func TestScan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	f.run("scan", "--page-size", "2") // 9 items: five pages
	f.env["MAX_STREAMS"], f.env["AT_LIMIT_POLICY"] = "5", "evict_oldest"
	f.run("scan") // other deployment defaults
	f.run("scan", "--table", f.table+"_missing")
	f.golden("scan")
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	phone := f.handles["alice/phone"]
	f.run("revoke", "alice", phone)
	f.run("list", "alice")
	f.run("revoke", "alice", phone)                     // no longer live
	f.run("revoke", "bob", f.handles["alice/laptop"])   // another account's session
	f.run("revoke", "alice", f.handles["alice/tablet"]) // kicked before
	f.run("revoke", "alice", "not-a-handle")
	f.run("scan")
	f.golden("revoke")
}

func TestLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	f.run("set-limit", "bob", "2")
	f.run("list", "bob")
	f.run("clear-limit", "alice")
	f.run("list", "alice")
	f.run("set-limit", "bob", "0")
	f.run("set-limit", "bob", fmt.Sprint(lease.MaxLimit+1))
	f.run("set-limit", "bob", "two")
	f.run("set-limit", "bob")
	f.run("scan")
	f.golden("limits")
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	f.run("set-policy", "alice", "evict_oldest")
	f.run("clear-policy", "bob")
	f.run("scan")
	f.run("set-policy", "alice", "lottery")
	f.env["AT_LIMIT_POLICY"] = "evict_oldest"
	f.run("clear-policy", "alice")
	f.golden("policies")
}

func TestBadCommandLines(t *testing.T) {
	t.Parallel()
	f := &fixture{t: t, env: map[string]string{}}
	f.run()
	f.run("frobnicate")
	f.run("list", "--bogus", "alice")
	f.run("scan", "extra")
	f.env["MAX_STREAMS"] = "many"
	f.run("scan")
	f.golden("bad-command-lines")
}

// TestCLIChangesTakeEffect: a limit set with the CLI decides the very next
// canStream, clearing it restores the default, and a session revoked with
// the CLI is told so on its next heartbeat (reason admin).
func TestCLIChangesTakeEffect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	now := cliNow
	svc, err := lease.New(dynamostore.New(client, dynamostore.WithTable(f.table)), lease.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	canStream := func() lease.Decision {
		t.Helper()
		d, err := svc.CanStream(ctx, "dave", lease.Request{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var first lease.Decision
	for i := range 3 {
		if d := canStream(); !d.Granted {
			t.Fatalf("grant %d refused", i+1)
		} else if i == 0 {
			first = d
		}
	}
	if canStream().Granted {
		t.Fatal("a 4th stream under the default limit 3")
	}
	if code := f.run("set-limit", "dave", "4"); code != 0 {
		t.Fatalf("set-limit: exit %d\n%s", code, f.log.String())
	}
	if d := canStream(); !d.Granted || d.MaxStreams != 4 {
		t.Fatalf("after set-limit 4: %+v; want the 4th granted", d)
	}
	if code := f.run("clear-limit", "dave"); code != 0 {
		t.Fatalf("clear-limit: exit %d", code)
	}
	if d := canStream(); d.Granted || d.MaxStreams != 3 {
		t.Fatalf("after clear-limit: %+v; want refused under limit 3", d)
	}

	if code := f.run("revoke", "dave", first.Lease.Handle); code != 0 {
		t.Fatalf("revoke: exit %d\n%s", code, f.log.String())
	}
	_, err = svc.Heartbeat(ctx, "dave", first.Lease.ID, lease.HeartbeatRequest{})
	var revoked *lease.RevokedError
	if !errors.As(err, &revoked) || revoked.Reason != lease.RevokedAdmin {
		t.Fatalf("heartbeat after revoke: %v; want revoked (admin)", err)
	}
}

// runBinary runs streamctl (this test binary, see runMainEnv) with args and
// exactly the environment env, and returns its output and exit status.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append([]string{runMainEnv + "=1"}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// noAWS is an environment without any AWS configuration: no credentials in
// variables or files, and no instance metadata service.
func noAWS(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// TestNoEndpointNoCredentials: a newcomer runs streamctl beside `make run`
// without --endpoint, on a machine without AWS credentials. streamctl stops
// at once, saying how to reach the local stack instead of failing on AWS.
func TestNoEndpointNoCredentials(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"list", "alice"}, {"scan", "--page-size", "5"}} {
		start := time.Now()
		stdout, stderr, code := runBinary(t, noAWS(t), args...)
		if code != exitError {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitError, stderr)
		}
		want := []string{
			"no AWS credentials",
			"streamctl " + args[0] + " --endpoint http://localhost:8000 " + strings.Join(args[1:], " "),
			"DYNAMODB_ENDPOINT=http://localhost:8000",
			"make run",
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, w, stderr)
			}
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", args, stdout)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v: took %s to fail", args, d)
		}
	}
}

// TestNoEndpointWithCredentials: an operator with AWS credentials is not
// stopped by that check, nor sent to localhost: streamctl goes where the
// AWS SDK's configuration says (here DynamoDB Local posing as AWS, through
// AWS_ENDPOINT_URL_DYNAMODB; DynamoDB Local keeps a table per access key).
func TestNoEndpointWithCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	env := append(noAWS(t),
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL_DYNAMODB="+endpoint, "TABLE_NAME="+f.table, nowEnv+"="+cliNow.Format(time.RFC3339))
	stdout, stderr, code := runBinary(t, env, "list", "alice")
	if code != exitOK || !strings.HasPrefix(stdout, "alice: 2 of 4 streams live") {
		t.Fatalf("exit %d, want 0 and alice's sessions\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
