package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
)

// TestEventsAreLoggedAndCounted: every WebSocket event gets what an HTTP
// request gets: one log line with its operation and decision (the uid
// hashed) and, with METRICS on, one EMF document that moves the same
// counters (a heartbeat moves Heartbeats, a $connect StreamsGranted).
func TestEventsAreLoggedAndCounted(t *testing.T) {
	t.Parallel()
	vars := env(t, nil)
	logs, metrics := &observetest.Buffer{}, &observetest.Buffer{}
	conns := &fakeConns{}
	h, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.NewJSONHandler(logs, nil)), metrics, conns)
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
// is an answer, counted as StreamsRefused and not as a failure.
func TestConnectFailuresAreCounted(t *testing.T) {
	t.Parallel()
	vars := env(t, map[string]string{"MAX_STREAMS": "1"})
	metrics := &observetest.Buffer{}
	conns := &fakeConns{}
	h, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.DiscardHandler), metrics, conns)
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
	var failed, refused, connects int
	for _, doc := range metrics.JSONLines(t) {
		if doc["Operation"] != "ws.connect" {
			continue
		}
		connects++
		if doc["RequestsFailed"] == float64(1) {
			failed++
		}
		if doc["StreamsRefused"] == float64(1) {
			refused++
			if doc["RequestsFailed"] != nil {
				t.Errorf("the refusal at the limit counted as a failure: %v", doc)
			}
		}
	}
	if connects != 3 || failed != 1 || refused != 1 {
		t.Errorf("ws.connect documents: %d, RequestsFailed in %d, StreamsRefused in %d; want 3, 1, 1", connects, failed, refused)
	}
}
