package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/observe/capacity"
)

// TestDebugCapacity: with DEBUG_CAPACITY=true, GET /debug/capacity counts
// requests, events and their DynamoDB calls under the operation names of
// the request log lines and metrics, one name per request: the two ends
// of the streams routes are streams.end, a WebSocket message read as a
// heartbeat is ws.heartbeat, the socket's end ws.disconnect; the table's
// creation at start is "other".
func TestDebugCapacity(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"DEBUG_CAPACITY": "true", "STORE_TIMEOUT_MS": "10000"})
	g := call(t, "POST", s.api+"/canStream/cap-1?deviceId=tv", "", "").expect(t, 200, nil)
	call(t, "POST", s.api+"/heartbeat/cap-1/"+g.str("leaseId"), "", "").expect(t, 200, nil)
	call(t, "GET", s.api+"/streams/cap-1", "", "").expect(t, 200, nil)
	call(t, "POST", s.api+"/streams/cap-1/end", "", "").expect(t, 200, nil)
	c := mustDial(t, s.wsURL(url.Values{"uid": {"cap-2"}}))
	heartbeat(t, c)
	if err := c.Close(1000, "bye"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, s, "cap-2", 0)

	want := map[string]string{
		"canStream": "TransactWriteItems (2 items)", "heartbeat": "UpdateItem", "streams": "Query (consistent)",
		"streams.end": "TransactWriteItems (2 items)", "ws": "TransactWriteItems (2 items)",
		"ws.heartbeat": "UpdateItem", "ws.disconnect": "TransactWriteItems (2 items)",
	}
	// The upgrade request (ws) is finished, and counted, once its socket
	// has ended.
	var snap capacity.Snapshot
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		snap = readCapacity(t, s)
		if snap["ws"].Requests > 0 || time.Now().After(deadline) {
			break
		}
	}
	for op, calls := range want {
		o, ok := snap[op]
		if !ok || o.Requests < 1 || o.Calls[calls] < 1 {
			t.Errorf("%s: %+v; want a request with a %s call (all: %v)", op, o, calls, snap.Names())
		}
	}
	// Outside any request: only the table's creation at start.
	for kind := range snap["other"].Calls {
		if kind != "CreateTable" && kind != "DescribeTable" && kind != "UpdateTimeToLive" {
			t.Errorf("a %s call outside any request: %+v", kind, snap["other"])
		}
	}
	for _, op := range snap.Names() {
		if _, ok := want[op]; !ok && op != "other" {
			t.Errorf("operation %s: %+v; want only %v", op, snap[op], slices.Sorted(maps.Keys(want)))
		}
	}
}

// readCapacity reads GET /debug/capacity.
func readCapacity(t *testing.T, s server) capacity.Snapshot {
	t.Helper()
	resp, err := http.Get(s.base + "/debug/capacity")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap capacity.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /debug/capacity: %d %v", resp.StatusCode, err)
	}
	return snap
}

// TestDebugAdmission: with DEBUG_ADMISSION=true, GET /debug/admission
// answers the admission limiter's state and settings, counting the store
// work it admitted; without it, or with admission off, the route is not
// served.
func TestDebugAdmission(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"DEBUG_ADMISSION": "true"})
	g := call(t, "POST", s.api+"/canStream/adm-1?deviceId=tv", "", "").expect(t, 200, nil)
	call(t, "POST", s.api+"/heartbeat/adm-1/"+g.str("leaseId"), "", "").expect(t, 200, nil)
	var st struct {
		Admitted, Refused, Limit, InFlight, MinLimit, MaxLimit int
		MaxWaitMs, TargetMs, BudgetMs                          float64
	}
	if code := getJSON(t, s.base+"/debug/admission", &st); code != 200 {
		t.Fatalf("GET /debug/admission: %d; want 200", code)
	}
	if st.Admitted != 2 || st.Refused != 0 || st.InFlight != 0 || st.Limit != 16 || st.MinLimit != 8 || st.MaxLimit != 256 ||
		st.BudgetMs != 1500 || st.MaxWaitMs != 1200 || st.TargetMs != 300 {
		t.Fatalf("admission state %+v; want the grant and the heartbeat admitted, the defaults' settings", st)
	}
	for name, env := range map[string]map[string]string{
		"not asked":     {},
		"admission off": {"DEBUG_ADMISSION": "true", "ADMISSION": "off"},
	} {
		s := startServer(t, env)
		if code := getJSON(t, s.base+"/debug/admission", nil); code != 404 {
			t.Errorf("%s: GET /debug/admission: %d; want 404", name, code)
		}
	}
}

// getJSON GETs url and decodes a 200 answer into v (when not nil).
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}
