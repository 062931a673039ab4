package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
)

// TestEventsAreLoggedAndCounted: every WebSocket event gets what an HTTP
// request gets: a log line with its operation and decision (the uid
// hashed) when it is logged (LOG_SAMPLE_RATE=1: every one) and, with
// METRICS on, its counters in the EMF document of its operation (a
// heartbeat moves Heartbeats, a $connect StreamsGranted), written when the
// Observer flushes.
func TestEventsAreLoggedAndCounted(t *testing.T) {
	t.Parallel()
	vars := env(t, map[string]string{"LOG_SAMPLE_RATE": "1"})
	logs, metrics := &observetest.Buffer{}, &observetest.Buffer{}
	conns := &fakeConns{}
	h, obs, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.NewJSONHandler(logs, nil)), metrics, conns)
	if err != nil {
		t.Fatal(err)
	}
	l := driver{t, h, conns}
	if st := l.connect("c1", map[string]string{"uid": "viewer-9"}).StatusCode; st != 200 {
		t.Fatalf("connect: %d", st)
	}
	if m := l.message("c1", "heartbeat"); m["result"] != "success" {
		t.Fatalf("heartbeat: %v", m)
	}
	l.disconnect("c1")
	obs.Flush(context.Background())

	want := map[string]string{"ws.connect": "granted", "ws.heartbeat": "renewed", "ws.disconnect": "ended"}
	seen := map[string]bool{}
	for _, line := range logs.JSONLines(t) {
		op, _ := line["operation"].(string)
		if d, ok := want[op]; ok {
			if line["msg"] != "request" || line["decision"] != d || line["uid_hash"] == nil || line["uid"] != nil {
				t.Errorf("%s line %v; want decision %s and a hashed uid", op, line, d)
			}
			seen[op] = true
		}
	}
	counted := map[string]string{"ws.connect": "StreamsGranted", "ws.heartbeat": "Heartbeats", "ws.disconnect": "StreamsEnded"}
	for _, doc := range metrics.JSONLines(t) {
		op, _ := doc["Operation"].(string)
		if metric, ok := counted[op]; ok && doc[metric] == float64(1) {
			seen[op+" metric"] = true
		}
	}
	for op := range want {
		if !seen[op] || !seen[op+" metric"] {
			t.Errorf("%s: logged %v, counted %v; want both", op, seen[op], seen[op+" metric"])
		}
	}
}

// TestConnectFailuresAreCounted: a $connect answered with an error (here a
// missing uid, 400) moves RequestsFailed under operation ws.connect, which
// the WsConnectFailures alarm reads; a $connect refused at the limit (403)
// is an answer, counted as StreamsRefused and not as a failure: of three
// attempts (the Latency count), one failed and one was refused.
func TestConnectFailuresAreCounted(t *testing.T) {
	t.Parallel()
	vars := env(t, map[string]string{"MAX_STREAMS": "1"})
	metrics := &observetest.Buffer{}
	conns := &fakeConns{}
	h, obs, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.DiscardHandler), metrics, conns)
	if err != nil {
		t.Fatal(err)
	}
	l := driver{t, h, conns}
	if st := l.connect("c1", map[string]string{}).StatusCode; st != 400 {
		t.Fatalf("connect without a uid: %d, want 400", st)
	}
	if st := l.connect("c2", map[string]string{"uid": "viewer-f"}).StatusCode; st != 200 {
		t.Fatalf("connect: %d", st)
	}
	if st := l.connect("c3", map[string]string{"uid": "viewer-f"}).StatusCode; st != 403 {
		t.Fatalf("connect over the limit: %d, want 403", st)
	}
	obs.Flush(context.Background())
	var connectDocs []string
	for _, line := range metrics.Lines() {
		if strings.Contains(line, `"Operation":"ws.connect"`) {
			connectDocs = append(connectDocs, line)
		}
	}
	tot := observetest.SumEMF(t, connectDocs)
	failed, refused, connects := tot.Sums["RequestsFailed"], tot.Sums["StreamsRefused"], tot.Samples["Latency"]
	if connects != 3 || failed != 1 || refused != 1 {
		t.Errorf("ws.connect: %v attempts, RequestsFailed %v, StreamsRefused %v; want 3, 1, 1", connects, failed, refused)
	}
}
