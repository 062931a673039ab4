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

// observedAPI serves the API over a memstore with clock, logging and
// writing metrics to one buffer, like the binaries do.
func observedAPI(t *testing.T, clock *leasetest.Clock, down *atomic.Bool, trace func(string, http.Handler) http.Handler) (*httptest.Server, *observetest.Buffer) {
	t.Helper()
	out := &observetest.Buffer{}
	svc := leasetest.NewService(t, failingStore{memstore.New(), down}, clock, lease.WithMaxStreams(2))
	oc := observe.Config{Logger: slog.New(slog.NewJSONHandler(out, nil)), Metrics: out, Stage: "test"}
	if trace != nil {
		oc.Tracer = traceFunc(trace)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev", Observer: observe.New(oc)}))
	t.Cleanup(srv.Close)
	return srv, out
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

// Every request writes exactly one log line and one EMF document; the
// decisions, the expired leases a grant reclaims and store errors show up
// as the documented metrics; errors are logged once; no uid appears.
func TestRequestLogsAndMetrics(t *testing.T) {
	t.Parallel()
	clock := leasetest.NewClock()
	down := &atomic.Bool{}
	srv, out := observedAPI(t, clock, down, nil)
	uid := leasetest.UID(t, "observed")
	api := srv.URL + "/dev"

	_, first := post(t, api+"/canStream/"+uid+"?deviceId=tv")
	post(t, api+"/canStream/"+uid+"?deviceId=phone")
	post(t, api+"/canStream/"+uid+"?deviceId=tablet") // refused: limit 2
	post(t, api+"/heartbeat/"+uid+"/"+first["leaseId"].(string))
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

	type line struct {
		Level, Msg, Operation, Decision, Error, UIDHash string
		Status                                          int
	}
	var logs []line
	var sums = map[string]float64{}
	var emfs int
	for _, l := range out.Lines() {
		if strings.Contains(l, uid) {
			t.Errorf("raw uid in output: %s", l)
		}
		if observetest.IsEMF([]byte(l)) {
			e, err := observetest.ParseEMF([]byte(l))
			if err != nil {
				t.Fatalf("invalid EMF %s: %v", l, err)
			}
			for name := range e.Metrics {
				v, _ := e.Value(name)
				sums[name] += v
			}
			emfs++
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
		"INFO heartbeat renewed 200", "INFO endStream ended 200", "INFO heartbeat expired 410",
		"INFO canStream granted 200", "WARN canStream  503",
	}
	if !slices.Equal(got, want) {
		t.Errorf("log lines:\n got %q\nwant %q", got, want)
	}
	if last := logs[len(logs)-1]; !strings.Contains(last.Error, "injected by the test") {
		t.Errorf("the store error is not in its request line: %+v", last)
	}
	if emfs != len(want) {
		t.Errorf("%d EMF documents for %d requests", emfs, len(want))
	}
	for name, n := range map[string]float64{
		"StreamsGranted": 3, "StreamsRefused": 1, "Heartbeats": 1, "StreamsEnded": 1,
		"HeartbeatsExpired": 1, "LeasesExpired": 1, "StoreErrors": 1,
	} {
		if sums[name] != n {
			t.Errorf("%s summed to %v, want %v (all: %v)", name, sums[name], n, sums)
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
	srv, _ := observedAPI(t, leasetest.NewClock(), &atomic.Bool{}, trace)
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
	srv, out := observedAPI(t, leasetest.NewClock(), &atomic.Bool{}, trace)
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
