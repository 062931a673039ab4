package dynamostore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

// TestObserverSeesEveryCall: a store over an observed client reports each
// DynamoDB call, the connection bindings' too, with its name and the
// capacity DynamoDB Local reported, without changing its caller's input.
func TestObserverSeesEveryCall(t *testing.T) {
	t.Parallel()
	table := newTable(t)
	var mu sync.Mutex
	calls := map[string]int{}
	units := map[string]float64{}
	observed := dynamostore.Observed(client, func(_ context.Context, c dynamostore.Call) {
		mu.Lock()
		defer mu.Unlock()
		calls[c.Op]++
		for _, cc := range c.Capacity {
			if cc.CapacityUnits != nil {
				units[c.Op] += *cc.CapacityUnits
			}
		}
	})
	store := dynamostore.New(observed, dynamostore.WithTable(table))
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock)
	uid := leasetest.UID(t, "u")
	d, err := svc.CanStream(t.Context(), uid, lease.Request{})
	if err != nil || !d.Granted {
		t.Fatalf("CanStream = %+v, %v", d, err)
	}
	if _, err := svc.Heartbeat(t.Context(), uid, d.Lease.ID, lease.HeartbeatRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := store.Reclaim(t.Context(), uid, []lease.Lease{{ID: "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a", ExpiresAt: clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := dynamostore.Binding{ConnID: "c1", UID: uid, LeaseID: d.Lease.ID, ExpiresAt: clock.Now().Add(time.Hour)}
	if err := store.PutBinding(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	in := &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"uid": &types.AttributeValueMemberS{Value: uid}, "sk": &types.AttributeValueMemberS{Value: "#account"},
	}}
	if _, err := observed.GetItem(t.Context(), in); err != nil || in.ReturnConsumedCapacity != "" {
		t.Fatalf("GetItem: %v; the caller's input asks for %q", err, in.ReturnConsumedCapacity)
	}
	mu.Lock()
	defer mu.Unlock()
	for op, n := range map[string]int{"Query": 1, "TransactWriteItems": 1, "UpdateItem": 1, "DeleteItem": 1, "GetItem": 2, "PutItem": 1} {
		if calls[op] != n {
			t.Errorf("%s: %d calls observed, want %d (all: %v)", op, calls[op], n, calls)
		}
	}
	for _, op := range []string{"TransactWriteItems", "UpdateItem", "DeleteItem", "PutItem", "GetItem"} {
		if units[op] <= 0 {
			t.Errorf("%s: no consumed capacity reported (%v)", op, units)
		}
	}
}

// TestHeartbeatCapacityAtDefaults pins what a heartbeat costs on DynamoDB
// Local, from the capacity DynamoDB reported for every call the store
// made: at the default settings (TTL 100 s, interval 30 s, renew-below
// 65 s) a player that sends back its renewal tokens makes at most one call
// and half a write unit per heartbeat on average, and no heartbeat makes
// more than one call; one that sends none makes one call and one write
// unit per heartbeat (it was two calls before renewal tokens: a Query for
// the stream count, then the write).
func TestHeartbeatCapacityAtDefaults(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls int
	var wcu, rcu float64
	observed := dynamostore.Observed(client, func(_ context.Context, c dynamostore.Call) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, cc := range c.Capacity {
			if cc.CapacityUnits == nil {
				continue
			}
			if c.Op == "Query" || c.Op == "GetItem" {
				rcu += *cc.CapacityUnits
			} else {
				wcu += *cc.CapacityUnits
			}
		}
	})
	store := dynamostore.New(observed, dynamostore.WithTable(newTable(t)))
	counters := func() (int, float64, float64) {
		mu.Lock()
		defer mu.Unlock()
		return calls, wcu, rcu
	}
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock)
	uid := leasetest.UID(t, "u")
	const n = 40
	for _, withTokens := range []bool{true, false} {
		d, err := svc.CanStream(t.Context(), uid, lease.Request{})
		if err != nil || !d.Granted {
			t.Fatalf("CanStream = %+v, %v", d, err)
		}
		token := d.Token
		c0, w0, r0 := counters()
		for i := range n {
			clock.Advance(svc.HeartbeatInterval())
			req := lease.HeartbeatRequest{}
			if withTokens {
				req.Token = token
			}
			before, _, _ := counters()
			r, err := svc.Heartbeat(t.Context(), uid, d.Lease.ID, req)
			if err != nil {
				t.Fatalf("heartbeat %d (tokens %v): %v", i, withTokens, err)
			}
			token = r.Token
			if after, _, _ := counters(); after-before > 1 {
				t.Fatalf("heartbeat %d (tokens %v) made %d calls; want at most 1", i, withTokens, after-before)
			}
		}
		c1, w1, r1 := counters()
		perCall, perWCU, perRCU := float64(c1-c0)/n, (w1-w0)/n, (r1-r0)/n
		t.Logf("tokens %v: %d heartbeats: %.2f calls, %.2f WCU, %.2f RCU per heartbeat", withTokens, n, perCall, perWCU, perRCU)
		switch {
		case perRCU != 0:
			t.Errorf("tokens %v: %.2f read units per heartbeat; want none", withTokens, perRCU)
		case withTokens && (perCall > 0.5 || perWCU > 0.5 || perWCU == 0):
			t.Errorf("tokens: %.2f calls, %.2f WCU per heartbeat; want at most 0.5 of each (and some writes)", perCall, perWCU)
		case !withTokens && (perCall != 1 || perWCU != 1):
			t.Errorf("no tokens: %.2f calls, %.2f WCU per heartbeat; want 1 and 1", perCall, perWCU)
		}
	}
}

// TestCapacityPerOperationAtDefaults pins, through the capacity counters
// (observe/capacity, as cmd/local's DEBUG_CAPACITY serves them to the load
// tool, in the model's units: 2 write units per transaction item), what
// each operation costs at the default settings on DynamoDB Local: a grant
// 2 calls (a consistent Query, a 2-item transaction), 4 write units and at
// most 1 read unit (DynamoDB Local reports 0 for the Query of an account
// with no item yet, where DynamoDB bills its minimum of 1); a refusal at
// the limit 1 call, 1 read unit, no write; an end 2 calls, 4 write units,
// 1 read unit; a heartbeat that sends back its renewal token at most half
// a call and half a write unit on average over 40 beats (the first one
// skips, then every other), one that does not exactly 1 call and 1 write
// unit; no heartbeat reads.
func TestCapacityPerOperationAtDefaults(t *testing.T) {
	t.Parallel()
	meter := capacity.New()
	store := dynamostore.New(dynamostore.Observed(client, meter.Observe), dynamostore.WithTable(newTable(t)))
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock)
	in := func(op string) context.Context {
		return observe.NewContext(t.Context(), &observe.Request{Operation: op})
	}
	count := func(op string, n int) { // requests of op, as the Observer's sink counts them
		for range n {
			meter.Request(op)
		}
	}
	const sessions, beats = 5, 40
	type held struct{ uid, id, token string }
	var leases []held
	for i := range sessions {
		uid := leasetest.UID(t, fmt.Sprintf("capacity%d", i))
		d, err := svc.CanStream(in("canStream"), uid, lease.Request{})
		if err != nil || !d.Granted {
			t.Fatalf("CanStream = %+v, %v", d, err)
		}
		leases = append(leases, held{uid, d.Lease.ID, d.Token})
	}
	count("canStream", sessions)
	full := leasetest.UID(t, "capacityfull")
	for range svc.MaxStreams() {
		if _, err := svc.CanStream(in("fill"), full, lease.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := svc.CanStream(in("canStream.refused"), full, lease.Request{}); err != nil || d.Granted {
		t.Fatalf("CanStream at the limit = %+v, %v; want a refusal", d, err)
	}
	count("canStream.refused", 1)
	for range beats {
		clock.Advance(svc.HeartbeatInterval())
		for i, l := range leases {
			op, req := "heartbeat.token", lease.HeartbeatRequest{Token: l.token}
			if i == 0 {
				op, req = "heartbeat", lease.HeartbeatRequest{}
			}
			r, err := svc.Heartbeat(in(op), l.uid, l.id, req)
			if err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			leases[i].token = r.Token
		}
	}
	count("heartbeat", beats)
	count("heartbeat.token", beats*(sessions-1))
	for _, l := range leases {
		if _, err := svc.EndStream(in("endStream"), l.uid, l.id); err != nil {
			t.Fatal(err)
		}
	}
	count("endStream", sessions)

	snap := meter.Snapshot()
	// Each figure per request, between its bounds.
	type bounds struct{ lo, hi float64 }
	exactly := func(v float64) bounds { return bounds{v, v} }
	for _, want := range []struct {
		op                 string
		calls, write, read bounds
	}{
		{"canStream", exactly(2), exactly(4), bounds{0, 1}},
		{"canStream.refused", exactly(1), exactly(0), exactly(1)},
		{"heartbeat", exactly(1), exactly(1), exactly(0)},
		{"heartbeat.token", bounds{0.01, 0.5}, bounds{0.01, 0.5}, exactly(0)},
		{"endStream", exactly(2), exactly(4), exactly(1)},
	} {
		o := snap[want.op]
		n := float64(o.Requests)
		got := []float64{float64(o.CallsTotal) / n, o.ModelWrite / n, o.ModelRead / n}
		t.Logf("%s: %.2f calls, %.2f write units, %.2f read units per request (%v)", want.op, got[0], got[1], got[2], o.Calls)
		for i, b := range []bounds{want.calls, want.write, want.read} {
			if got[i] < b.lo || got[i] > b.hi {
				t.Errorf("%s: %.2f %s per request; want %v to %v", want.op, got[i], []string{"calls", "write units", "read units"}[i], b.lo, b.hi)
			}
		}
	}
}
