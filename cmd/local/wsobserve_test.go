package main

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
)

// TestSocketEventsAreObserved: each event of a local socket is a record of
// its own, as the API Gateway transport's and as an HTTP request: the
// upgrade request (operation ws) carries the connect's decision; every
// message and the socket's end (ws.disconnect, its reason saying how it
// ended, never a bare log line) write one request line with a hashed uid,
// and, with X-Ray on, one segment with the operation, stage and decision
// annotations and its DynamoDB calls below it. A socket lost without a
// close keeps its lease: decision kept.
func TestSocketEventsAreObserved(t *testing.T) {
	daemon := observetest.NewDaemon(t)
	env := map[string]string{"AWS_XRAY_DAEMON_ADDRESS": daemon.Addr()}
	for k, v := range wsEnv {
		env[k] = v
	}
	s, logs := startLogged(t, env)
	closed := mustDial(t, s.wsURL(url.Values{"uid": {"ws-observed"}}))
	heartbeat(t, closed)
	if err := closed.Close(1000, "bye"); err != nil {
		t.Fatal(err)
	}
	viaURL, proxy := viaProxy(t, s.wsURL(url.Values{"uid": {"ws-observed"}}))
	dropped := mustDial(t, viaURL)
	heartbeat(t, dropped)
	proxy.cut()

	type event struct{ operation, decision, reason string }
	want := []event{
		{"ws", "granted", ""}, {"ws", "granted", ""}, {"ws.disconnect", "ended", "closed by the player"},
		{"ws.disconnect", "kept", "dropped without a close frame"}, {"ws.heartbeat", "renewed", ""}, {"ws.heartbeat", "renewed", ""},
	}
	var got []event
	// A socket's lines are written once it has ended: wait for them.
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = got[:0]
		for _, l := range requestLines(t, logs) {
			op, _ := l["operation"].(string)
			if op != "ws" && op != "ws.heartbeat" && op != "ws.disconnect" {
				continue
			}
			d, _ := l["decision"].(string)
			r, _ := l["reason"].(string)
			got = append(got, event{op, d, r})
			if l["uid_hash"] == nil || l["uid"] != nil || l["trace_id"] == nil {
				t.Fatalf("%s line %v; want a hashed uid and a trace id", op, l)
			}
		}
	}
	byName := func(a, b event) int { return strings.Compare(a.operation+" "+a.decision, b.operation+" "+b.decision) }
	slices.SortFunc(got, byName)
	slices.SortFunc(want, byName)
	if !slices.Equal(got, want) {
		t.Errorf("socket event lines %v; want %v", got, want)
	}
	for _, line := range logs.Lines() {
		if strings.Contains(line, `"msg":"websocket closed"`) {
			t.Errorf("bare close line: %s", line)
		}
	}
	for _, w := range []struct{ operation, decision, dynamo string }{
		{"ws.heartbeat", "renewed", "UpdateItem"}, {"ws.disconnect", "ended", "TransactWriteItems"}, {"ws.disconnect", "kept", "DeleteItem"},
	} {
		seg := daemon.WaitFor(t, segmentWait, w.operation+" "+w.decision, func(s observetest.Segment) bool {
			return s.Annotations["operation"] == w.operation && s.Annotations["decision"] == w.decision
		})
		if seg.Name != "streamlimit" || seg.Type != "" || seg.InProgress || seg.Annotations["stage"] != "dev" {
			t.Errorf("%s: segment %q type %q in progress %v annotations %v; want a closed segment named streamlimit, stage dev",
				w.operation, seg.Name, seg.Type, seg.InProgress, seg.Annotations)
		}
		if ops := seg.AWSOperations(); !slices.Contains(ops, w.dynamo) {
			t.Errorf("%s %s: DynamoDB subsegments %v lack %s", w.operation, w.decision, ops, w.dynamo)
		}
	}
}
