// Package observetest checks what streamlimit emits for operators, for
// tests: a fake X-Ray daemon that decodes the segment documents sent to it
// over UDP, and a validator of CloudWatch Embedded Metric Format documents.
// It is test infrastructure only and imports no AWS SDK (only the Lambda
// runtime library, for Invocation).
package observetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Segment is an X-Ray segment or subsegment document, as much of it as the
// tests read.
type Segment struct {
	TraceID     string         `json:"trace_id"`
	ID          string         `json:"id"`
	ParentID    string         `json:"parent_id"`
	Type        string         `json:"type"`
	Name        string         `json:"name"`
	Namespace   string         `json:"namespace"`
	StartTime   float64        `json:"start_time"`
	EndTime     float64        `json:"end_time"`
	InProgress  bool           `json:"in_progress"`
	Fault       bool           `json:"fault"`
	Error       bool           `json:"error"`
	Throttle    bool           `json:"throttle"`
	Annotations map[string]any `json:"annotations"`
	HTTP        struct {
		Request struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
		Response struct {
			Status int `json:"status"`
		} `json:"response"`
	} `json:"http"`
	AWS         map[string]any  `json:"aws"`
	Cause       json.RawMessage `json:"cause"`
	Subsegments []Segment       `json:"subsegments"`
}

// Walk calls f on s and every subsegment below it, depth first.
func (s Segment) Walk(f func(Segment)) {
	f(s)
	for _, sub := range s.Subsegments {
		sub.Walk(f)
	}
}

// Operation returns the AWS operation of an AWS SDK subsegment ("" if
// none), e.g. Query.
func (s Segment) Operation() string {
	op, _ := s.AWS["operation"].(string)
	return op
}

// AWSOperations lists the AWS operations of every subsegment below s, in
// document order.
func (s Segment) AWSOperations() []string {
	var ops []string
	s.Walk(func(x Segment) {
		if x.Namespace == "aws" {
			ops = append(ops, x.Operation())
		}
	})
	return ops
}

// daemonHeader starts every datagram an X-Ray SDK sends.
const daemonHeader = `{"format": "json", "version": 1}` + "\n"

// Daemon is a fake X-Ray daemon on a loopback UDP port.
type Daemon struct {
	conn *net.UDPConn
	mu   sync.Mutex
	docs []Segment
	raw  [][]byte
	errs []error
	done chan struct{}
}

// NewDaemon listens on 127.0.0.1 on a free UDP port until the test ends.
func NewDaemon(tb testing.TB) *Daemon {
	tb.Helper()
	d, err := ListenDaemon("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d
}

// ListenDaemon listens on addr (UDP); Close stops it.
func ListenDaemon(addr string) (*Daemon, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	d := &Daemon{conn: conn, done: make(chan struct{})}
	go d.serve()
	return d, nil
}

// Addr is the daemon's address, for AWS_XRAY_DAEMON_ADDRESS.
func (d *Daemon) Addr() string { return d.conn.LocalAddr().String() }

// Close stops listening.
func (d *Daemon) Close() {
	d.conn.Close()
	<-d.done
}

func (d *Daemon) serve() {
	defer close(d.done)
	buf := make([]byte, 64<<10)
	for {
		n, _, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		pkt := bytes.Clone(buf[:n])
		var seg Segment
		body, ok := bytes.CutPrefix(pkt, []byte(daemonHeader))
		if !ok {
			err = fmt.Errorf("datagram without the X-Ray header: %.80q", pkt)
		} else if err = json.Unmarshal(body, &seg); err != nil {
			err = fmt.Errorf("segment document is not JSON: %v: %.200q", err, body)
		}
		d.mu.Lock()
		d.raw = append(d.raw, pkt)
		if err != nil {
			d.errs = append(d.errs, err)
		} else {
			d.docs = append(d.docs, seg)
		}
		d.mu.Unlock()
	}
}

// Segments returns the documents received so far, and an error for any
// datagram that was not a well-formed segment document.
func (d *Daemon) Segments() ([]Segment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.docs), errors.Join(d.errs...)
}

// SubsegmentsOf returns the documents received so far and fails tb unless
// each is a subsegment of the segment parent (in Lambda: the function's
// segment, under which a handler must never begin a segment of its own).
func (d *Daemon) SubsegmentsOf(tb testing.TB, parent string) []Segment {
	tb.Helper()
	docs, err := d.Segments()
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range docs {
		if s.Type != "subsegment" || s.ParentID != parent {
			tb.Errorf("a document that is not a subsegment of the segment %s: %s %q parent %q", parent, s.Type, s.Name, s.ParentID)
		}
	}
	return docs
}

// Raw returns every datagram received so far, as sent.
func (d *Daemon) Raw() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.raw)
}

// WaitFor waits up to timeout for a received document that match accepts,
// and returns it; it fails the test otherwise. UDP delivery on loopback is
// asynchronous: the timeout only bounds the wait, it asserts no speed.
func (d *Daemon) WaitFor(tb testing.TB, timeout time.Duration, what string, match func(Segment) bool) Segment {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		docs, err := d.Segments()
		if err != nil {
			tb.Fatalf("fake X-Ray daemon: %v", err)
		}
		for _, s := range docs {
			if match(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range docs {
				names = append(names, fmt.Sprintf("%s(%s %v)", s.Name, s.Type, s.Annotations))
			}
			tb.Fatalf("no segment %s within %v; received %d: %v", what, timeout, len(docs), names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// EMF is a decoded Embedded Metric Format document.
type EMF struct {
	// Root is every root member.
	Root map[string]any
	// Namespace, Dimensions and Metrics come from the (first) directive.
	Namespace  string
	Dimensions [][]string
	// Metrics maps each metric name to its unit.
	Metrics map[string]string
	// Timestamp is _aws.Timestamp.
	Timestamp time.Time
}

// Value returns the numeric root member name (false if absent or a
// distribution).
func (e EMF) Value(name string) (float64, bool) {
	v, ok := e.Root[name].(float64)
	return v, ok
}

// Distribution returns the values and counts of the root member name when
// it is a distribution ({"Values": [...], "Counts": [...]}).
func (e EMF) Distribution(name string) (values, counts []float64, ok bool) {
	m, ok := e.Root[name].(map[string]any)
	if !ok {
		return nil, nil, false
	}
	num := func(v any) float64 { f, _ := v.(json.Number).Float64(); return f }
	vs, _ := m["Values"].([]any)
	cs, _ := m["Counts"].([]any)
	for i := range vs {
		values = append(values, num(vs[i]))
		counts = append(counts, num(cs[i]))
	}
	return values, counts, true
}

// Units CloudWatch accepts for a metric.
var Units = []string{
	"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
	"Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
	"Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
	"Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
	"Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}

// IsEMF reports whether line is a JSON object with an _aws member: one that
// CloudWatch Logs would treat as an EMF document.
func IsEMF(line []byte) bool {
	var probe struct {
		AWS json.RawMessage `json:"_aws"`
	}
	return json.Unmarshal(line, &probe) == nil && probe.AWS != nil
}

// ParseEMF decodes one EMF document and checks it against the format's
// rules, so that CloudWatch would extract every metric it declares: an _aws
// object with an integer millisecond Timestamp and a non-empty
// CloudWatchMetrics array of directives, each with a Namespace (1-255
// characters), Dimensions (arrays of at most 30 names, each a root member
// holding a string) and 1-100 Metrics (a Name that is a root member holding
// a number, an array of at most 100 numbers, or a distribution
// {"Values": [...], "Counts": [...]} of 1-100 numbers each, counts
// positive; and a known Unit if any).
func ParseEMF(line []byte) (EMF, error) {
	var e EMF
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return e, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return e, errors.New("more than one JSON value")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return e, errors.New("no _aws object")
	}
	tsNum, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return e, errors.New("_aws.Timestamp is not a number")
	}
	ts, err := tsNum.Int64()
	if err != nil || ts <= 0 {
		return e, fmt.Errorf("_aws.Timestamp %v is not positive integer milliseconds", tsNum)
	}
	e.Timestamp = time.UnixMilli(ts)
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return e, errors.New("_aws.CloudWatchMetrics is not a non-empty array")
	}
	e.Root = map[string]any{}
	for k, v := range root {
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if err != nil {
				return e, fmt.Errorf("member %q: %w", k, err)
			}
			e.Root[k] = f
			continue
		}
		e.Root[k] = v
	}
	e.Metrics = map[string]string{}
	for i, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			return e, fmt.Errorf("directive %d is not an object", i)
		}
		ns, _ := dir["Namespace"].(string)
		if ns == "" || len(ns) > 255 {
			return e, fmt.Errorf("directive %d: Namespace %q is not 1-255 characters", i, ns)
		}
		dimSets, ok := dir["Dimensions"].([]any)
		if !ok {
			return e, fmt.Errorf("directive %d: Dimensions is not an array", i)
		}
		var sets [][]string
		for _, ds := range dimSets {
			names, ok := ds.([]any)
			if !ok || len(names) > 30 {
				return e, fmt.Errorf("directive %d: a dimension set is not an array of at most 30 names", i)
			}
			var set []string
			for _, n := range names {
				name, _ := n.(string)
				if _, ok := root[name].(string); !ok {
					return e, fmt.Errorf("directive %d: dimension %q is not a root member holding a string", i, name)
				}
				set = append(set, name)
			}
			sets = append(sets, set)
		}
		metrics, ok := dir["Metrics"].([]any)
		if !ok || len(metrics) == 0 || len(metrics) > 100 {
			return e, fmt.Errorf("directive %d: Metrics is not an array of 1-100 metrics", i)
		}
		for _, m := range metrics {
			md, ok := m.(map[string]any)
			if !ok {
				return e, fmt.Errorf("directive %d: a metric is not an object", i)
			}
			name, _ := md["Name"].(string)
			if name == "" {
				return e, fmt.Errorf("directive %d: a metric has no Name", i)
			}
			if err := checkValue(root[name]); err != nil {
				return e, fmt.Errorf("metric %q: %w", name, err)
			}
			unit, hasUnit := md["Unit"]
			u, _ := unit.(string)
			if hasUnit && !slices.Contains(Units, u) {
				return e, fmt.Errorf("metric %q: unit %v is not a CloudWatch unit", name, unit)
			}
			e.Metrics[name] = u
		}
		if i == 0 {
			e.Namespace, e.Dimensions = ns, sets
		}
	}
	return e, nil
}

func checkValue(v any) error {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("value %v is not a finite number", x)
		}
		return nil
	case []any:
		if len(x) == 0 || len(x) > 100 {
			return errors.New("value array must hold 1-100 numbers")
		}
		for _, e := range x {
			if err := checkValue(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		vs, ok1 := x["Values"].([]any)
		cs, ok2 := x["Counts"].([]any)
		if !ok1 || !ok2 || len(x) != 2 || len(vs) != len(cs) {
			return errors.New(`a distribution is {"Values": [...], "Counts": [...]} of equal lengths`)
		}
		if err := checkValue(vs); err != nil {
			return fmt.Errorf("Values: %w", err)
		}
		for _, c := range cs {
			n, ok := c.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil || !(f > 0) || math.IsInf(f, 0) {
				return fmt.Errorf("count %v is not a positive number", c)
			}
		}
		return nil
	case nil:
		return errors.New("no root member holds its value")
	}
	return fmt.Errorf("value %v is not a number", v)
}

// Totals is what the EMF documents among some lines add up to.
type Totals struct {
	// Docs counts the documents.
	Docs int
	// Sums adds up each numeric metric; Samples adds up the counts of each
	// distribution (one per value for a plain number).
	Sums, Samples map[string]float64
	// Units is each metric's unit.
	Units map[string]string
}

// SumEMF adds up the EMF documents among lines (other lines are skipped),
// failing the test on one that is not valid.
func SumEMF(tb testing.TB, lines []string) Totals {
	tb.Helper()
	t := Totals{Sums: map[string]float64{}, Samples: map[string]float64{}, Units: map[string]string{}}
	for _, l := range lines {
		if !IsEMF([]byte(l)) {
			continue
		}
		e, err := ParseEMF([]byte(l))
		if err != nil {
			tb.Fatalf("invalid EMF document: %v\n%s", err, l)
		}
		t.Docs++
		for name, unit := range e.Metrics {
			t.Units[name] = unit
			if v, ok := e.Value(name); ok {
				t.Sums[name] += v
				t.Samples[name]++
			}
			_, counts, _ := e.Distribution(name)
			for _, c := range counts {
				t.Samples[name] += c
			}
		}
	}
	return t
}
