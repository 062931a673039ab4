package capacity_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

func TestPricingModel(t *testing.T) {
	t.Parallel()
	m := capacity.New()
	ctx := capacity.WithOp(context.Background(), "canStream")
	// DynamoDB Local reports a flat 2 for any transaction; the model bills
	// 2 per item.
	m.Observe(ctx, dynamostore.Call{Op: "TransactWriteItems", Items: 3,
		Capacity: []types.ConsumedCapacity{{CapacityUnits: aws.Float64(2)}}})
	m.Observe(ctx, dynamostore.Call{Op: "Query", Consistent: true,
		Capacity: []types.ConsumedCapacity{{CapacityUnits: aws.Float64(1)}}})
	// A transaction cancelled by a condition is billed; one that never
	// reached DynamoDB is not.
	m.Observe(ctx, dynamostore.Call{Op: "TransactWriteItems", Items: 2, Err: &types.TransactionCanceledException{
		CancellationReasons: []types.CancellationReason{{Code: aws.String("None")}, {Code: aws.String("ConditionalCheckFailed")}}}})
	m.Observe(ctx, dynamostore.Call{Op: "TransactWriteItems", Items: 2, Err: errors.New("connection refused")})
	hb := capacity.WithOp(context.Background(), "heartbeat")
	m.Observe(hb, dynamostore.Call{Op: "UpdateItem", Err: &types.ConditionalCheckFailedException{}})
	m.Observe(hb, dynamostore.Call{Op: "UpdateItem", Capacity: []types.ConsumedCapacity{{CapacityUnits: aws.Float64(1)}}})
	m.Observe(hb, dynamostore.Call{Op: "Query", Capacity: []types.ConsumedCapacity{{CapacityUnits: aws.Float64(0.5)}}})
	m.Observe(context.Background(), dynamostore.Call{Op: "GetItem"})

	s := m.Snapshot()
	cs := s["canStream"]
	if cs.CallsTotal != 4 || cs.Errors != 2 || cs.ModelWrite != 6+4 || cs.ReportedWrite != 2 || cs.ModelRead != 1 {
		t.Errorf("canStream: %+v; want 4 calls, 2 errors, 10 model WCU (6+4), 2 reported WCU, 1 RCU", cs)
	}
	if cs.Calls["TransactWriteItems (3 items)"] != 1 || cs.Calls["Query (consistent)"] != 1 {
		t.Errorf("canStream calls by kind: %v", cs.Calls)
	}
	h := s["heartbeat"]
	if h.ModelWrite != 2 || h.ModelRead != 0.5 || h.Calls["Query (eventual)"] != 1 {
		t.Errorf("heartbeat: %+v; want 2 WCU (a failed condition is billed), 0.5 RCU", h)
	}
	if s["other"].CallsTotal != 1 {
		t.Errorf("unlabelled call not counted under other: %+v", s)
	}
	m.Observe(hb, dynamostore.Call{Op: "UpdateItem", Capacity: []types.ConsumedCapacity{{CapacityUnits: aws.Float64(1)}}})
	if d := m.Snapshot().Sub(s); d["heartbeat"].CallsTotal != 1 || d["heartbeat"].ModelWrite != 1 || len(d) != 1 {
		t.Errorf("Sub: %+v", d)
	}
}

func TestMiddlewareLabelsOperations(t *testing.T) {
	t.Parallel()
	m := capacity.New()
	var got []string
	h := capacity.Middleware(m, "/dev", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, capacity.OpOf(r.Context()))
	}))
	for _, p := range []string{"/dev/canStream/alice", "/dev/heartbeat/alice/x", "/healthz", "/dev/"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", p, nil))
	}
	want := []string{"canStream", "heartbeat", "healthz", "other"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("operations %v, want %v", got, want)
		}
	}
	if s := m.Snapshot(); s["canStream"].Requests != 1 || s["healthz"].Requests != 1 {
		t.Errorf("requests: %+v", s)
	}
}
