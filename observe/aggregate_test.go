package observe_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
	"github.com/streamlimit/streamlimit/observe"
)

// manualClock is an Observer clock a test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// docs decodes every EMF document of out, in order.
func docs(t *testing.T, out *bytes.Buffer) []observetest.EMF {
	t.Helper()
	var all []observetest.EMF
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		e, err := observetest.ParseEMF([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		all = append(all, e)
	}
	return all
}

// The metrics of an interval are written once, when it is over: one
// document per operation, stamped with the interval's start, holding the
// counters' sums and the latencies as values with counts (rounded to two
// significant digits); nothing is written before. FlushDue writes an
// interval that is over, Flush whatever is held.
func TestMetricsAggregatedPerInterval(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := &manualClock{now: time.Date(2026, 12, 4, 10, 0, 5, 0, time.UTC)}
	o := observe.New(observe.Config{Metrics: &out, Stage: "prod", Now: clock.Now})
	ctx := context.Background()
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for i := range 30 {
		o.Finish(ctx, &observe.Request{Operation: "heartbeat", Status: 200, Decision: observe.Renewed}, ms(4.04+float64(i%3)))
	}
	o.Finish(ctx, &observe.Request{Operation: "heartbeat", Status: 410, Decision: observe.Expired}, ms(2))
	o.Finish(ctx, &observe.Request{Operation: "canStream", Status: 200, Decision: observe.Granted, Reclaimed: 2}, ms(12.3))
	o.Finish(ctx, &observe.Request{Operation: "canStream", Status: 503, StoreError: true}, ms(1500))
	clock.Set(clock.Now().Add(50 * time.Second)) // 10:00:55, the same minute
	o.FlushDue(ctx)
	if out.Len() != 0 {
		t.Fatalf("metrics written before the interval is over:\n%s", out.String())
	}

	clock.Set(clock.Now().Add(10 * time.Second)) // 10:01:05: the first record writes 10:00's
	o.Finish(ctx, &observe.Request{Operation: "endStream", Status: 200, Decision: observe.Ended}, ms(7))
	got := docs(t, &out)
	if len(got) != 2 {
		t.Fatalf("%d documents, want one per operation of 10:00 (canStream, heartbeat):\n%s", len(got), out.String())
	}
	byOp := map[string]observetest.EMF{}
	for _, e := range got {
		byOp[e.Root["Operation"].(string)] = e
		if want := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC); !e.Timestamp.Equal(want) || e.Root["Stage"] != "prod" {
			t.Errorf("document stamped %v stage %v; want the interval's start %v, prod", e.Timestamp, e.Root["Stage"], want)
		}
		if strings.Join(e.Dimensions[0], ",") != "Stage,Operation" || strings.Join(e.Dimensions[1], ",") != "Stage" {
			t.Errorf("dimension sets %v", e.Dimensions)
		}
	}
	hb, cs := byOp["heartbeat"], byOp["canStream"]
	for _, c := range []struct {
		e     observetest.EMF
		name  string
		value float64
	}{
		{hb, "Heartbeats", 30}, {hb, "HeartbeatsExpired", 1},
		{cs, "StreamsGranted", 1}, {cs, "LeasesExpired", 2}, {cs, "StoreErrors", 1}, {cs, "RequestsFailed", 1},
	} {
		if v, ok := c.e.Value(c.name); !ok || v != c.value {
			t.Errorf("%s %s = %v (%v), want %v", c.e.Root["Operation"], c.name, v, ok, c.value)
		}
	}
	if v, c, _ := hb.Distribution("Latency"); !slices.Equal(v, []float64{2, 4, 5, 6}) || !slices.Equal(c, []float64{1, 10, 10, 10}) {
		t.Errorf("heartbeat latencies %v × %v; want [2 4 5 6] × [1 10 10 10]", v, c)
	}
	if v, c, _ := cs.Distribution("Latency"); !slices.Equal(v, []float64{12, 1500}) || !slices.Equal(c, []float64{1, 1}) {
		t.Errorf("canStream latencies %v × %v; want [12 1500] × [1 1]", v, c)
	}

	out.Reset()
	clock.Set(clock.Now().Add(time.Minute)) // 10:02:05, no request: FlushDue writes 10:01's
	o.FlushDue(ctx)
	if got := docs(t, &out); len(got) != 1 || got[0].Root["Operation"] != "endStream" || !got[0].Timestamp.Equal(time.Date(2026, 12, 4, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("FlushDue wrote %v", out.String())
	}
	out.Reset()
	o.Finish(ctx, &observe.Request{Operation: "streams", Status: 200}, ms(1))
	o.Flush(ctx)
	if got := docs(t, &out); len(got) != 1 || got[0].Root["Operation"] != "streams" {
		t.Errorf("Flush wrote %v", out.String())
	}
	out.Reset()
	o.Flush(ctx)
	if out.Len() != 0 {
		t.Errorf("a second Flush wrote %s", out.String())
	}
}

// An interval with more distinct latencies than a metric may hold (100)
// spreads them over more documents, the counters written once.
func TestMetricsSplitLongDistributions(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	o := observe.New(observe.Config{Metrics: &out})
	for i := range 200 { // 1.0 to 20.9 ms: 102 values of two digits
		o.Finish(context.Background(), &observe.Request{Operation: "heartbeat", Status: 200, Decision: observe.Renewed},
			time.Duration(1000+100*i)*time.Microsecond)
	}
	o.Flush(context.Background())
	got := docs(t, &out)
	var n, counted float64
	for _, e := range got {
		v, c, _ := e.Distribution("Latency")
		if len(v) > 100 {
			t.Errorf("a document holds %d latencies", len(v))
		}
		for _, x := range c {
			counted += x
		}
		if h, ok := e.Value("Heartbeats"); ok {
			n += h
		}
	}
	if len(got) != 2 || n != 200 || counted != 200 {
		t.Errorf("%d documents, Heartbeats %v, latencies counted %v; want 2, 200, 200", len(got), n, counted)
	}
}

// Errors, refusals, expired and revoked leases and evictions are always
// logged; the other records only as often as LogSample says.
func TestLogSampling(t *testing.T) {
	t.Parallel()
	always := []*observe.Request{
		{Operation: "canStream", Status: 200, Decision: observe.Refused},
		{Operation: "canStream", Status: 200, Decision: observe.Granted, Evicted: 1},
		{Operation: "canStream", Status: 200, Decision: observe.Degraded, StoreError: true},
		{Operation: "heartbeat", Status: 410, Decision: observe.Expired},
		{Operation: "heartbeat", Status: 410, Decision: observe.Revoked},
		{Operation: "canStream", Status: 400},
		{Operation: "unmatched", Status: 404},
		{Operation: "canStream", Status: 503, StoreError: true},
		{Operation: "streams", Status: 500},
	}
	successes := []*observe.Request{
		{Operation: "canStream", Status: 200, Decision: observe.Granted, Reclaimed: 1},
		{Operation: "canStream", Status: 200, Decision: observe.Resumed},
		{Operation: "heartbeat", Status: 200, Decision: observe.Renewed},
		{Operation: "endStream", Status: 200, Decision: observe.Ended},
		{Operation: "endStream", Status: 200, Decision: observe.NotLive},
		{Operation: "healthz", Status: 200},
		// Shed by admission: sampled, so that an overload does not log a
		// line per refusal (RequestsOverloaded counts them).
		{Operation: "canStream", Status: 503, Decision: observe.Overloaded},
	}
	count := func(sample float64, recs []*observe.Request, times int) int {
		var logs bytes.Buffer
		o := observe.New(observe.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), LogSample: sample})
		for range times {
			for _, r := range recs {
				o.Finish(context.Background(), r, time.Millisecond)
			}
		}
		return strings.Count(logs.String(), "\n")
	}
	for _, r := range always {
		if !observe.Logged(r) {
			t.Errorf("%+v is not always logged", *r)
		}
	}
	for _, r := range successes {
		if observe.Logged(r) {
			t.Errorf("%+v is always logged; want it sampled", *r)
		}
	}
	if n := count(0, always, 1); n != len(always) {
		t.Errorf("LogSample 0: %d lines for %d records that must be logged", n, len(always))
	}
	if n := count(0, successes, 10); n != 0 {
		t.Errorf("LogSample 0: %d lines for successes", n)
	}
	if n := count(1, successes, 1); n != len(successes) {
		t.Errorf("LogSample 1: %d lines for %d successes", n, len(successes))
	}
	// 6,000 successes at 10 %: 600 expected; 400-800 is more than 8
	// standard deviations either way.
	if n := count(0.1, successes, 1000); n < 400 || n > 800 {
		t.Errorf("LogSample 0.1: %d lines for 6,000 successes", n)
	}
}
