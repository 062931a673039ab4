package observe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Metric names, as CloudWatch shows them. Every one is published with the
// dimensions (Stage, Operation) and (Stage); none carries a uid.
const (
	// MetricStreamsGranted counts new leases granted (not a device resuming
	// its own live lease).
	MetricStreamsGranted = "StreamsGranted"
	// MetricStreamsRefused counts canStream refusals: an account at its limit.
	MetricStreamsRefused = "StreamsRefused"
	// MetricStreamsDegraded counts fail-open grants: the store failed and
	// the player was let in without a lease being written or counted.
	MetricStreamsDegraded = "StreamsDegraded"
	// MetricStreamsEvicted counts live leases revoked to admit a newer
	// stream (policy evict_oldest).
	MetricStreamsEvicted = "StreamsEvicted"
	// MetricHeartbeats counts heartbeats that renewed their lease.
	MetricHeartbeats = "Heartbeats"
	// MetricHeartbeatsExpired counts heartbeats that found their lease
	// expired or unknown: a player lost its slot.
	MetricHeartbeatsExpired = "HeartbeatsExpired"
	// MetricHeartbeatsRevoked counts heartbeats that found their lease
	// revoked (kicked, evicted, ended by an operator).
	MetricHeartbeatsRevoked = "HeartbeatsRevoked"
	// MetricRequestsOverloaded counts requests refused by admission control
	// before any store work (503 overloaded): the process was shedding load.
	MetricRequestsOverloaded = "RequestsOverloaded"
	// MetricStreamsEnded counts endStream calls that ended a live lease.
	MetricStreamsEnded = "StreamsEnded"
	// MetricLeasesExpired counts expired leases that a grant found and
	// deleted without their player ever ending them: crashed players,
	// killed tabs, lost networks.
	MetricLeasesExpired = "LeasesExpired"
	// MetricStoreErrors counts requests whose lease store failed or stayed
	// contended: answered 503, or granted fail-open.
	MetricStoreErrors = "StoreErrors"
	// MetricRequestsFailed counts requests and WebSocket events answered
	// with an error (status 400 or above) that is not a lease outcome: bad
	// input, a refused identity, an unknown route, a store failure, a bug.
	// A refusal at the limit (a $connect's 403) and a lease found expired
	// or revoked (410) are answers, not failures, and are not counted.
	MetricRequestsFailed = "RequestsFailed"
	// MetricLatency is each request's time in the service, per operation.
	MetricLatency = "Latency"
)

// CloudWatch units used here.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// Datum is one metric of an EMF document: one value, or a distribution
// (Values, each seen Counts times).
type Datum struct {
	Name  string
	Value float64
	Unit  string
	// Values and Counts, when Values is not empty, are the metric's
	// distribution instead of Value: Values[i] was seen Counts[i] times.
	// CloudWatch computes every statistic (sums, averages, percentiles)
	// from it as from the values one by one. At most 100 values.
	Values, Counts []float64
}

// emfDistribution is a metric's member in the values-with-counts form
// (the form of awslabs/metrique's EMF writer: {"Values": [...], "Counts":
// [...]}).
type emfDistribution struct {
	Values []float64 `json:"Values"`
	Counts []float64 `json:"Counts"`
}

// Dimension is one dimension's name and value.
type Dimension struct {
	Name  string
	Value string
}

// emfMetadata is the "_aws" member of an EMF document.
type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

// EMF limits (CloudWatch Embedded Metric Format specification).
const (
	emfMaxMetrics    = 100
	emfMaxDimensions = 30
	emfMaxNamespace  = 255
)

// EncodeEMF returns one EMF document (a JSON object, no newline): data as
// root members (a number, or a distribution's values with counts) with one metric directive in namespace, published for each
// dimension set of sets (each set names dimensions of dims; an empty set
// publishes without dimensions), plus props as extra searchable members.
// It rejects what CloudWatch would drop: a bad namespace, more than 100
// metrics or 30 dimensions per set, non-finite values, duplicate or
// clashing member names, and sets naming an unknown dimension.
func EncodeEMF(namespace string, ts time.Time, dims []Dimension, sets [][]string, data []Datum, props map[string]any) ([]byte, error) {
	if namespace == "" || len(namespace) > emfMaxNamespace {
		return nil, fmt.Errorf("emf: namespace %q must be 1-%d characters", namespace, emfMaxNamespace)
	}
	if len(data) == 0 || len(data) > emfMaxMetrics {
		return nil, fmt.Errorf("emf: %d metrics, want 1-%d", len(data), emfMaxMetrics)
	}
	doc := make(map[string]any, 1+len(dims)+len(data)+len(props))
	claim := func(name string, v any) error {
		if name == "" || name == "_aws" {
			return fmt.Errorf("emf: member name %q is reserved or empty", name)
		}
		if _, dup := doc[name]; dup {
			return fmt.Errorf("emf: member %q given twice", name)
		}
		doc[name] = v
		return nil
	}
	for _, d := range dims {
		if d.Value == "" {
			return nil, fmt.Errorf("emf: dimension %q has no value", d.Name)
		}
		if err := claim(d.Name, d.Value); err != nil {
			return nil, err
		}
	}
	for _, set := range sets {
		if len(set) > emfMaxDimensions {
			return nil, fmt.Errorf("emf: a dimension set has %d dimensions, want at most %d", len(set), emfMaxDimensions)
		}
		for _, name := range set {
			if _, ok := doc[name].(string); !ok {
				return nil, fmt.Errorf("emf: dimension set names %q, which has no value", name)
			}
		}
	}
	dir := emfDirective{Namespace: namespace, Dimensions: sets, Metrics: make([]emfMetric, 0, len(data))}
	if dir.Dimensions == nil {
		dir.Dimensions = [][]string{}
	}
	for _, m := range data {
		v, err := emfValue(m)
		if err != nil {
			return nil, err
		}
		if err := claim(m.Name, v); err != nil {
			return nil, err
		}
		dir.Metrics = append(dir.Metrics, emfMetric{Name: m.Name, Unit: m.Unit})
	}
	for k, v := range props {
		if err := claim(k, v); err != nil {
			return nil, err
		}
	}
	doc["_aws"] = emfMetadata{Timestamp: ts.UnixMilli(), CloudWatchMetrics: []emfDirective{dir}}
	return json.Marshal(doc)
}

// emfValue is the member holding m's value: a number, or its
// distribution.
func emfValue(m Datum) (any, error) {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if len(m.Values) == 0 {
		if !finite(m.Value) {
			return nil, fmt.Errorf("emf: metric %q is %v", m.Name, m.Value)
		}
		return m.Value, nil
	}
	if len(m.Values) > emfMaxValues || len(m.Counts) != len(m.Values) {
		return nil, fmt.Errorf("emf: metric %q has %d values and %d counts, want 1-%d of each", m.Name, len(m.Values), len(m.Counts), emfMaxValues)
	}
	for i, v := range m.Values {
		if !finite(v) || !finite(m.Counts[i]) || m.Counts[i] <= 0 {
			return nil, fmt.Errorf("emf: metric %q: value %v counted %v times", m.Name, v, m.Counts[i])
		}
	}
	return emfDistribution{Values: m.Values, Counts: m.Counts}, nil
}

// emfWriter writes EMF documents as lines, one whole line per Write.
type emfWriter struct {
	mu sync.Mutex
	w  io.Writer
}

var errShortWrite = errors.New("emf: short write")

func (e *emfWriter) writeLine(doc []byte) error {
	line := append(doc, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.w.Write(line)
	if err == nil && n < len(line) {
		err = errShortWrite
	}
	return err
}
