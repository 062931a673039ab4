package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// TestEventsAreLoggedAndCounted: every WebSocket event gets what an HTTP
// request gets: one log line with its operation and decision (the uid
// hashed) and, with METRICS on, one EMF document that moves the same
// counters (a heartbeat moves Heartbeats, a $connect StreamsGranted).
func TestEventsAreLoggedAndCounted(t *testing.T) {
	t.Parallel()
	vars := env(t, nil)
	logs, metrics := &lockedBuffer{}, &lockedBuffer{}
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
	for _, line := range logs.lines(t) {
		op, _ := line["operation"].(string)
		if d, ok := want[op]; ok {
			if line["msg"] != "request" || line["decision"] != d || line["uid_hash"] == nil || line["uid"] != nil {
				t.Errorf("%s line %v; want decision %s and a hashed uid", op, line, d)
			}
			seen[op] = true
		}
	}
	counted := map[string]string{"ws.connect": "StreamsGranted", "ws.heartbeat": "Heartbeats", "ws.disconnect": "StreamsEnded"}
	for _, doc := range metrics.lines(t) {
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
