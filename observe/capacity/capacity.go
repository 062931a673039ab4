// Package capacity counts the DynamoDB requests and capacity units each API
// operation costs. A Meter is a sink of the observe records: it counts each
// finished request or event under its record's operation (Finished, as an
// observe.Sink), and, as a dynamostore.Observer, attributes every DynamoDB
// call to the operation of the record in the call's context (observe.From),
// so the operations are named once, by the transports, as in the logs and
// metrics: canStream, heartbeat, streams.end, ws.heartbeat, ...; "other"
// outside any record. It serves load tests and benchmarks; production builds
// do not use it (cmd/local turns it on with DEBUG_CAPACITY=true).
//
// # Pricing model
//
// DynamoDB Local reports capacity for single-item calls as AWS does, but a
// flat 2 units for any TransactWriteItems. The modelled units therefore
// follow the documented on-demand rules instead of what was reported for
// transactions:
//
//   - a transactional write costs 2 write units per item of at most 1 KB
//     (every item this project writes is below 1 KB), and so does a
//     transaction cancelled by a failed condition;
//   - a single-item write costs 1 write unit per KB, also when its condition
//     fails;
//   - a read costs what DynamoDB reported (0.5 unit per 4 KB eventually
//     consistent, 1 per 4 KB strongly consistent);
//   - a call that failed for any other reason (network, timeout, throttling)
//     is counted as a call but costs nothing.
package capacity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe"
)

// Other names the calls and records of no operation: a DynamoDB call made
// outside any request or event (a table created at start).
const Other = "other"

// operation names a record's operation, Other for none.
func operation(rec *observe.Request) string {
	if rec.Operation == "" {
		return Other
	}
	return rec.Operation
}

// Op is what one operation cost, summed over every request counted.
type Op struct {
	// Requests is how many requests or events of the operation were
	// counted (Finished, Request); zero when only calls were observed.
	Requests int64 `json:"requests"`
	// Calls counts DynamoDB calls by kind: "Query (consistent)", "Query
	// (eventual)", "UpdateItem", "TransactWriteItems (2 items)", ...
	Calls map[string]int64 `json:"calls"`
	// CallsTotal is the sum of Calls.
	CallsTotal int64 `json:"callsTotal"`
	// Errors counts calls that returned an error (failed conditions too).
	Errors int64 `json:"errors"`
	// ReportedRead and ReportedWrite are the capacity units DynamoDB
	// reported (DynamoDB Local: a flat 2 per transaction).
	ReportedRead  float64 `json:"reportedReadUnits"`
	ReportedWrite float64 `json:"reportedWriteUnits"`
	// ModelRead and ModelWrite are the units the pricing model bills.
	ModelRead  float64 `json:"modelReadUnits"`
	ModelWrite float64 `json:"modelWriteUnits"`
}

// Snapshot is every operation's counters at one moment.
type Snapshot map[string]Op

// Meter accumulates counters per operation. The zero value is an empty
// Meter. It is safe for concurrent use.
type Meter struct {
	mu  sync.Mutex
	ops map[string]*Op
}

// New returns an empty Meter.
func New() *Meter { return &Meter{} }

// op returns the counters of operation name, made on first use; m.mu is
// held.
func (m *Meter) op(name string) *Op {
	if o, ok := m.ops[name]; ok {
		return o
	}
	if m.ops == nil {
		m.ops = map[string]*Op{}
	}
	o := &Op{Calls: map[string]int64{}}
	m.ops[name] = o
	return o
}

// Request counts one request of op.
func (m *Meter) Request(op string) {
	m.mu.Lock()
	m.op(op).Requests++
	m.mu.Unlock()
}

// Finished counts the finished request or event rec under its operation
// (Other for none): a Meter is an observe.Sink.
func (m *Meter) Finished(rec *observe.Request) { m.Request(operation(rec)) }

var _ observe.Sink = (*Meter)(nil)

// Observe is a dynamostore.Observer: it counts c for the operation of the
// record in its context (observe.From), Other outside any.
func (m *Meter) Observe(ctx context.Context, c dynamostore.Call) {
	kind := c.Op
	switch {
	case c.Op == "Query" || c.Op == "GetItem":
		if c.Consistent {
			kind += " (consistent)"
		} else {
			kind += " (eventual)"
		}
	case c.Op == "TransactWriteItems":
		kind += " (" + strconv.Itoa(c.Items) + " items)"
	}
	var reportedRead, reportedWrite float64
	for _, cc := range c.Capacity {
		switch {
		case cc.ReadCapacityUnits != nil || cc.WriteCapacityUnits != nil:
			reportedRead += deref(cc.ReadCapacityUnits)
			reportedWrite += deref(cc.WriteCapacityUnits)
		case c.Op == "Query" || c.Op == "GetItem":
			reportedRead += deref(cc.CapacityUnits)
		default:
			reportedWrite += deref(cc.CapacityUnits)
		}
	}
	modelRead, modelWrite := reportedRead, reportedWrite
	if c.Op == "TransactWriteItems" {
		modelWrite = 0
		if c.Err == nil || conditionFailed(c.Err) {
			modelWrite = 2 * float64(c.Items)
		}
	}
	if (c.Op == "UpdateItem" || c.Op == "DeleteItem") && c.Err != nil && conditionFailed(c.Err) && modelWrite == 0 {
		modelWrite = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.op(operation(observe.From(ctx)))
	o.Calls[kind]++
	o.CallsTotal++
	if c.Err != nil {
		o.Errors++
	}
	o.ReportedRead += reportedRead
	o.ReportedWrite += reportedWrite
	o.ModelRead += modelRead
	o.ModelWrite += modelWrite
}

// conditionFailed reports a failed condition, which AWS bills like a
// successful write.
func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	var canceled *types.TransactionCanceledException
	if errors.As(err, &ccf) {
		return true
	}
	if errors.As(err, &canceled) {
		for _, r := range canceled.CancellationReasons {
			if r.Code != nil && *r.Code == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

// Snapshot returns a copy of every operation's counters.
func (m *Meter) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(Snapshot, len(m.ops))
	for name, o := range m.ops {
		c := *o
		c.Calls = make(map[string]int64, len(o.Calls))
		for k, v := range o.Calls {
			c.Calls[k] = v
		}
		out[name] = c
	}
	return out
}

// Reset clears every counter.
func (m *Meter) Reset() {
	m.mu.Lock()
	m.ops = nil
	m.mu.Unlock()
}

// Sub returns s minus before, operation by operation (counters only grow,
// so this is what happened between the two snapshots).
func (s Snapshot) Sub(before Snapshot) Snapshot {
	out := make(Snapshot, len(s))
	for name, o := range s {
		b := before[name]
		d := Op{
			Requests: o.Requests - b.Requests, CallsTotal: o.CallsTotal - b.CallsTotal,
			Errors: o.Errors - b.Errors, Calls: map[string]int64{},
			ReportedRead: o.ReportedRead - b.ReportedRead, ReportedWrite: o.ReportedWrite - b.ReportedWrite,
			ModelRead: o.ModelRead - b.ModelRead, ModelWrite: o.ModelWrite - b.ModelWrite,
		}
		for k, v := range o.Calls {
			if v -= b.Calls[k]; v != 0 {
				d.Calls[k] = v
			}
		}
		if d.Requests != 0 || d.CallsTotal != 0 {
			out[name] = d
		}
	}
	return out
}

// Names returns the operation names in s, sorted.
func (s Snapshot) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ServeHTTP answers the counters as JSON (GET /debug/capacity).
func (m *Meter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(m.Snapshot())
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
