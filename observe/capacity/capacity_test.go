package capacity_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

func TestPricingModel(t *testing.T) {
	t.Parallel()
	m := capacity.New()
	ctx := op("canStream")
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
	hb := op("heartbeat")
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

// op is the context of a request whose record names operation name.
func op(name string) context.Context {
	return observe.NewContext(context.Background(), &observe.Request{Operation: name})
}

// The Meter is a sink of the observe records: a finished request or event
// is counted under its record's operation, and the DynamoDB calls made
// under it are attributed to that operation, the one the logs and metrics
// name (a message read as a heartbeat is ws.heartbeat, not ws.message).
func TestCountsByTheRecordsOperation(t *testing.T) {
	t.Parallel()
	m := &capacity.Meter{} // the zero value is usable
	obs := observe.New(observe.Config{Sinks: []observe.Sink{m}})

	ctx, rec := obs.StartEvent(context.Background(), "e-1", "WS", "ws.message")
	rec.Operation = "ws.heartbeat"
	m.Observe(ctx, dynamostore.Call{Op: "GetItem", Consistent: true})
	m.Observe(ctx, dynamostore.Call{Op: "UpdateItem"})
	obs.Finish(ctx, rec, time.Millisecond)

	r, rec := obs.Start(httptest.NewRequest("POST", "/dev/streams/alice/end", nil))
	rec.Operation = "streams.end"
	m.Observe(r.Context(), dynamostore.Call{Op: "TransactWriteItems", Items: 2})
	obs.Finish(r.Context(), rec, time.Millisecond)

	_, rec = obs.Start(httptest.NewRequest("OPTIONS", "/dev/canStream/alice", nil))
	rec.Operation = "preflight"
	obs.Finish(context.Background(), rec, 0)

	s := m.Snapshot()
	if hb := s["ws.heartbeat"]; hb.Requests != 1 || hb.CallsTotal != 2 || hb.Calls["GetItem (consistent)"] != 1 {
		t.Errorf("ws.heartbeat: %+v; want 1 event, 2 calls", hb)
	}
	if e := s["streams.end"]; e.Requests != 1 || e.CallsTotal != 1 || e.ModelWrite != 4 {
		t.Errorf("streams.end: %+v; want 1 request, 1 call, 4 model WCU", e)
	}
	if p := s["preflight"]; p.Requests != 1 || p.CallsTotal != 0 {
		t.Errorf("preflight: %+v", p)
	}
	if _, ok := s["ws.message"]; ok || len(s) != 3 {
		t.Errorf("operations %v; want ws.heartbeat, streams.end, preflight", s.Names())
	}
}
