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
	if _, err := svc.Heartbeat(t.Context(), uid, d.Lease.ID); err != nil {
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
	for op, n := range map[string]int{"Query": 2, "TransactWriteItems": 1, "UpdateItem": 1, "DeleteItem": 1, "GetItem": 2, "PutItem": 1} {
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
