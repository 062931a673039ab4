package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
	"github.com/streamlimit/streamlimit/observe"
)

// failingStore is a memstore whose every call fails while down is set.
type failingStore struct {
	*memstore.Store
	down *atomic.Bool
}

func (s failingStore) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	if s.down.Load() {
		return lease.Account{}, fmt.Errorf("%w: injected by the test", lease.ErrUnavailable)
	}
	return s.Store.Load(ctx, uid, consistent)
}

// observedAPI serves the API over a memstore with clock, logging every
// request and writing metrics to one buffer, like the binaries do; the
// Observer is returned for its Flush.
func observedAPI(t *testing.T, clock *leasetest.Clock, down *atomic.Bool, trace func(string, http.Handler) http.Handler) (*httptest.Server, *observetest.Buffer, *observe.Observer) {
	t.Helper()
	out := &observetest.Buffer{}
	svc := leasetest.NewService(t, failingStore{memstore.New(), down}, clock, lease.WithMaxStreams(2))
	oc := observe.Config{Logger: slog.New(slog.NewJSONHandler(out, nil)), LogSample: 1, Metrics: out, Stage: "test"}
	if trace != nil {
		oc.Tracer = traceFunc(trace)
	}
	obs := observe.New(oc)
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev", Observer: obs}))
	t.Cleanup(srv.Close)
	return srv, out, obs
}

// traceFunc is an observe.Tracer that wraps every route with a function
// (the HTTP API begins no event traces).
type traceFunc func(string, http.Handler) http.Handler

func (f traceFunc) Trace(op string, next http.Handler) http.Handler { return f(op, next) }

func (traceFunc) Begin(ctx context.Context, _ *observe.Request) (context.Context, func()) {
	return ctx, func() {}
}

func post(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

// With every request logged (LogSample 1), every request writes exactly
// one log line; the flushed EMF documents hold, per operation, the
// decisions, the expired leases a grant reclaims and store errors as the
// documented metrics, and one latency per request; errors are logged
// once; no uid appears.
func TestRequestLogsAndMetrics(t *testing.T) {
	t.Parallel()
	clock := leasetest.NewClock()
	down := &atomic.Bool{}
	srv, out, obs := observedAPI(t, clock, down, nil)
	uid := leasetest.UID(t, "observed")
	api := srv.URL + "/dev"

	_, first := post(t, api+"/canStream/"+uid+"?deviceId=tv")
	post(t, api+"/canStream/"+uid+"?deviceId=phone")
	post(t, api+"/canStream/"+uid+"?deviceId=tablet") // refused: limit 2
	post(t, api+"/heartbeat/"+uid+"/"+first["leaseId"].(string))
	// With its renewal token and the whole TTL left: answered from the
	// token, nothing written, and said so.
	post(t, api+"/heartbeat/"+uid+"/"+first["leaseId"].(string)+"?renewalToken="+first["renewalToken"].(string))
	post(t, api+"/endStream/"+uid+"/"+first["leaseId"].(string))
	if status, _ := post(t, api+"/heartbeat/"+uid+"/"+first["leaseId"].(string)); status != http.StatusGone {
		t.Fatalf("heartbeat of an ended lease: %d", status)
	}
	clock.Advance(lease.DefaultLeaseTTL + 2*time.Second) // phone vanished without endStream
	post(t, api+"/canStream/"+uid+"?deviceId=laptop")
	down.Store(true)
	if status, _ := post(t, api+"/canStream/"+uid+"?deviceId=car"); status != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d", status)
	}
	obs.Flush(t.Context())

	type line struct {
		Level, Msg, Operation, Decision, Error, UIDHash string
		Status                                          int
	}
	var logs []line
	totals := observetest.SumEMF(t, out.Lines())
	for _, l := range out.Lines() {
		if strings.Contains(l, uid) {
			t.Errorf("raw uid in output: %s", l)
		}
		if observetest.IsEMF([]byte(l)) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		status, _ := m["status"].(float64)
		logs = append(logs, line{str("level"), str("msg"), str("operation"), str("decision"), str("error"), str("uid_hash"), int(status)})
	}
	var got []string
	for _, l := range logs {
		if l.Msg != "request" || l.UIDHash == "" {
			t.Errorf("line %+v: want a request line with uid_hash", l)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d", l.Level, l.Operation, l.Decision, l.Status))
	}
	want := []string{
		"INFO canStream granted 200", "INFO canStream granted 200", "INFO canStream refused 200",
		"INFO heartbeat renewed 200", "INFO heartbeat from_token 200", "INFO endStream ended 200", "INFO heartbeat expired 410",
		"INFO canStream granted 200", "WARN canStream  503",
	}
	if !slices.Equal(got, want) {
		t.Errorf("log lines:\n got %q\nwant %q", got, want)
	}
	if last := logs[len(logs)-1]; !strings.Contains(last.Error, "injected by the test") {
		t.Errorf("the store error is not in its request line: %+v", last)
	}
	if n := totals.Samples["Latency"]; n != float64(len(want)) {
		t.Errorf("%v latencies in the EMF documents for %d requests", n, len(want))
	}
	for name, n := range map[string]float64{
		"StreamsGranted": 3, "StreamsRefused": 1, "Heartbeats": 2, "StreamsEnded": 1,
		"HeartbeatsExpired": 1, "LeasesExpired": 1, "StoreErrors": 1,
	} {
		if totals.Sums[name] != n {
			t.Errorf("%s summed to %v, want %v (all: %v)", name, totals.Sums[name], n, totals.Sums)
		}
	}
}

// Config.Trace wraps each route with its uid-free operation name and sees,
// after the handler, the decision it reported.
func TestTraceHookSeesOperationAndDecision(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ops []string
	seen := map[string][]string{}
	trace := func(op string, next http.Handler) http.Handler {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			rec := observe.From(r.Context())
			mu.Lock()
			seen[op] = append(seen[op], fmt.Sprintf("%s %d", rec.Decision, rec.Status))
			mu.Unlock()
		})
	}
	srv, _, _ := observedAPI(t, leasetest.NewClock(), &atomic.Bool{}, trace)
	uid := leasetest.UID(t, "traced")
	_, d := post(t, srv.URL+"/dev/canStream/"+uid)
	post(t, srv.URL+"/dev/heartbeat/"+uid+"/"+d["leaseId"].(string))
	post(t, srv.URL+"/dev/nope/"+uid)

	mu.Lock()
	defer mu.Unlock()
	for _, op := range ops {
		if strings.ContainsAny(op, "{}/") {
			t.Errorf("operation %q is not a uid-free name", op)
		}
	}
	for _, op := range []string{"canStream", "heartbeat", "endStream", "streams", "healthz", "unmatched"} {
		if !slices.Contains(ops, op) {
			t.Errorf("no route traced as %q (got %v)", op, ops)
		}
	}
	want := map[string][]string{"canStream": {"granted 200"}, "heartbeat": {"renewed 200"}, "unmatched": {" 404"}}
	for op, w := range want {
		if !slices.Equal(seen[op], w) {
			t.Errorf("%s: the hook saw %q, want %q", op, seen[op], w)
		}
	}
}

// A panic is answered 500 and logged once, in its request's line.
func TestPanicIsLoggedOnceInItsRequestLine(t *testing.T) {
	t.Parallel()
	trace := func(op string, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if op == "healthz" {
				panic("boom")
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, out, _ := observedAPI(t, leasetest.NewClock(), &atomic.Bool{}, trace)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var logged []string
	for _, l := range out.Lines() {
		if strings.Contains(l, "boom") && !observetest.IsEMF([]byte(l)) {
			logged = append(logged, l)
		}
	}
	if len(logged) != 1 || !strings.Contains(logged[0], `"msg":"request"`) || !strings.Contains(logged[0], `"level":"ERROR"`) ||
		!strings.Contains(logged[0], `"status":500`) {
		t.Errorf("panic logged as %q; want once, in an ERROR request line with status 500", logged)
	}
}

// At the default settings (config.Load of an empty environment, as every
// binary reads it) the application writes at most 100 bytes per
// successful request on average, log lines and metrics included: the
// successes are sampled, the metrics aggregated. Whatever the sample, a
// refusal and each error get their line, and the flushed metrics hold the
// whole run's counts in one document per operation.
func TestOutputPerSuccessfulRequestAtDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	out := &observetest.Buffer{}
	obs := observe.New(observe.ConfigFrom(cfg, observe.NewLogger(out, cfg.LogFormat), out))
	down := &atomic.Bool{}
	svc := leasetest.NewService(t, failingStore{memstore.New(), down}, leasetest.NewClock(), cfg.LeaseOptions()...)
	hc := handlers.ConfigFrom(cfg)
	hc.Observer = obs
	srv := httptest.NewServer(handlers.NewServer(svc, hc))
	t.Cleanup(srv.Close)
	api := srv.URL + cfg.Prefix()

	const sessions, heartbeats = 40, 10
	requests := 0
	for i := range sessions {
		uid := leasetest.UID(t, fmt.Sprintf("quiet%d", i))
		status, d := post(t, api+"/canStream/"+uid)
		id, _ := d["leaseId"].(string)
		if status != http.StatusOK || id == "" {
			t.Fatalf("canStream: %d %v", status, d)
		}
		token, _ := d["renewalToken"].(string)
		for range heartbeats {
			status, d := post(t, api+"/heartbeat/"+uid+"/"+id+"?renewalToken="+token)
			if status != http.StatusOK {
				t.Fatalf("heartbeat: %d %v", status, d)
			}
			if next, _ := d["renewalToken"].(string); next != "" {
				token = next
			}
		}
		if status, d := post(t, api+"/endStream/"+uid+"/"+id); status != http.StatusOK {
			t.Fatalf("endStream: %d %v", status, d)
		}
		requests += heartbeats + 2
	}
	obs.Flush(t.Context())
	per := float64(len(out.String())) / float64(requests)
	t.Logf("%.1f bytes of output per successful request (%d bytes, %d requests)", per, len(out.String()), requests)
	if per > 100 {
		t.Errorf("%.0f bytes of output per successful request (%d bytes for %d requests), want at most 100", per, len(out.String()), requests)
	}
	tot := observetest.SumEMF(t, out.Lines())
	if tot.Docs != 3 || tot.Sums["StreamsGranted"] != sessions || tot.Sums["Heartbeats"] != sessions*heartbeats || tot.Sums["StreamsEnded"] != sessions {
		t.Errorf("%d EMF documents with sums %v; want 3 (one per operation) counting %d grants, %d heartbeats, %d ends",
			tot.Docs, tot.Sums, sessions, sessions*heartbeats, sessions)
	}

	// The failures: each is logged, whatever the sample.
	out.Reset()
	full := leasetest.UID(t, "full")
	for range cfg.MaxStreams + 1 {
		post(t, api+"/canStream/"+full)
	}
	post(t, api+"/canStream/"+strings.Repeat("x", 300)) // 400: a uid too long
	down.Store(true)
	post(t, api+"/canStream/"+leasetest.UID(t, "down"))
	var got []string
	for _, m := range out.JSONLines(t) {
		if m["msg"] == "request" && (m["decision"] == observe.Refused || m["status"].(float64) >= 400) {
			got = append(got, fmt.Sprintf("%v %v", m["status"], m["decision"]))
		}
	}
	if want := []string{"200 refused", "400 <nil>", "503 <nil>"}; !slices.Equal(got, want) {
		t.Errorf("lines of the refusal and the errors: %q, want %q", got, want)
	}
}
