package bench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

// ddb is DynamoDB Local, started by the first benchmark that needs it.
var ddb struct {
	once     sync.Once
	endpoint string
	client   *dynamodb.Client
	stop     func()
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ddb.stop != nil {
		ddb.stop()
	}
	os.Exit(code)
}

// localDynamo returns a client of DynamoDB Local, starting it on first use. It
// skips the benchmark when DynamoDB Local is missing, except under CI=true.
func localDynamo(b *testing.B) *dynamodb.Client {
	b.Helper()
	ddb.once.Do(func() {
		var ep string
		ep, ddb.stop, ddb.err = ddblocal.ForTests()
		if ddb.err != nil {
			return
		}
		ddb.endpoint = ep
		// The production client (dynamo.New) with the production
		// attempt bound; each call below runs under the handler's 1.5 s
		// budget (opCtx), as in the server.
		ddb.client, ddb.err = dynamo.New(context.Background(), dynamo.Config{
			Endpoint: ep, Region: "us-east-1", Timeout: 1500 * time.Millisecond,
		})
	})
	if ddb.err != nil {
		if ddblocal.Required() {
			b.Fatalf("DynamoDB Local is required (CI=true): %v", ddb.err)
		}
		b.Skipf("DynamoDB Local unavailable: %v", ddb.err)
	}
	return ddb.client
}

// newTable creates a fresh table.
func newTable(b *testing.B) string {
	b.Helper()
	client := localDynamo(b)
	name := fmt.Sprintf("bench_%08x", rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamostore.CreateTable(ctx, client, name); err != nil {
		b.Fatalf("CreateTable: %v", err)
	}
	return name
}

// storeTimeout is the server's default per-request store budget.
const storeTimeout = 1500 * time.Millisecond

// opCtx is one request's context: the handler's store budget, and a
// record naming the operation, for the capacity meter.
func opCtx(op string) (context.Context, context.CancelFunc) {
	return context.WithTimeout(observe.NewContext(context.Background(), &observe.Request{Operation: op}), storeTimeout)
}

// uniq returns a uid no other benchmark iteration uses.
func uniq(prefix string, i int) string {
	return fmt.Sprintf("%s-%08x-%d", prefix, rand.Uint32(), i)
}

// latencies collects per-call durations; report adds percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, unit time.Duration, name string) {
	b.Helper()
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := min(len(s)-1, max(0, int(float64(len(s))*q+0.999999)-1))
		return float64(s[i]) / float64(unit)
	}
	b.ReportMetric(at(0.50), "p50-"+name)
	b.ReportMetric(at(0.99), "p99-"+name)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	b.ReportMetric(float64(sum)/float64(len(s))/float64(unit), "mean-"+name)
}

// processCPU is this process's CPU time so far (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU time per operation since start
// (cpu-µs/op): what a Lambda function would spend on the CPU for it, at a
// full core (docs/BENCHMARKS.md, "Lambda memory").
func reportCPU(b *testing.B, start time.Duration, n int) {
	b.Helper()
	b.ReportMetric(float64(processCPU()-start)/float64(max(n, 1))/float64(time.Microsecond), "cpu-µs/op")
}

// reportCapacity adds DynamoDB calls and capacity units per operation,
// from what m counted under op during the benchmark's n operations.
func reportCapacity(b *testing.B, m *capacity.Meter, op string, n int) {
	b.Helper()
	o := m.Snapshot()[op]
	per := float64(max(n, 1))
	b.ReportMetric(float64(o.CallsTotal)/per, "ddb-calls/op")
	b.ReportMetric(o.ModelWrite/per, "WCU/op")
	b.ReportMetric(o.ModelRead/per, "RCU/op")
}

// observedService is a lease.Service over a DynamoDB store on a fresh table
// whose calls m counts.
func observedService(b *testing.B, m *capacity.Meter, opts ...lease.Option) *lease.Service {
	b.Helper()
	store := dynamostore.New(dynamostore.Observed(localDynamo(b), m.Observe), dynamostore.WithTable(newTable(b)))
	svc, err := lease.New(store, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// grant acquires a lease or fails the benchmark.
func grant(b *testing.B, svc *lease.Service, uid, device string) lease.Lease {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: device})
	if err != nil || !d.Granted {
		b.Fatalf("setup canStream %s: %+v, %v", uid, d, err)
	}
	return d.Lease
}
