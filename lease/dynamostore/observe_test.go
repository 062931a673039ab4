package dynamostore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
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
