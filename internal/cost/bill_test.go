package cost_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/internal/cost"
)

// measured is a run with round figures: canStream 2 calls / 4 WCU / 1 RCU
// / 10 ms, heartbeat 2 calls / 1 WCU / 0.5 RCU / 5 ms, endStream 2 calls /
// 4 WCU / 1 RCU / 8 ms; 128 µs of server CPU and 654 bytes of output per
// request.
func measured() cost.Measured {
	return cost.Measured{
		Ops: map[string]cost.Op{
			cost.CanStream: {Calls: 2, WriteUnits: 4, ReadUnits: 1, LatencyMs: 10},
			cost.Heartbeat: {Calls: 2, WriteUnits: 1, ReadUnits: 0.5, LatencyMs: 5},
			cost.EndStream: {Calls: 2, WriteUnits: 4, ReadUnits: 1, LatencyMs: 8},
		},
		CPUMs:       0.128,
		OutputBytes: 654,
	}
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.10g, want %.10g", what, got, want)
	}
}

func TestHourMix(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		interval  time.Duration
		heartbeat float64
	}{{15 * time.Second, 240}, {30 * time.Second, 120}, {60 * time.Second, 60}} {
		m := cost.HourMix(c.interval)
		near(t, "heartbeats at "+c.interval.String(), m[cost.Heartbeat], c.heartbeat)
		near(t, "requests at "+c.interval.String(), m.Requests(), c.heartbeat+2)
	}
}

// TestBilledMs: the DynamoDB wait stays, the CPU part stretches with less
// memory: 0.128 ms of CPU is 0.128 × 1769/128 = 1.769 ms at 128 MB and
// 0.8845 ms at 256 MB; 0.5 ms of rounding on top.
func TestBilledMs(t *testing.T) {
	t.Parallel()
	hb := measured().Ops[cost.Heartbeat]
	near(t, "128 MB", cost.BilledMs(hb, 0.128, 128), 4.872+1.769+0.5)
	near(t, "256 MB", cost.BilledMs(hb, 0.128, 256), 4.872+0.8845+0.5)
	near(t, "1769 MB", cost.BilledMs(hb, 0.128, 1769), 5.5)
	near(t, "3008 MB (one thread: no faster than a vCPU)", cost.BilledMs(hb, 0.128, 3008), 5.5)
	near(t, "CPU above the latency", cost.BilledMs(cost.Op{LatencyMs: 0.1}, 0.128, 1769), 0.628)
}

// TestLambdaBill: one-hour sessions at 30 s heartbeats = 1 canStream, 120
// heartbeats, 1 endStream = 122 requests per stream-hour.
func TestLambdaBill(t *testing.T) {
	t.Parallel()
	mix := cost.HourMix(30 * time.Second)
	b := cost.LambdaBill(measured(), mix, cost.Lambda{Gateway: cost.HTTPAPI, MemoryMB: 128, TraceRate: 0.05}, cost.List)
	near(t, "gateway", b.Item("gateway").USD, 122)           // 122 × $1.00
	near(t, "requests", b.Item("Lambda requests").USD, 24.4) // 122 × $0.20
	// Billed per request at 128 MB (CPU part 1.769 ms, rounding 0.5 ms):
	// heartbeat 4.872 + 1.769 + 0.5 = 7.141 ms, canStream 12.141 ms,
	// endStream 10.141 ms; 120 × 7.141 + 12.141 + 10.141 = 879.202 ms;
	// × 0.125 GB = 0.10990025 GB-s × $13.3334 per million GB-s.
	near(t, "duration", b.Item("Lambda duration").USD, 1.4653439933)
	near(t, "writes", b.Item("DynamoDB writes").USD, 80)  // (4 + 120 + 4) × $0.625
	near(t, "reads", b.Item("DynamoDB reads").USD, 7.75)  // (1 + 60 + 1) × $0.125
	near(t, "logs", b.Item("logs ingestion").USD, 39.894) // 122 × 654 B = 79,788 B → 79.788 GB per M × $0.50
	near(t, "X-Ray", b.Item("X-Ray traces").USD, 30.5)    // 122 × 5 % = 6.1 traces × $5
	near(t, "total", b.Total, 306.0093439933)

	url := cost.LambdaBill(measured(), mix, cost.Lambda{Gateway: cost.FunctionURL, MemoryMB: 128, TraceRate: 0.05}, cost.List)
	near(t, "Function URL gateway", url.Item("gateway").USD, 0)
	near(t, "Function URL total", url.Total, 306.0093439933-122)

	// 256 MB: 120 × 6.2565 + 11.2565 + 9.2565 = 771.293 ms × 0.25 GB.
	b256 := cost.LambdaBill(measured(), mix, cost.Lambda{Gateway: cost.FunctionURL, MemoryMB: 256}, cost.List)
	near(t, "duration at 256 MB", b256.Item("Lambda duration").USD, 2.5709895215)
	near(t, "no tracing", b256.Item("X-Ray traces").USD, 0)

	// Platform lines of 300 B: 122 × (654 + 300) B = 116.388 GB per M.
	plat := cost.LambdaBill(measured(), mix, cost.Lambda{Gateway: cost.FunctionURL, MemoryMB: 128, PlatformLogBytes: 300}, cost.List)
	near(t, "logs with platform lines", plat.Item("logs ingestion").USD, 58.194)
}

// TestLambdaBillRunMix: the run's own mix (requests per stream-hour of each
// operation) is billed the same way: 3 canStream, 100 heartbeats, 2
// endStream = 105 requests, (12 + 100 + 8) = 120 write units.
func TestLambdaBillRunMix(t *testing.T) {
	t.Parallel()
	mix := cost.Mix{cost.CanStream: 3, cost.Heartbeat: 100, cost.EndStream: 2}
	b := cost.LambdaBill(measured(), mix, cost.Lambda{Gateway: cost.HTTPAPI, MemoryMB: 128}, cost.List)
	near(t, "gateway", b.Item("gateway").USD, 105)
	near(t, "writes", b.Item("DynamoDB writes").USD, 75)  // 120 × $0.625
	near(t, "reads", b.Item("DynamoDB reads").USD, 6.875) // (3 + 50 + 2) = 55 × $0.125
}

// TestContainerBill: 100,000 concurrent streams of one-hour sessions at 30 s:
// 100,000 × 122 / 3600 = 3,388.9 req/s × 128 µs = 0.434 cores, / 0.5
// target = 0.87 → the floor of 2 tasks (1 vCPU / 2 GB: $0.03238 + 2 ×
// $0.00356 = $0.0395 an hour each) = $0.079/h, per million stream-hours ×
// 10^6 / 10^5 = $0.79. Load balancer: max(100,000 / 3,000 = 33.33 LCU
// for connections, 3,388.9 × 3,600 × 1,500 B = 18.3 GB/h) = 33.33 LCU:
// ($0.0225 + 33.33 × $0.008) × 10 = $2.8917. Writes: 100,000 × 128 / 3600
// / 0.7 = 5,079.4 → 5,080 WCU × $0.00065 × 10 = $33.02. Reads: 100,000 ×
// 62 / 3600 / 0.7 = 2,460.3 → 2,461 RCU × $0.00013 × 10 = $3.1993. Logs
// and traces as on Lambda without platform lines: $39.894 + $30.50.
func TestContainerBill(t *testing.T) {
	t.Parallel()
	c := cost.Container{TaskVCPU: 1, TaskGB: 2, MinTasks: 2, CPUTarget: 0.5, TableTarget: 0.7,
		MinWCU: 5, MinRCU: 5, RequestBytes: 1500, TraceRate: 0.05} // no reservoir
	b := cost.ContainerBill(measured(), cost.HourMix(30*time.Second), c, cost.List, 100_000)
	near(t, "tasks", b.Item("Fargate tasks").USD, 0.79)
	near(t, "load balancer", b.Item("load balancer").USD, 2.8916666667)
	near(t, "writes", b.Item("DynamoDB writes").USD, 33.02)
	near(t, "reads", b.Item("DynamoDB reads").USD, 3.1993)
	near(t, "logs", b.Item("logs ingestion").USD, 39.894)
	near(t, "X-Ray", b.Item("X-Ray traces").USD, 30.5)
	near(t, "total", b.Total, 0.79+2.8916666667+33.02+3.1993+39.894+30.5)

	// 10 million streams: 338,889 req/s × 128 µs / 0.5 = 86.76 cores → 87
	// tasks × $0.0395 = $3.4365/h, × 10^6 / 10^7 = $0.34365.
	big := cost.ContainerBill(measured(), cost.HourMix(30*time.Second), c, cost.List, 10_000_000)
	near(t, "tasks at 10 M", big.Item("Fargate tasks").USD, 0.34365)

	// The server's own sampling, 1 a second per task then 1 %: at 1,000
	// streams, 33.89 req/s on the floor of 2 tasks: (2 + 31.89 × 0.01) ×
	// 3,600 = 8,348 traces an hour, 8.348 per stream-hour: $41.74 per
	// million; at 10 million streams the reservoir of 87 tasks is a small
	// share: (87 + 338,801.9 × 0.01) × 3,600 / 10^7 × $5 = $6.255034.
	c.TraceReservoir, c.TraceRate = 1, 0.01
	small := cost.ContainerBill(measured(), cost.HourMix(30*time.Second), c, cost.List, 1_000)
	near(t, "X-Ray at 1,000 streams", small.Item("X-Ray traces").USD, (2+(1000*122.0/3600-2)*0.01)*3600/1000*5)
	near(t, "X-Ray, hand-computed", small.Item("X-Ray traces").USD, 41.74)
	big = cost.ContainerBill(measured(), cost.HourMix(30*time.Second), c, cost.List, 10_000_000)
	near(t, "X-Ray at 10 M", big.Item("X-Ray traces").USD, 6.255034)
}

// TestCrossover: the container fleet's fixed floor makes it dearer for a
// small audience and cheaper for a large one; the crossover is the first
// grid point where it is cheaper, and the one before it is not.
func TestCrossover(t *testing.T) {
	t.Parallel()
	mix := cost.HourMix(30 * time.Second)
	lambda := cost.LambdaBill(measured(), mix, cost.Lambda{Gateway: cost.FunctionURL, MemoryMB: 128, TraceRate: 0.05}, cost.List).Total
	n := cost.Crossover(measured(), mix, cost.DefaultContainer, cost.List, lambda)
	if n <= 1 {
		t.Fatalf("crossover %g: want an audience above 1", n)
	}
	if got := cost.ContainerBill(measured(), mix, cost.DefaultContainer, cost.List, n).Total; got >= lambda {
		t.Errorf("at the crossover %g the fleet costs $%.2f ≥ Lambda's $%.2f", n, got, lambda)
	}
	// The grid point before n: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 per decade.
	grid := []float64{}
	for e := 0.0; e < 8; e++ {
		for _, f := range []float64{1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8} {
			grid = append(grid, f*math.Pow(10, e))
		}
	}
	for i, g := range grid {
		if g == n {
			if got := cost.ContainerBill(measured(), mix, cost.DefaultContainer, cost.List, grid[i-1]).Total; got < lambda {
				t.Errorf("at %g, before the crossover %g, the fleet already costs $%.2f < $%.2f", grid[i-1], n, got, lambda)
			}
		}
	}
	if n := cost.Crossover(measured(), mix, cost.DefaultContainer, cost.List, 1); n != 0 {
		t.Errorf("crossover against $1 per million stream-hours: %g, want none (0)", n)
	}
}

// TestPricesHaveSources: every price names its source; the ones facts.md
// does not hold say they were not checked.
func TestPricesHaveSources(t *testing.T) {
	t.Parallel()
	for _, r := range cost.List.Rows() {
		if r.USD <= 0 || r.Unit == "" || r.Source == "" {
			t.Errorf("%s: %+v lacks a price, unit or source", r.Name, r.Price)
		}
		if !r.Checked && !strings.Contains(r.Source, "not checked") {
			t.Errorf("%s: unchecked price whose source does not say so: %q", r.Name, r.Source)
		}
	}
}
