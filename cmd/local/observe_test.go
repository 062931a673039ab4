package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
)

// These tests check what the local server tells operators: X-Ray segments
// sent to a fake daemon on a loopback UDP port, the request log lines and
// the EMF metric documents on stderr. The X-Ray tests start servers that
// trace and are not parallel (tracing touches the X-Ray SDK's global
// logger and context-missing strategy).

// requestLines returns the decoded "request" log lines.
func requestLines(t *testing.T, l *observetest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range l.JSONLines(t) {
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// startLogged is startServer with the server's stderr kept, every request
// logged (LOG_SAMPLE_RATE=1) and traced (XRAY_SAMPLE_RATE=1) unless env
// says otherwise.
func startLogged(t *testing.T, env map[string]string) (server, *observetest.Buffer) {
	t.Helper()
	s, logs, _ := startStoppable(t, env)
	return s, logs
}

// startStoppable is startLogged with a stop function, which shuts the
// server down as SIGTERM does and waits for it (also at the test's end).
func startStoppable(t *testing.T, env map[string]string) (server, *observetest.Buffer, func()) {
	t.Helper()
	if endpoint == "" {
		t.Skip(skipMsg)
	}
	table := fmt.Sprintf("obs_%08x", rand.Uint32())
	vars := map[string]string{
		"PORT": "0", "STAGE": "dev", "DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table,
		"CREATE_TABLE": "true", "AWS_REGION": "us-east-1",
		// A loaded machine can take more than the default 1.5 s for a first
		// call on a new table; these tests are not about timeouts.
		"STORE_TIMEOUT_MS": "20000",
		"LOG_SAMPLE_RATE":  "1", "XRAY_SAMPLE_RATE": "1",
	}
	for k, v := range env {
		vars[k] = v
	}
	logs := &observetest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return vars[k] }, pw, logs)
		pw.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`listening on (http://localhost:\d+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("server exited at start: %v\n%s", err, strings.Join(logs.Lines(), "\n"))
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return server{base: base, api: base + "/dev", table: table}, logs, stop
}

// traceRoot returns the trace id the server put in the X-Amzn-Trace-Id
// response header.
func traceRoot(t *testing.T, a answer) string {
	t.Helper()
	h := a.header.Get("X-Amzn-Trace-Id")
	m := regexp.MustCompile(`Root=([0-9a-f-]+);Sampled=1`).FindStringSubmatch(h)
	if m == nil {
		t.Fatalf("X-Amzn-Trace-Id %q: want a sampled trace", h)
	}
	return m[1]
}

const segmentWait = 10 * time.Second

// TestXRayTracesRequests: with AWS_XRAY_DAEMON_ADDRESS set, each request
// is one segment with the DynamoDB calls as subsegments, the uid-free
// operation and route, the decision as an annotation, and no uid anywhere.
func TestXRayTracesRequests(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	s, logs := startLogged(t, map[string]string{"AWS_XRAY_DAEMON_ADDRESS": daemon.Addr(), "MAX_STREAMS": "1"})
	uid := fmt.Sprintf("tracedviewer%08x", rand.Uint32())

	type step struct {
		name, method, path string
		status             int
		operation          string
		decision           string // "" for none
		dynamo             []string
		error              bool
	}
	granted := call(t, "POST", s.api+"/canStream/"+uid+"?deviceId=tv", "", "").expect(t, 200, map[string]any{"canStream": true})
	id := granted.str("leaseId")
	steps := []step{
		{"refused", "POST", "/canStream/" + uid + "?deviceId=phone", 200, "canStream", "refused", []string{"Query"}, false},
		{"heartbeat", "POST", "/heartbeat/" + uid + "/" + id, 200, "heartbeat", "renewed", []string{"UpdateItem"}, false},
		{"end", "POST", "/endStream/" + uid + "/" + id, 200, "endStream", "ended", []string{"Query", "TransactWriteItems"}, false},
		{"expired heartbeat", "POST", "/heartbeat/" + uid + "/" + id, 410, "heartbeat", "expired", nil, true},
	}
	check := func(name string, a answer, operation, route, decision string, dynamo []string, isError bool) {
		t.Helper()
		root := traceRoot(t, a)
		seg := daemon.WaitFor(t, segmentWait, name, func(s observetest.Segment) bool { return s.TraceID == root })
		if seg.Name != "streamlimit" || seg.Type != "" || seg.InProgress {
			t.Errorf("%s: segment %q type %q in_progress %v; want a closed segment named streamlimit", name, seg.Name, seg.Type, seg.InProgress)
		}
		if seg.Annotations["operation"] != operation || seg.Annotations["stage"] != "dev" {
			t.Errorf("%s: annotations %v; want operation %s, stage dev", name, seg.Annotations, operation)
		}
		if got, _ := seg.Annotations["decision"].(string); got != decision {
			t.Errorf("%s: decision annotation %q, want %q", name, got, decision)
		}
		if seg.HTTP.Request.URL != route || seg.HTTP.Response.Status != a.status {
			t.Errorf("%s: http %+v; want url %s status %d", name, seg.HTTP, route, a.status)
		}
		if seg.Fault || seg.Error != isError {
			t.Errorf("%s: fault %v error %v; want no fault, error %v", name, seg.Fault, seg.Error, isError)
		}
		ops := seg.AWSOperations()
		for _, op := range dynamo {
			if !slices.Contains(ops, op) {
				t.Errorf("%s: DynamoDB subsegments %v lack %s", name, ops, op)
			}
		}
		seg.Walk(func(sub observetest.Segment) {
			if sub.Namespace == "aws" && (sub.Name != "DynamoDB" || sub.TraceID != "" && sub.TraceID != root) {
				t.Errorf("%s: AWS subsegment %q of trace %q", name, sub.Name, sub.TraceID)
			}
		})
	}
	check("granted", granted, "canStream", "/dev/canStream/{uid}", "granted", []string{"Query", "TransactWriteItems"}, false)
	for _, st := range steps {
		a := call(t, st.method, s.api+st.path, "", "")
		if a.status != st.status {
			t.Fatalf("%s: status %d %s; want %d", st.name, a.status, a.raw, st.status)
		}
		route := "/dev/" + st.operation + "/{uid}"
		if st.operation != "canStream" {
			route += "/{leaseId}"
		}
		check(st.name, a, st.operation, route, st.decision, st.dynamo, st.error)
	}
	refused := daemon.WaitFor(t, segmentWait, "refused", func(s observetest.Segment) bool { return s.Annotations["decision"] == "refused" })
	if slices.Contains(refused.AWSOperations(), "TransactWriteItems") {
		t.Errorf("a refusal wrote: %v", refused.AWSOperations())
	}

	for _, pkt := range daemon.Raw() {
		if bytes.Contains(pkt, []byte(uid)) || bytes.Contains(pkt, []byte(id)) {
			t.Errorf("a segment carries the uid or the lease id: %s", pkt)
		}
	}
	// Each request line names its trace, so logs lead to traces.
	traced := 0
	for _, l := range requestLines(t, logs) {
		if id, _ := l["trace_id"].(string); strings.HasPrefix(id, "1-") {
			traced++
		}
	}
	if traced != 1+len(steps) {
		t.Errorf("%d request lines carry a trace_id; want %d", traced, 1+len(steps))
	}
}

// TestXRayFaultOnStoreFailure: a request the store fails (its table is
// missing) is a segment marked as a fault, with the error as its cause and
// the failed DynamoDB call below it.
func TestXRayFaultOnStoreFailure(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	s, logs := startLogged(t, map[string]string{"AWS_XRAY_DAEMON_ADDRESS": daemon.Addr(), "CREATE_TABLE": "false"})
	a := call(t, "POST", s.api+"/canStream/faultyviewer", "", "").expect(t, 503, map[string]any{"error": "store_unavailable"})
	root := traceRoot(t, a)
	seg := daemon.WaitFor(t, segmentWait, "of the failed request", func(s observetest.Segment) bool { return s.TraceID == root })
	if !seg.Fault || seg.HTTP.Response.Status != 503 || len(seg.Cause) == 0 {
		t.Errorf("segment fault %v status %d cause %s; want a fault with its cause", seg.Fault, seg.HTTP.Response.Status, seg.Cause)
	}
	if seg.Annotations["operation"] != "canStream" || seg.Annotations["decision"] != nil {
		t.Errorf("annotations %v", seg.Annotations)
	}
	var failed []string
	seg.Walk(func(sub observetest.Segment) {
		if sub.Namespace == "aws" && (sub.Fault || sub.Error) {
			failed = append(failed, sub.Operation())
		}
	})
	if !slices.Contains(failed, "Query") {
		t.Errorf("no failed DynamoDB Query subsegment (failed: %v)", failed)
	}
	// The error is logged once: in the request's line, at WARN.
	var lines []string
	for _, l := range logs.Lines() {
		if strings.Contains(l, "ResourceNotFound") || strings.Contains(l, "table not found") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"request"`) || !strings.Contains(lines[0], `"level":"WARN"`) {
		t.Errorf("the store error is logged %d times, want once in the request line: %q", len(lines), lines)
	}
}

// TestLogsAndMetrics: with every request logged (LOG_SAMPLE_RATE=1) every
// request writes one log line to stderr, the uid only as uid_hash unless
// LOG_UID=plain; the metrics, aggregated, come as valid EMF documents once
// their interval is over (METRICS_FLUSH_SECONDS=1, written by the server's
// ticker while no request comes), with the documented names and units and
// one latency per request.
func TestLogsAndMetrics(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", "plain"} {
		t.Run("LOG_UID="+mode, func(t *testing.T) {
			t.Parallel()
			s, logs := startLogged(t, map[string]string{"MAX_STREAMS": "1", "LOG_UID": mode, "STAGE": "dev", "METRICS_FLUSH_SECONDS": "1"})
			uid := fmt.Sprintf("loggedviewer%08x", rand.Uint32())
			id := call(t, "POST", s.api+"/canStream/"+uid, "", "").expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
			call(t, "POST", s.api+"/canStream/"+uid+"?deviceId=phone", "", "").expect(t, 200, map[string]any{"canStream": false})
			call(t, "POST", s.api+"/heartbeat/"+uid+"/"+id, "", "").expect(t, 200, nil)
			call(t, "POST", s.api+"/endStream/"+uid+"/"+id, "", "").expect(t, 200, map[string]any{"removedStream": true})
			call(t, "POST", s.api+"/heartbeat/"+uid+"/"+id, "", "").expect(t, 410, nil)
			call(t, "GET", s.api+"/streams/"+uid, "", "").expect(t, 200, nil)
			const requests = 6

			// The last interval's metrics come a second or two later.
			var tot observetest.Totals
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if tot = observetest.SumEMF(t, logs.Lines()); tot.Samples["Latency"] >= requests || time.Now().After(deadline) {
					break
				}
			}
			var withUID, withHash int
			for _, l := range logs.Lines() {
				if strings.Contains(l, uid) {
					withUID++
				}
				if strings.Contains(l, id) {
					t.Errorf("a lease id is logged: %s", l)
				}
				if !observetest.IsEMF([]byte(l)) {
					if strings.Contains(l, `"uid_hash":"`) {
						withHash++
					}
					continue
				}
				e, _ := observetest.ParseEMF([]byte(l))
				if e.Namespace != "streamlimit" || e.Root["Stage"] != "dev" || e.Root["Operation"] == "" {
					t.Errorf("EMF namespace %q dimensions %v %v", e.Namespace, e.Root["Stage"], e.Root["Operation"])
				}
				if !slices.EqualFunc(e.Dimensions, [][]string{{"Stage", "Operation"}, {"Stage"}}, slices.Equal) {
					t.Errorf("dimension sets %v", e.Dimensions)
				}
			}
			units, latencies := tot.Units, tot.Samples["Latency"]
			want := map[string]string{
				"Latency": "Milliseconds", "StreamsGranted": "Count", "StreamsRefused": "Count",
				"Heartbeats": "Count", "StreamsEnded": "Count", "HeartbeatsExpired": "Count",
			}
			for name, unit := range want {
				if units[name] != unit {
					t.Errorf("metric %s: unit %q, want %q (all: %v)", name, units[name], unit, units)
				}
			}
			if latencies != requests || len(requestLines(t, logs)) != requests {
				t.Errorf("%v latencies in the EMF documents and %d request lines for %d requests", latencies, len(requestLines(t, logs)), requests)
			}
			if mode == "plain" {
				if withUID != requests || withHash != 0 {
					t.Errorf("LOG_UID=plain: uid in %d lines, uid_hash in %d; want the uid in the %d request lines", withUID, withHash, requests)
				}
			} else if withUID != 0 || withHash != requests {
				t.Errorf("raw uid in %d lines, uid_hash in %d; want none and %d", withUID, withHash, requests)
			}
		})
	}
}

// TestMetricsWrittenAtShutdown: at the default interval (a minute) the
// metrics of the requests served are held until the interval is over;
// when the server stops (SIGTERM) it writes them. With the default sample
// the successful requests write no line.
func TestMetricsWrittenAtShutdown(t *testing.T) {
	t.Parallel()
	s, logs, stop := startStoppable(t, map[string]string{"LOG_SAMPLE_RATE": "0"})
	uid := fmt.Sprintf("flushedviewer%08x", rand.Uint32())
	id := call(t, "POST", s.api+"/canStream/"+uid, "", "").expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
	call(t, "POST", s.api+"/heartbeat/"+uid+"/"+id, "", "").expect(t, 200, nil)
	if n := len(requestLines(t, logs)); n != 0 {
		t.Errorf("%d request lines for two successes with LOG_SAMPLE_RATE=0", n)
	}
	stop()
	if sums := observetest.SumEMF(t, logs.Lines()).Sums; sums["StreamsGranted"] != 1 || sums["Heartbeats"] != 1 {
		t.Errorf("metrics written at shutdown: %v; want the grant and the heartbeat", sums)
	}
}

// noiseRE matches what must never be printed while serving normally
// without tracing: any X-Ray chatter, and any warning.
var noiseRE = regexp.MustCompile(`(?i)x-?ray|segment|context missing|emitter|"level":"(WARN|ERROR)"`)

// tracedNoiseRE is the same with tracing on. The SDK itself prints one
// "[INFO] using daemon endpoints from environment variable" line when its
// package initialises, before any code of ours runs; that one is allowed.
var tracedNoiseRE = regexp.MustCompile(`(?i)segment cannot be found|context missing|failed to begin|\[(WARN|ERROR)\]|"level":"(WARN|ERROR)"`)

// TestNoXRayNoise runs the server in a child process, capturing everything
// it prints. Without AWS_XRAY_DAEMON_ADDRESS it sends nothing to the SDK's
// default daemon address (127.0.0.1:2000) and prints no X-Ray chatter or
// warning; with it, the table creation at start (outside any request) does
// not print "segment cannot be found" nor any warning either.
func TestNoXRayNoise(t *testing.T) {
	if endpoint == "" {
		t.Skip(skipMsg)
	}
	defaultDaemon, err := observetest.ListenDaemon("127.0.0.1:2000")
	if err != nil {
		t.Logf("127.0.0.1:2000 is busy (%v): checking the output only", err)
	} else {
		defer defaultDaemon.Close()
	}
	traced := observetest.NewDaemon(t)
	for _, tc := range []struct {
		name, daemon string
	}{{"tracing off", ""}, {"tracing on", traced.Addr()}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNoXRayNoiseChild$", "-test.count=1")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "AWS_XRAY_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "STREAMLIMIT_NOISE_CHILD=1", "DYNAMODB_ENDPOINT="+endpoint)
			if tc.daemon != "" {
				cmd.Env = append(cmd.Env, "AWS_XRAY_DAEMON_ADDRESS="+tc.daemon)
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), "streamlimit listening on") {
				t.Fatalf("the child did not serve:\n%s", stdout.String())
			}
			noise := noiseRE
			if tc.daemon != "" {
				noise = tracedNoiseRE
			}
			for _, l := range strings.Split(stdout.String()+stderr.String(), "\n") {
				if noise.MatchString(l) {
					t.Errorf("printed: %s", l)
				}
			}
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if !json.Valid([]byte(l)) {
					t.Errorf("stderr line is not JSON: %s", l)
				}
			}
			if tc.daemon != "" {
				traced.WaitFor(t, segmentWait, "from the traced child", func(s observetest.Segment) bool { return s.Annotations["operation"] == "canStream" })
			}
		})
	}
	if defaultDaemon != nil {
		time.Sleep(200 * time.Millisecond) // let any stray datagram land
		if raw := defaultDaemon.Raw(); len(raw) != 0 {
			t.Errorf("%d datagrams reached 127.0.0.1:2000, the SDK's default daemon address: %s", len(raw), raw[0])
		}
	}
}

// TestNoXRayNoiseChild is TestNoXRayNoise's child process: it serves a few
// requests with the process environment, printing to the real stdout and
// stderr, then stops.
func TestNoXRayNoiseChild(t *testing.T) {
	if os.Getenv("STREAMLIMIT_NOISE_CHILD") != "1" {
		t.Skip("run by TestNoXRayNoise")
	}
	vars := map[string]string{"PORT": "0", "STAGE": "dev", "TABLE_NAME": fmt.Sprintf("noise_%08x", rand.Uint32()),
		"CREATE_TABLE": "true", "AWS_REGION": "us-east-1", "STORE_TIMEOUT_MS": "20000"}
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, getenv, io.MultiWriter(os.Stdout, pw), os.Stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base string
	for base == "" && sc.Scan() {
		if m := regexp.MustCompile(`listening on (http://localhost:\d+)`).FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		t.Fatal(errors.Join(errors.New("server did not start"), <-done))
	}
	uid := "noisecheck"
	id := call(t, "POST", base+"/dev/canStream/"+uid, "", "").expect(t, 200, nil).str("leaseId")
	call(t, "POST", base+"/dev/heartbeat/"+uid+"/"+id, "", "").expect(t, 200, nil)
	call(t, "POST", base+"/dev/endStream/"+uid+"/"+id, "", "").expect(t, 200, nil)
	call(t, "GET", base+"/healthz", "", "").expect(t, 200, nil)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
