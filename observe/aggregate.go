package observe

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultFlushEvery is the interval the metrics are aggregated over when
// Config.FlushEvery is zero: CloudWatch's standard resolution, one minute.
const DefaultFlushEvery = time.Minute

// emfMaxValues is the most values one metric of an EMF document holds.
const emfMaxValues = 100

// aggregator sums the metrics of the records of one interval, per
// operation: the counters as sums, the latencies as a distribution.
type aggregator struct {
	every time.Duration
	mu    sync.Mutex
	start time.Time // the interval held; zero when empty
	ops   map[string]*opMetrics
}

// opMetrics is one operation's metrics over an interval.
type opMetrics struct {
	sums  map[string]float64 // counter name → sum
	units map[string]string  // metric name → unit
	dists map[string]map[float64]float64
}

// interval is the metrics of one finished interval, per operation.
type interval struct {
	start time.Time
	ops   map[string]*opMetrics
}

func newAggregator(every time.Duration) *aggregator {
	return &aggregator{every: every, ops: map[string]*opMetrics{}}
}

// add adds one record's metrics, made at now, to the interval now falls
// in. When that is a later interval than the one held, the one held is
// returned (to be written) and a new one starts.
func (a *aggregator) add(now time.Time, operation string, data []Datum) *interval {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := now.Truncate(a.every)
	var done *interval
	if !a.start.IsZero() && !at.Equal(a.start) {
		done = a.take()
	}
	if a.start.IsZero() {
		a.start = at
	}
	m := a.ops[operation]
	if m == nil {
		m = &opMetrics{sums: map[string]float64{}, units: map[string]string{}, dists: map[string]map[float64]float64{}}
		a.ops[operation] = m
	}
	for _, d := range data {
		m.units[d.Name] = d.Unit
		if d.Unit == UnitMilliseconds {
			dist := m.dists[d.Name]
			if dist == nil {
				dist = map[float64]float64{}
				m.dists[d.Name] = dist
			}
			dist[twoDigits(d.Value)]++
			continue
		}
		m.sums[d.Name] += d.Value
	}
	return done
}

// due returns the interval held when now is past it (nil otherwise),
// emptying the aggregator.
func (a *aggregator) due(now time.Time) *interval {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.start.IsZero() || now.Truncate(a.every).Equal(a.start) {
		return nil
	}
	return a.take()
}

// all returns whatever is held (nil when empty), emptying the aggregator.
func (a *aggregator) all() *interval {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.start.IsZero() {
		return nil
	}
	return a.take()
}

// take must be called with mu held.
func (a *aggregator) take() *interval {
	done := &interval{start: a.start, ops: a.ops}
	a.start, a.ops = time.Time{}, map[string]*opMetrics{}
	return done
}

// twoDigits rounds a latency to two significant digits (at most 5 % off),
// so that an interval's latencies fall on few distinct values: at most 90
// per power of ten.
func twoDigits(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 2, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// FlushDue writes the metrics of the interval held if it is over: the
// long-running server calls it on a ticker, so that an idle server's last
// interval is not held back until the next request.
func (o *Observer) FlushDue(ctx context.Context) {
	if o.agg == nil {
		return
	}
	if done := o.agg.due(o.now()); done != nil {
		o.writeMetrics(ctx, done)
	}
}

// Flush writes the metrics held, over or not: at shutdown (the local
// server's SIGTERM, Lambda's SIGTERM before an instance is retired).
func (o *Observer) Flush(ctx context.Context) {
	if o.agg == nil {
		return
	}
	if done := o.agg.all(); done != nil {
		o.writeMetrics(ctx, done)
	}
}

// writeMetrics writes one EMF document per operation of the interval,
// stamped with the interval's start: its counters' sums and, as values
// with counts, its latencies (more documents when a distribution has more
// than 100 distinct values, the format's limit per metric).
func (o *Observer) writeMetrics(ctx context.Context, iv *interval) {
	for _, op := range slices.Sorted(maps.Keys(iv.ops)) {
		m := iv.ops[op]
		var data []Datum
		for _, name := range slices.Sorted(maps.Keys(m.sums)) {
			data = append(data, Datum{Name: name, Value: m.sums[name], Unit: m.units[name]})
		}
		docs := [][]Datum{data}
		for _, name := range slices.Sorted(maps.Keys(m.dists)) {
			values := slices.Sorted(maps.Keys(m.dists[name]))
			for i := 0; i < len(values); i += emfMaxValues {
				part := values[i:min(i+emfMaxValues, len(values))]
				counts := make([]float64, len(part))
				for j, v := range part {
					counts[j] = m.dists[name][v]
				}
				d := Datum{Name: name, Unit: m.units[name], Values: part, Counts: counts}
				if k := i / emfMaxValues; k < len(docs) {
					docs[k] = append(docs[k], d)
				} else {
					docs = append(docs, []Datum{d})
				}
			}
		}
		dims := []Dimension{{DimStage, o.stage}, {DimOperation, op}}
		for _, d := range docs {
			if len(d) == 0 {
				continue
			}
			doc, err := EncodeEMF(o.ns, iv.start, dims, o.dimSets, d, nil)
			if err == nil {
				err = o.emf.writeLine(doc)
			}
			if err != nil {
				o.log.LogAttrs(ctx, slog.LevelError, "metrics not written", slog.String("operation", op), slog.String("error", err.Error()))
			}
		}
	}
}
