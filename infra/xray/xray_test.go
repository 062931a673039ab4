package xray_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/infra/xray"
	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
	"github.com/streamlimit/streamlimit/observe"
)

func TestNewXRayRejectsBadAddresses(t *testing.T) {
	for _, addr := range []string{"", "nowhere", "127.0.0.1:notaport"} {
		_, err := xray.New(xray.Config{DaemonAddress: addr})
		if err == nil || !strings.Contains(err.Error(), "AWS_XRAY_DAEMON_ADDRESS") {
			t.Errorf("%q: error %v; want one naming AWS_XRAY_DAEMON_ADDRESS", addr, err)
		}
	}
}

// The local segments are sampled by the reservoir and the rate: with
// neither, none is sent (nothing but the answer's header says the trace
// was not sampled); a bad rate is refused.
func TestLocalSampling(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	none, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Reservoir: 0, Rate: 0})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		w := serve(none, "heartbeat", func(http.ResponseWriter, *http.Request) {})
		if h := w.Header().Get("X-Amzn-Trace-Id"); !strings.HasSuffix(h, ";Sampled=0") {
			t.Errorf("trace header %q; want an unsampled trace", h)
		}
	}
	all, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	serve(all, "healthz", func(http.ResponseWriter, *http.Request) {})
	daemon.WaitFor(t, 10*time.Second, "of the sampled request", func(observetest.Segment) bool { return true })
	docs, _ := daemon.Segments()
	for _, d := range docs {
		if d.Annotations["operation"] != "healthz" {
			t.Errorf("an unsampled request was sent: %v", d.Annotations)
		}
	}
	for _, c := range []xray.Config{{Rate: 1.5}, {Rate: -0.1}, {Reservoir: -1}} {
		c.DaemonAddress = daemon.Addr()
		if _, err := xray.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// serve runs one request through x.Trace(op, h), with an observe.Request
// in its context as the HTTP middleware provides.
func serve(x *xray.XRay, op string, h http.HandlerFunc) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/dev/canStream/someone", nil)
	rec := &observe.Request{}
	r = r.WithContext(observe.NewContext(r.Context(), rec))
	x.Trace(op, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r)
		rec.Status = http.StatusOK
	})).ServeHTTP(w, r)
	return w
}

// A panicking handler still closes its segment, marked as a fault, and the
// panic goes on to the recovering middleware.
func TestTraceMarksPanicsAsFaults(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	x, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Stage: "test", Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v; want the handler's panic", v)
			}
		}()
		serve(x, "canStream", func(http.ResponseWriter, *http.Request) { panic("boom") })
	}()
	seg := daemon.WaitFor(t, 10*time.Second, "of the panic", func(observetest.Segment) bool { return true })
	if !seg.Fault || !strings.Contains(string(seg.Cause), "boom") || seg.InProgress {
		t.Errorf("segment fault %v cause %s in_progress %v", seg.Fault, seg.Cause, seg.InProgress)
	}
}

// In Lambda mode a request without the invocation's trace context (no
// Lambda) is served untraced: no segment of its own, nothing sent.
func TestLambdaModeNeverBeginsASegment(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	x, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Lambda: true})
	if err != nil {
		t.Fatal(err)
	}
	w := serve(x, "canStream", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	if w.Code != http.StatusOK || w.Header().Get("X-Amzn-Trace-Id") != "" {
		t.Fatalf("status %d header %q", w.Code, w.Header().Get("X-Amzn-Trace-Id"))
	}
	// A local-mode request afterwards proves the daemon listens; its
	// segment must be the only one received (the SDK's UDP emitter has
	// been seen to send one document twice under load: a copy is no
	// Lambda segment).
	local, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	serve(local, "healthz", func(http.ResponseWriter, *http.Request) {})
	daemon.WaitFor(t, 10*time.Second, "of the local request", func(observetest.Segment) bool { return true })
	docs, _ := daemon.Segments()
	for _, d := range docs {
		if d.Annotations["operation"] != "healthz" {
			t.Errorf("documents %v; want only the local request's", docs)
			break
		}
	}
}

// BenchmarkTrace measures what tracing adds to one request locally: a
// segment begun, annotated, closed and sent over loopback UDP.
func BenchmarkTrace(b *testing.B) {
	daemon := observetest.NewDaemon(b)
	x, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Stage: "bench", Rate: 1})
	if err != nil {
		b.Fatal(err)
	}
	h := x.Trace("canStream", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/dev/canStream/someone", nil)
		r = r.WithContext(observe.NewContext(r.Context(), &observe.Request{Status: 200, Decision: "granted"}))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// An event (not an HTTP request) is traced from Begin to the end it
// returns: locally one segment, annotated from the finished record, under
// the operation the record has then (a message read as a heartbeat), with
// its trace id in the record; in Lambda without the invocation's trace
// context, nothing.
func TestBeginTracesEvents(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	x, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Stage: "test", Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec := &observe.Request{Operation: "ws.message"}
	_, end := x.Begin(context.Background(), rec)
	rec.Operation, rec.Decision, rec.Status = "ws.heartbeat", "renewed", http.StatusOK
	end()
	seg := daemon.WaitFor(t, 10*time.Second, "of the event", func(observetest.Segment) bool { return true })
	if seg.Name != "streamlimit" || seg.Type != "" || seg.InProgress || seg.TraceID != rec.TraceID {
		t.Errorf("segment %q type %q in progress %v trace %s; want a closed segment of trace %s", seg.Name, seg.Type, seg.InProgress, seg.TraceID, rec.TraceID)
	}
	if seg.Annotations["operation"] != "ws.heartbeat" || seg.Annotations["decision"] != "renewed" || seg.Annotations["stage"] != "test" {
		t.Errorf("annotations %v", seg.Annotations)
	}

	lambda, err := xray.New(xray.Config{DaemonAddress: daemon.Addr(), Lambda: true})
	if err != nil {
		t.Fatal(err)
	}
	rec = &observe.Request{Operation: "ws.connect"}
	_, end = lambda.Begin(context.Background(), rec)
	end()
	if rec.TraceID != "" {
		t.Errorf("Lambda mode without a Lambda context traced %s", rec.TraceID)
	}
}
