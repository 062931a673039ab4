package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
	"github.com/streamlimit/streamlimit/observe"
)

// finish runs one record through a fresh Observer that logs every record
// and returns its log line (decoded) and, flushed, its EMF document ("" if
// none).
func finish(t *testing.T, c observe.Config, rec *observe.Request) (map[string]any, string) {
	t.Helper()
	var logs, metrics bytes.Buffer
	c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	c.Metrics = &metrics
	c.LogSample = 1
	o := observe.New(c)
	o.Finish(context.Background(), rec, 2500*time.Microsecond)
	o.Flush(context.Background())
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %d:\n%s", len(lines), logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	return line, strings.TrimSpace(metrics.String())
}

func TestFinishWritesOneLineWithHashedUID(t *testing.T) {
	t.Parallel()
	rec := &observe.Request{ID: "req-1", Method: "POST", Operation: "canStream", Route: "/dev/canStream/{uid}",
		UID: "alice@example.com", Status: 200, Decision: observe.Granted, Reclaimed: 2}
	key := []byte("0123456789abcdef-key")
	line, emf := finish(t, observe.Config{Stage: "prod", UIDKey: key}, rec)
	for k, want := range map[string]any{
		"msg": "request", "level": "INFO", "request_id": "req-1", "method": "POST", "operation": "canStream",
		"route": "/dev/canStream/{uid}", "status": 200.0, "latency_ms": 2.5, "decision": "granted", "reclaimed": 2.0,
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	raw, _ := json.Marshal(line)
	if strings.Contains(string(raw)+emf, "alice") {
		t.Errorf("raw uid logged: %s %s", raw, emf)
	}
	hash, _ := line["uid_hash"].(string)
	if len(hash) != 16 || hash != observe.New(observe.Config{UIDKey: key}).HashUID("alice@example.com") {
		t.Errorf("uid_hash %q is not the keyed hash", hash)
	}
	if other := observe.New(observe.Config{UIDKey: []byte("another-key-0123456")}).HashUID("alice@example.com"); other == hash {
		t.Error("the hash does not depend on the key")
	}
	if a, b := observe.New(observe.Config{}).HashUID("x"), observe.New(observe.Config{}).HashUID("x"); a == b {
		t.Error("two observers without a key share one: want a random key each")
	}

	e, err := observetest.ParseEMF([]byte(emf))
	if err != nil {
		t.Fatalf("%s: %v", emf, err)
	}
	if e.Root["Stage"] != "prod" || e.Root["Operation"] != "canStream" || e.Namespace != observe.DefaultNamespace {
		t.Errorf("EMF dimensions/namespace: %v", e.Root)
	}
	for name, want := range map[string]float64{"StreamsGranted": 1, "LeasesExpired": 2} {
		if v, ok := e.Value(name); !ok || v != want {
			t.Errorf("EMF %s = %v (%v), want %v", name, v, ok, want)
		}
	}
	if v, c, ok := e.Distribution("Latency"); !ok || !slices.Equal(v, []float64{2.5}) || !slices.Equal(c, []float64{1}) {
		t.Errorf("EMF Latency = %v × %v (%v), want [2.5] × [1]", v, c, ok)
	}
}

func TestFinishPlainUID(t *testing.T) {
	t.Parallel()
	rec := &observe.Request{Operation: "streams", UID: "alice", Status: 200}
	line, _ := finish(t, observe.Config{PlainUID: true}, rec)
	if line["uid"] != "alice" || line["uid_hash"] != nil {
		t.Errorf("LOG_UID=plain: %v", line)
	}
}

func TestFinishLevelsAndErrors(t *testing.T) {
	t.Parallel()
	storeErr := &observe.Request{Operation: "canStream", Status: 503, Err: errors.New("store down"), StoreError: true}
	line, emf := finish(t, observe.Config{}, storeErr)
	if line["level"] != "WARN" || line["error"] != "store down" {
		t.Errorf("store error line: %v", line)
	}
	e, err := observetest.ParseEMF([]byte(emf))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Value("StoreErrors"); v != 1 {
		t.Errorf("StoreErrors = %v", v)
	}
	bug := &observe.Request{Operation: "canStream", Status: 500, Err: errors.New("boom")}
	if line, _ := finish(t, observe.Config{}, bug); line["level"] != "ERROR" || line["error"] != "boom" {
		t.Errorf("500 line: %v", line)
	}
	if line, _ := finish(t, observe.Config{}, &observe.Request{Operation: "heartbeat", Status: 410, Decision: observe.Expired}); line["level"] != "INFO" || line["error"] != nil {
		t.Errorf("410 line: %v", line)
	}
}

func TestMetricsPerDecision(t *testing.T) {
	t.Parallel()
	for decision, want := range map[string]string{
		observe.Granted: "StreamsGranted", observe.Refused: "StreamsRefused", observe.Renewed: "Heartbeats",
		observe.Expired: "HeartbeatsExpired", observe.Revoked: "HeartbeatsRevoked", observe.Ended: "StreamsEnded",
		observe.Degraded: "StreamsDegraded", observe.Resumed: "", observe.NotLive: "",
		observe.Overloaded: "RequestsOverloaded",
	} {
		var names []string
		for _, d := range observe.Metrics(&observe.Request{Decision: decision}, 1) {
			if d.Name != observe.MetricLatency {
				names = append(names, d.Name)
			}
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s: metrics %q, want %q", decision, got, want)
		}
	}
}

// TestMetricsFailures: an error answer counts as RequestsFailed, whatever
// the operation; the answers that are lease outcomes (a refusal at the
// limit, a lease found expired or revoked) do not, whatever their status.
func TestMetricsFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rec  observe.Request
		want bool
	}{
		{observe.Request{Operation: "ws.connect", Status: 200, Decision: observe.Granted}, false},
		{observe.Request{Operation: "ws.connect", Status: 403, Decision: observe.Refused}, false},
		{observe.Request{Operation: "ws.connect", Status: 410, Decision: observe.Expired}, false},
		{observe.Request{Operation: "heartbeat", Status: 410, Decision: observe.Revoked}, false},
		{observe.Request{Operation: "canStream", Status: 200, Decision: observe.Degraded, StoreError: true}, false},
		{observe.Request{Operation: "ws.connect", Status: 400}, true},
		{observe.Request{Operation: "ws.connect", Status: 401}, true},
		{observe.Request{Operation: "ws.connect", Status: 403}, true},
		{observe.Request{Operation: "canStream", Status: 503, StoreError: true}, true},
		{observe.Request{Operation: "unmatched", Status: 404}, true},
		{observe.Request{Operation: "streams", Status: 500}, true},
	} {
		got := slices.ContainsFunc(observe.Metrics(&tc.rec, 1), func(d observe.Datum) bool {
			return d.Name == observe.MetricRequestsFailed && d.Value == 1 && d.Unit == observe.UnitCount
		})
		if got != tc.want {
			t.Errorf("%+v: RequestsFailed counted %v, want %v", tc.rec, got, tc.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "abc-123")
	if id := observe.RequestID(r); id != "abc-123" {
		t.Errorf("header id: %q", id)
	}
	r.Header.Set("X-Request-Id", `forged" "level":"ERROR`)
	if id := observe.RequestID(r); len(id) != 32 || strings.Contains(id, "forged") {
		t.Errorf("an unsafe header must be replaced by a generated id, got %q", id)
	}
	lc := &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"}
	r = r.WithContext(lambdacontext.NewContext(r.Context(), lc))
	if id := observe.RequestID(r); id != "lambda-req-1" {
		t.Errorf("Lambda id: %q", id)
	}
}

func TestNoMetricsWithoutWriter(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	o := observe.New(observe.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), LogSample: 1})
	o.Finish(context.Background(), &observe.Request{Operation: "canStream", Decision: observe.Granted}, time.Millisecond)
	o.Flush(context.Background())
	if observetest.IsEMF(logs.Bytes()) || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("without Metrics: %s", logs.String())
	}
}

// BenchmarkFinish measures the per-request cost of Finish: the log line
// (hashing the uid included) when every record is logged, or at the
// default sample, and adding the metrics to the interval's; written to
// io.Discard.
func BenchmarkFinish(b *testing.B) {
	rec := &observe.Request{ID: "0123456789abcdef0123456789abcdef", Method: "POST", Operation: "canStream",
		Route: "/dev/canStream/{uid}", UID: "viewer-42", Status: 200, Decision: observe.Granted, Reclaimed: 1}
	ctx := context.Background()
	for _, sample := range []float64{1, 0.01} {
		b.Run(fmt.Sprintf("sample=%g", sample), func(b *testing.B) {
			o := observe.New(observe.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: io.Discard, LogSample: sample})
			b.ReportAllocs()
			for b.Loop() {
				o.Finish(ctx, rec, 3*time.Millisecond)
			}
		})
	}
}

// recordingTracer is an observe.Tracer that notes what it was asked.
type recordingTracer struct{ begun, ended []string }

func (r *recordingTracer) Trace(op string, next http.Handler) http.Handler {
	r.begun = append(r.begun, "route "+op)
	return next
}

func (r *recordingTracer) Begin(ctx context.Context, rec *observe.Request) (context.Context, func()) {
	r.begun = append(r.begun, rec.Operation)
	rec.TraceID = "1-trace"
	return ctx, func() { r.ended = append(r.ended, rec.Operation+" "+rec.Decision) }
}

// The Observer owns the record's sinks: an event it starts is traced from
// StartEvent to Finish, once, under the operation the record has when it
// finishes, with its trace id in its log line; routes are traced through
// Trace; without a Tracer nothing is.
func TestObserverTracesEvents(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	tr := &recordingTracer{}
	obs := observe.New(observe.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Tracer: tr, LogSample: 1})
	ctx, rec := obs.StartEvent(context.Background(), "e-1", "WS", "ws.message")
	if observe.From(ctx) != rec {
		t.Fatal("the event's context does not carry its record")
	}
	rec.Operation, rec.Decision = "ws.heartbeat", observe.Renewed
	obs.Finish(ctx, rec, time.Millisecond)
	obs.Finish(ctx, rec, time.Millisecond) // a second Finish ends no trace
	obs.Trace("canStream", http.NotFoundHandler())
	if strings.Join(tr.begun, ",") != "ws.message,route canStream" || strings.Join(tr.ended, ",") != "ws.heartbeat renewed" {
		t.Errorf("begun %v ended %v", tr.begun, tr.ended)
	}
	if !strings.Contains(logs.String(), `"trace_id":"1-trace"`) {
		t.Errorf("log line without the trace id: %s", logs.String())
	}
	h := http.NotFoundHandler()
	if got := observe.New(observe.Config{}).Trace("canStream", h); got == nil {
		t.Error("Trace without a Tracer returned nil")
	}
}
