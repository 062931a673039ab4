// Package observe is what streamlimit tells its operators about each HTTP
// request and each WebSocket event (Observer.StartEvent): one record per
// request (Request), with one operation name, and its sinks: a structured
// log line (log/slog) for every record that failed or was refused (Logged)
// and a sample of the others, CloudWatch Embedded Metric Format (EMF)
// metrics aggregated per process over an interval (one document per
// operation and interval, latencies as values with counts), the trace
// (Tracer: X-Ray, in infra/xray) and any other Sink (the DynamoDB capacity
// counters of observe/capacity, which also attribute each DynamoDB call to
// the operation of the record in its context).
//
// The record travels in the request's context: the HTTP middleware creates
// it, the route names the operation, the handler states its Decision, and
// when the request ends the Observer logs it and adds its metrics to the
// interval's. Handlers therefore report what they decided without knowing
// how it is logged, counted or traced. This package imports no AWS SDK.
//
// Cost: at the defaults (1 % of successes logged, a minute per interval)
// a process writes a few bytes per request on average instead of a line
// and a document per request (handlers' TestOutputPerSuccessfulRequestAtDefaults
// pins at most 100).
//
// Personal data: the uid is logged only as a keyed hash (HMAC-SHA256) unless
// the Observer is configured with PlainUID. Nothing here logs a lease id.
package observe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Decisions a handler reports; they name the outcome in logs, metrics and
// trace annotations.
const (
	// Granted: canStream handed out a new lease.
	Granted = "granted"
	// Resumed: canStream (or a WebSocket connect) took over a live lease
	// the caller proved it held, under a new lease id.
	Resumed = "resumed"
	// Refused: canStream refused, the account being at its limit.
	Refused = "refused"
	// Degraded: canStream granted a fail-open lease because the store
	// failed; it was never written or counted.
	Degraded = "degraded"
	// Renewed: a heartbeat renewed its lease (one write).
	Renewed = "renewed"
	// FromToken: a heartbeat answered from its renewal token, without a
	// store call (the lease had enough time left); nothing was written.
	FromToken = "from_token"
	// Expired: a heartbeat found its lease expired, ended or unknown: the
	// player lost its slot.
	Expired = "expired"
	// Revoked: a heartbeat found its lease revoked (kicked, evicted, admin).
	Revoked = "revoked"
	// Ended: endStream ended a live lease.
	Ended = "ended"
	// NotLive: endStream found nothing live to end (a repeat, or expired).
	NotLive = "not_live"
	// Kept: a connection lost without a close (a local socket dropped, or
	// closed by a server stopping) left its lease live, for its player to
	// resume until it expires.
	Kept = "kept"
	// Overloaded: the request was refused before any store work because
	// the process had as much in flight as it can answer in time
	// (package admission); answered 503 overloaded.
	Overloaded = "overloaded"
)

// HeartbeatDecision names a successful heartbeat's outcome: FromToken when
// it was answered from its renewal token (skipped: no store call), else
// Renewed.
func HeartbeatDecision(skipped bool) string {
	if skipped {
		return FromToken
	}
	return Renewed
}

// Request is what one HTTP request did. The middleware creates it and puts
// it in the request context; it is written by the goroutine serving the
// request and read after the handler returned, so it needs no lock.
type Request struct {
	// ID identifies the request: the Lambda request id in Lambda, else a
	// valid X-Request-Id header, else a random one.
	ID string
	// Method is the HTTP method.
	Method string
	// Operation is the uid-free operation name (canStream, heartbeat, ...),
	// "unmatched" for an unknown route; empty for a CORS preflight.
	Operation string
	// Route is the matched route pattern, e.g. /dev/canStream/{uid}.
	Route string
	// UID is the account named by the path, if any. It is personal data:
	// the Observer hashes it unless configured otherwise.
	UID string
	// Status is the HTTP status answered.
	Status int
	// Decision is one of the decisions above, when the handler reached one.
	Decision string
	// Reason says why an event that is not a request happened: how a
	// WebSocket connection closed.
	Reason string
	// Reclaimed counts expired leases (crashed players) a grant deleted.
	Reclaimed int
	// Evicted counts live leases revoked to admit a grant (evict_oldest).
	Evicted int
	// Err is the error behind a 5xx answer, recorded where it was handled
	// and logged once, in the request's line.
	Err error
	// StoreError marks Err as a failure of the lease store (unavailable or
	// contention, answered 503) rather than a bug (500).
	StoreError bool
	// TraceID is the X-Ray trace id when the request was traced and sampled.
	TraceID string

	// endTrace ends an event's trace (Observer.StartEvent, Finish).
	endTrace func()
}

// Grant records the outcome of a grant (canStream, a WebSocket $connect):
// Refused, Resumed or Granted; Degraded for a fail-open grant, which is a
// store error too.
func (r *Request) Grant(granted, resumed, degraded bool) {
	switch {
	case degraded:
		// Fail-open: the store failed and the lease was never written.
		r.Decision, r.StoreError = Degraded, true
	case !granted:
		r.Decision = Refused
	case resumed:
		r.Decision = Resumed
	default:
		r.Decision = Granted
	}
}

// End records the outcome of an end (endStream, a WebSocket $disconnect):
// Ended when it removed a live lease, else NotLive.
func (r *Request) End(removed bool) {
	r.Decision = NotLive
	if removed {
		r.Decision = Ended
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying rec.
func NewContext(ctx context.Context, rec *Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, rec)
}

// From returns the Request in ctx. Without one it returns a fresh record
// that nothing reads, so callers never check for nil.
func From(ctx context.Context) *Request {
	if rec, ok := ctx.Value(ctxKey{}).(*Request); ok {
		return rec
	}
	return &Request{}
}

// RequestID names the request r: the Lambda request id when r comes from a
// Lambda invocation, else its X-Request-Id header when that is 1-128
// characters of A-Z a-z 0-9 - _ . : (so it cannot forge log fields), else 16
// random bytes in hex.
func RequestID(r *http.Request) string {
	if lc, ok := lambdacontext.FromContext(r.Context()); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
