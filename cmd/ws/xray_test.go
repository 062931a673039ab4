package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
)

// TestLambdaTracesEvents: with X-Ray on in Lambda, every WebSocket event is
// traced as HTTP requests are: a subsegment of the function's segment
// (never a segment of its own, which would start another trace), named by
// its operation, with the annotations operation, stage and decision, its
// DynamoDB calls below it, and its trace id in its log line. An unsampled
// invocation sends nothing.
func TestLambdaTracesEvents(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	vars := env(t, map[string]string{
		"STAGE": "prod", "AWS_XRAY_DAEMON_ADDRESS": daemon.Addr(), "AWS_LAMBDA_FUNCTION_NAME": "streamlimit-prod-ws",
		"AUTH_MODE": "none", "LOG_SAMPLE_RATE": "1", // the uid query parameter names the account; every line logged
	})
	logs := &observetest.Buffer{}
	conns := &fakeConns{}
	h, _, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.NewJSONHandler(logs, nil)), io.Discard, conns)
	if err != nil {
		t.Fatal(err)
	}
	const root, parent = "1-6af58726-5e9f0c651de4d666d4dd26a2", "53995c3f42cd8ad8"
	sampled := "Root=" + root + ";Parent=" + parent + ";Sampled=1"
	invoke := func(name, header, fixtureName string, query map[string]string) {
		t.Helper()
		req := fixture(t, fixtureName)
		req.RequestContext.ConnectionID = "traced-conn-1"
		req.QueryStringParameters = query
		if resp, err := h(observetest.Invocation(name, header), req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v %s", name, resp.StatusCode, err, resp.Body)
		}
	}
	invoke("ws-req-1", sampled, "connect", map[string]string{"uid": "traced-viewer"})
	invoke("ws-req-2", "Root=1-6af58727-5e9f0c651de4d666d4dd26a3;Parent=53995c3f42cd8ad9;Sampled=0", "heartbeat", nil)
	invoke("ws-req-3", sampled, "heartbeat", nil)
	invoke("ws-req-4", sampled, "disconnect", nil)

	want := map[string]struct {
		decision string
		dynamo   string
	}{
		"ws.connect":    {"granted", "TransactWriteItems"},
		"ws.heartbeat":  {"renewed", "UpdateItem"},
		"ws.disconnect": {"ended", "TransactWriteItems"},
	}
	for op, w := range want {
		sub := daemon.WaitFor(t, 10*time.Second, op, func(s observetest.Segment) bool { return s.Annotations["operation"] == op })
		if sub.Type != "subsegment" || sub.TraceID != root || sub.ParentID != parent || sub.Name != op || sub.InProgress {
			t.Errorf("%s: %s %q trace %s parent %s in progress %v; want a closed subsegment %s of trace %s under the function segment %s",
				op, sub.Type, sub.Name, sub.TraceID, sub.ParentID, sub.InProgress, op, root, parent)
		}
		if sub.Annotations["decision"] != w.decision || sub.Annotations["stage"] != "prod" || sub.Fault || sub.Error {
			t.Errorf("%s: annotations %v fault %v error %v; want decision %s, stage prod", op, sub.Annotations, sub.Fault, sub.Error, w.decision)
		}
		if ops := sub.AWSOperations(); !slices.Contains(ops, w.dynamo) {
			t.Errorf("%s: DynamoDB subsegments %v lack %s", op, ops, w.dynamo)
		}
	}
	if docs := daemon.SubsegmentsOf(t, parent); len(docs) != 3 {
		t.Errorf("%d documents; want 3 (the unsampled invocation sends none)", len(docs))
	}
	traced := 0
	for _, l := range logs.JSONLines(t) {
		if l["msg"] == "request" && l["trace_id"] == root {
			traced++
		}
	}
	if traced != 3 {
		t.Errorf("%d event lines carry the trace id; want 3\n%s", traced, logs.String())
	}
}
