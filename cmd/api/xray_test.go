package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
)

// TestLambdaTracesUnderTheFunctionSegment: in Lambda the handler never
// begins a segment of its own (that would start a separate trace): each
// request is a subsegment, named by its operation, of the facade segment
// the SDK builds from the invocation's trace header, with the decision as
// an annotation. An unsampled invocation sends nothing.
func TestLambdaTracesUnderTheFunctionSegment(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	env := map[string]string{
		"STORE": "memory", "STAGE": "prod", "AWS_XRAY_DAEMON_ADDRESS": daemon.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME": "streamlimit-prod-api", "AUTH_MODE": "none", "LOG_SAMPLE_RATE": "1",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Lambda {
		t.Fatal("AWS_LAMBDA_FUNCTION_NAME set: want Lambda tracing")
	}
	logs := &observetest.Buffer{}
	api, _, err := newServer(context.Background(), cfg, logs, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	handle := newLambdaHandler(api)

	const root, parent = "1-6af58726-5e9f0c651de4d666d4dd26a2", "53995c3f42cd8ad8"
	resp, err := handle(observetest.Invocation("lambda-req-1", "Root="+root+";Parent="+parent+";Sampled=1"), loadEvent(t, "canStream-post-json", ""))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("canStream: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	sub := daemon.WaitFor(t, 10*time.Second, "canStream", func(s observetest.Segment) bool { return s.Annotations["operation"] == "canStream" })
	if sub.Type != "subsegment" || sub.TraceID != root || sub.ParentID != parent || sub.Name != "canStream" {
		t.Errorf("got %s %q trace %s parent %s; want subsegment canStream of trace %s under the function segment %s",
			sub.Type, sub.Name, sub.TraceID, sub.ParentID, root, parent)
	}
	if sub.Annotations["decision"] != "granted" || sub.Annotations["stage"] != "prod" || sub.HTTP.Request.URL != "/canStream/{uid}" {
		t.Errorf("annotations %v url %q", sub.Annotations, sub.HTTP.Request.URL)
	}
	if resp.Headers["X-Amzn-Trace-Id"] != "" || resp.Headers["x-amzn-trace-id"] != "" {
		t.Errorf("Lambda answer carries a trace header: %v", resp.Headers)
	}

	if _, err := handle(observetest.Invocation("lambda-req-2", "Root=1-6af58727-5e9f0c651de4d666d4dd26a3;Parent=53995c3f42cd8ad9;Sampled=0"),
		loadEvent(t, "canStream-post-json", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := handle(observetest.Invocation("lambda-req-3", "Root="+root+";Parent="+parent+";Sampled=1"), loadEvent(t, "healthz", "")); err != nil {
		t.Fatal(err)
	}
	daemon.WaitFor(t, 10*time.Second, "healthz", func(s observetest.Segment) bool { return s.Annotations["operation"] == "healthz" })
	if docs := daemon.SubsegmentsOf(t, parent); len(docs) != 2 {
		t.Errorf("%d documents; want 2 (the unsampled invocation sends none)", len(docs))
	}

	// The request line carries the Lambda request id and the trace.
	var found bool
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != "request" || m["request_id"] != "lambda-req-1" {
			continue
		}
		found = true
		if m["trace_id"] != root || m["operation"] != "canStream" || m["uid_hash"] == nil || m["uid"] != nil {
			t.Errorf("request line %v", m)
		}
	}
	if !found {
		t.Errorf("no request line with the Lambda request id:\n%s", logs.String())
	}
}
