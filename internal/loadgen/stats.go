package loadgen

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Outcome names what one request got: the HTTP status ("200", "410",
// "503", ...) or, without an answer, "timeout" or "conn_error".
type Outcome = string

// Outcomes without an HTTP answer.
const (
	OutcomeTimeout   Outcome = "timeout"
	OutcomeConnError Outcome = "conn_error"
)

// opStats collects one operation's latencies and outcomes.
type opStats struct {
	mu        sync.Mutex
	latencies []time.Duration
	outcomes  map[Outcome]int64
	slow      int64 // answers slower than slowLimit
}

// OpReport is one operation's figures for a run.
type OpReport struct {
	Count    int64             `json:"count"`
	Outcomes map[Outcome]int64 `json:"outcomes"`
	// Errors counts answers other than 200.
	Errors int64   `json:"errors"`
	MeanMs float64 `json:"meanMs"`
	P50ms  float64 `json:"p50ms"`
	P95ms  float64 `json:"p95ms"`
	P99ms  float64 `json:"p99ms"`
	MaxMs  float64 `json:"maxMs"`
	// Slow counts answers (of any status) slower than Config.SlowLimit.
	Slow int64 `json:"slow"`
}

type stats struct {
	slowLimit time.Duration
	mu        sync.Mutex
	ops       map[string]*opStats
}

func newStats(slowLimit time.Duration) *stats {
	return &stats{slowLimit: slowLimit, ops: map[string]*opStats{}}
}

func (s *stats) op(name string) *opStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.ops[name]
	if o == nil {
		o = &opStats{outcomes: map[Outcome]int64{}}
		s.ops[name] = o
	}
	return o
}

func (s *stats) record(op string, outcome Outcome, d time.Duration) {
	o := s.op(op)
	o.mu.Lock()
	o.latencies = append(o.latencies, d)
	o.outcomes[outcome]++
	if s.slowLimit > 0 && d >= s.slowLimit {
		o.slow++
	}
	o.mu.Unlock()
}

// counts returns each operation's count and non-200 count so far.
func (s *stats) counts() (count, errs map[string]int64) {
	count, errs = map[string]int64{}, map[string]int64{}
	s.mu.Lock()
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		o := s.op(n)
		o.mu.Lock()
		for oc, c := range o.outcomes {
			count[n] += c
			if oc != "200" {
				errs[n] += c
			}
		}
		o.mu.Unlock()
	}
	return count, errs
}

// recentP99 returns the 99th percentile of op's last n latencies (0 for
// an operation not seen yet, which it does not add to the report).
func (s *stats) recentP99(op string, n int) time.Duration {
	s.mu.Lock()
	o := s.ops[op]
	s.mu.Unlock()
	if o == nil {
		return 0
	}
	o.mu.Lock()
	lat := o.latencies[max(0, len(o.latencies)-n):]
	lat = slices.Clone(lat)
	o.mu.Unlock()
	return percentile(lat, 0.99)
}

func (s *stats) report() map[string]OpReport {
	out := map[string]OpReport{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, o := range s.ops {
		o.mu.Lock()
		lat := slices.Clone(o.latencies)
		r := OpReport{Count: int64(len(lat)), Outcomes: map[Outcome]int64{}, Slow: o.slow}
		for k, v := range o.outcomes {
			r.Outcomes[k] = v
			if k != "200" {
				r.Errors += v
			}
		}
		o.mu.Unlock()
		slices.Sort(lat)
		r.P50ms, r.P95ms, r.P99ms = ms(percentileSorted(lat, .50)), ms(percentileSorted(lat, .95)), ms(percentileSorted(lat, .99))
		if len(lat) > 0 {
			r.MaxMs = ms(lat[len(lat)-1])
			var sum time.Duration
			for _, d := range lat {
				sum += d
			}
			r.MeanMs = ms(sum / time.Duration(len(lat)))
		}
		out[name] = r
	}
	return out
}

func percentile(lat []time.Duration, q float64) time.Duration {
	slices.Sort(lat)
	return percentileSorted(lat, q)
}

// percentileSorted is the nearest-rank percentile of sorted latencies.
func percentileSorted(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	i := int(float64(len(lat))*q+0.999999) - 1
	return lat[min(max(i, 0), len(lat)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// formatOutcomes renders outcomes as "200:1234 410:2".
func formatOutcomes(m map[Outcome]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}
