package observe

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/config"
)

// DefaultNamespace is the CloudWatch namespace of the metrics.
const DefaultNamespace = "streamlimit"

// Dimension names of the metrics.
const (
	DimStage     = "Stage"
	DimOperation = "Operation"
)

// Config configures an Observer.
type Config struct {
	// Logger receives the request lines (nil: none): every record that
	// failed or was refused (see Logged), and LogSample of the others.
	Logger *slog.Logger
	// LogSample is the share of the records Logged does not insist on (the
	// successful ones) that get a line too, drawn at random: 0 logs none
	// of them, 1 every one.
	LogSample float64
	// Metrics receives the EMF documents, as JSON lines (nil: no metrics):
	// the metrics of every record, aggregated per operation over
	// FlushEvery and written once per interval (see Flush). Documents are
	// written as whole lines at once, so an *os.File shared with the
	// Logger is fine.
	Metrics io.Writer
	// FlushEvery is the interval the metrics are aggregated over
	// (DefaultFlushEvery if zero), aligned to the clock: at 60 s, one
	// interval per minute.
	FlushEvery time.Duration
	// Namespace is the CloudWatch namespace (DefaultNamespace if empty).
	Namespace string
	// Stage is the value of the Stage dimension ("dev" if empty).
	Stage string
	// PlainUID logs uids as they are (LOG_UID=plain). Otherwise a uid is
	// logged as uid_hash: HMAC-SHA256 keyed with UIDKey, 16 hex digits.
	PlainUID bool
	// UIDKey keys the uid hash. Empty: a random key per process, so hashes
	// match only within one process (set LOG_UID_KEY to correlate across
	// Lambda instances and restarts).
	UIDKey []byte
	// Now is the metrics clock (time.Now if nil): it decides which
	// interval a record's metrics belong to.
	Now func() time.Time
	// Tracer, when set, traces every request and event (X-Ray: see
	// Tracer). Nil: nothing is traced.
	Tracer Tracer
	// Sinks are told of every finished record, after its log line and
	// metrics (observe/capacity's Meter).
	Sinks []Sink
}

// Tracer is the trace sink of the records: infra/xray's XRay. Trace wraps
// one HTTP route so that each request is traced under the route's
// operation; the request's record, complete when next returns, is written
// into the trace. Begin starts the trace of an event that is not an HTTP
// request (a WebSocket $connect, message or $disconnect) and returns the
// end that Finish calls once the record is complete. Both put the trace in
// the context, so the DynamoDB calls made under it are traced within it.
type Tracer interface {
	Trace(operation string, next http.Handler) http.Handler
	Begin(ctx context.Context, rec *Request) (context.Context, func())
}

// Sink is told of every finished record, after its log line and metrics.
type Sink interface {
	Finished(rec *Request)
}

// ConfigFrom is the Observer configuration the environment asks for
// (LOG_UID, LOG_UID_KEY, LOG_SAMPLE_RATE, METRICS, METRICS_NAMESPACE,
// METRICS_FLUSH_SECONDS, STAGE), logging on log and writing EMF lines on
// metrics when METRICS is on. Every binary that observes builds its
// Observer from it, so HTTP requests and WebSocket events hash uids the
// same way.
func ConfigFrom(c config.Config, log *slog.Logger, metrics io.Writer) Config {
	oc := Config{
		Logger: log, LogSample: c.LogSampleRate, Namespace: c.MetricsNamespace, Stage: c.Stage,
		PlainUID: c.LogUID == config.LogUIDPlain, UIDKey: []byte(c.LogUIDKey), FlushEvery: c.MetricsFlush,
	}
	if c.Metrics {
		oc.Metrics = metrics
	}
	return oc
}

// NewLogger returns the logger of the binaries: JSON lines on w, or, with
// format config.LogText, slog's key=value lines (for a terminal).
func NewLogger(w io.Writer, format string) *slog.Logger {
	if format == config.LogText {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// Observer owns the record of every request and event: it starts it
// (Start, StartEvent), traces it (Trace, and StartEvent with a Tracer) and,
// once finished, logs it when it must or is sampled, adds its metrics to
// the interval's and tells its sinks (Finish). It writes the metrics of an
// interval once the interval is over (at the first record or FlushDue
// after it) and when asked to (Flush). It is safe for concurrent use.
type Observer struct {
	log     *slog.Logger
	sample  float64
	emf     *emfWriter
	agg     *aggregator
	ns      string
	stage   string
	plain   bool
	uidKey  []byte
	now     func() time.Time
	dimSets [][]string
	tracer  Tracer
	sinks   []Sink
}

// New returns an Observer.
func New(c Config) *Observer {
	o := &Observer{
		log: c.Logger, sample: c.LogSample, ns: c.Namespace, stage: c.Stage, plain: c.PlainUID,
		uidKey: c.UIDKey, now: c.Now, tracer: c.Tracer, sinks: c.Sinks,
		dimSets: [][]string{{DimStage, DimOperation}, {DimStage}},
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if c.Metrics != nil {
		every := c.FlushEvery
		if every <= 0 {
			every = DefaultFlushEvery
		}
		o.emf = &emfWriter{w: c.Metrics}
		o.agg = newAggregator(every)
	}
	if o.ns == "" {
		o.ns = DefaultNamespace
	}
	if o.stage == "" {
		o.stage = "dev"
	}
	if len(o.uidKey) == 0 {
		o.uidKey = make([]byte, 32)
		_, _ = rand.Read(o.uidKey) // never fails (crypto/rand, Go 1.24+)
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// Start returns r with a new Request in its context, named by RequestID.
func (o *Observer) Start(r *http.Request) (*http.Request, *Request) {
	rec := &Request{ID: RequestID(r), Method: r.Method}
	return r.WithContext(NewContext(r.Context(), rec)), rec
}

// Trace wraps next, the handler of one HTTP route named operation, with the
// Tracer, when there is one.
func (o *Observer) Trace(operation string, next http.Handler) http.Handler {
	if o.tracer == nil {
		return next
	}
	return o.tracer.Trace(operation, next)
}

// StartEvent returns ctx with a new Request for one event that is not an
// HTTP request (a WebSocket message or $connect / $disconnect), traced when
// there is a Tracer: id names it, kind takes the place of the HTTP method
// ("WS"), operation names it in logs, metrics and the trace. Finish writes
// it like a request's.
func (o *Observer) StartEvent(ctx context.Context, id, kind, operation string) (context.Context, *Request) {
	rec := &Request{ID: id, Method: kind, Operation: operation, Route: operation}
	ctx = NewContext(ctx, rec)
	if o.tracer != nil {
		ctx, rec.endTrace = o.tracer.Begin(ctx, rec)
	}
	return ctx, rec
}

// HashUID returns the keyed hash under which uid is logged.
func (o *Observer) HashUID(uid string) string {
	m := hmac.New(sha256.New, o.uidKey)
	m.Write([]byte(uid))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Finish ends the trace of an event, writes the record's log line when
// Logged says so or the record is drawn for the sample (Config.LogSample),
// adds its metrics to the interval's (writing the previous interval's
// first, when it is over), and tells the sinks. The line is at level WARN
// for a store failure (a 503, or a fail-open grant), ERROR for any other
// error (a bug, answered 500), INFO otherwise; it carries the error, so
// each error is logged once.
func (o *Observer) Finish(ctx context.Context, rec *Request, latency time.Duration) {
	if end := rec.endTrace; end != nil {
		rec.endTrace = nil
		end()
	}
	ms := float64(latency.Microseconds()) / 1000
	if Logged(rec) || o.sampled() {
		o.logLine(ctx, rec, ms)
	}
	if o.agg != nil && rec.Operation != "" {
		if done := o.agg.add(o.now(), rec.Operation, Metrics(rec, ms)); done != nil {
			o.writeMetrics(ctx, done)
		}
	}
	for _, s := range o.sinks {
		s.Finished(rec)
	}
}

// Logged reports whether a record is always logged, whatever the sample:
// an error (any status of 400 and above, a store failure, a fail-open
// grant), a refusal at the limit, a lease found expired or revoked, and a
// grant that evicted live leases. A request shed by admission control
// (decision overloaded) is sampled like a success: under overload a line
// per refusal would spend the CPU shedding saves, and the
// RequestsOverloaded metric counts every one.
func Logged(rec *Request) bool {
	if rec.Decision == Overloaded {
		return false
	}
	switch {
	case rec.Err != nil, rec.StoreError, rec.Status >= 400, rec.Evicted > 0:
		return true
	}
	switch rec.Decision {
	case Refused, Expired, Revoked, Degraded:
		return true
	}
	return false
}

// sampled draws whether a record Logged does not insist on is logged.
func (o *Observer) sampled() bool {
	switch {
	case o.sample >= 1:
		return true
	case o.sample <= 0:
		return false
	}
	return mrand.Float64() < o.sample
}

// logLine writes rec's line.
func (o *Observer) logLine(ctx context.Context, rec *Request, ms float64) {
	attrs := []slog.Attr{
		slog.String("request_id", rec.ID),
		slog.String("method", rec.Method),
		slog.String("route", or(rec.Route, "unmatched")),
		slog.String("operation", rec.Operation),
		slog.Int("status", rec.Status),
		slog.Float64("latency_ms", ms),
	}
	if rec.Decision != "" {
		attrs = append(attrs, slog.String("decision", rec.Decision))
	}
	if rec.Reason != "" {
		attrs = append(attrs, slog.String("reason", rec.Reason))
	}
	if rec.UID != "" {
		if o.plain {
			attrs = append(attrs, slog.String("uid", rec.UID))
		} else {
			attrs = append(attrs, slog.String("uid_hash", o.HashUID(rec.UID)))
		}
	}
	if rec.Reclaimed > 0 {
		attrs = append(attrs, slog.Int("reclaimed", rec.Reclaimed))
	}
	if rec.Evicted > 0 {
		attrs = append(attrs, slog.Int("evicted", rec.Evicted))
	}
	if rec.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", rec.TraceID))
	}
	level := slog.LevelInfo
	switch {
	case rec.StoreError:
		level = slog.LevelWarn
	case rec.Err != nil:
		level = slog.LevelError
	}
	if rec.Err != nil {
		attrs = append(attrs, slog.String("error", rec.Err.Error()))
	}
	o.log.LogAttrs(ctx, level, "request", attrs...)
}

// decisionMetrics is the counter each decision moves; Resumed and NotLive
// move none.
var decisionMetrics = map[string]string{
	Granted:    MetricStreamsGranted,
	Refused:    MetricStreamsRefused,
	Degraded:   MetricStreamsDegraded,
	Renewed:    MetricHeartbeats,
	FromToken:  MetricHeartbeats,
	Expired:    MetricHeartbeatsExpired,
	Revoked:    MetricHeartbeatsRevoked,
	Ended:      MetricStreamsEnded,
	Overloaded: MetricRequestsOverloaded,
}

// Metrics returns the metric values one request yields: its latency, and
// the counters its decision and errors move.
func Metrics(rec *Request, latencyMS float64) []Datum {
	count := func(name string, n int) Datum { return Datum{Name: name, Value: float64(n), Unit: UnitCount} }
	out := []Datum{{Name: MetricLatency, Value: latencyMS, Unit: UnitMilliseconds}}
	if name, ok := decisionMetrics[rec.Decision]; ok {
		out = append(out, count(name, 1))
	}
	if rec.Reclaimed > 0 {
		out = append(out, count(MetricLeasesExpired, rec.Reclaimed))
	}
	if rec.Evicted > 0 {
		out = append(out, count(MetricStreamsEvicted, rec.Evicted))
	}
	if rec.StoreError {
		out = append(out, count(MetricStoreErrors, 1))
	}
	if failed(rec) {
		out = append(out, count(MetricRequestsFailed, 1))
	}
	return out
}

// failed reports whether rec was answered with an error rather than an
// outcome: a status of 400 or above, unless its decision is a refusal at
// the limit or a lease found expired or revoked.
func failed(rec *Request) bool {
	switch rec.Decision {
	case Refused, Expired, Revoked:
		return false
	}
	return rec.Status >= 400
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
