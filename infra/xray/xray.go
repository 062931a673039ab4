// Package xray traces HTTP requests, WebSocket events and the AWS calls
// made while serving them with AWS X-Ray: it is the Tracer of the
// observe records (observe.Config.Tracer).
package xray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/daemoncfg"
	"github.com/aws/aws-xray-sdk-go/header"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/strategy/sampling"
	sdk "github.com/aws/aws-xray-sdk-go/xray"
	"github.com/aws/aws-xray-sdk-go/xraylog"

	"github.com/streamlimit/streamlimit/observe"
)

// Config says how to trace with AWS X-Ray.
type Config struct {
	// DaemonAddress is where segments go: host:port, or the SDK's
	// "udp:host:port tcp:host:port" form (AWS_XRAY_DAEMON_ADDRESS;
	// Lambda sets it). Required.
	DaemonAddress string
	// Lambda traces under the function's own segment: each request becomes
	// a subsegment of the facade segment the SDK builds from the Lambda
	// trace header, never a segment of its own (which would start a
	// separate trace). Otherwise (the local server) every request opens a
	// segment, sampled in full.
	Lambda bool
	// Service names the local segments ("streamlimit" if empty; the SDK's
	// AWS_XRAY_TRACING_NAME overrides it).
	Service string
	// Stage is recorded as the "stage" annotation.
	Stage string
	// Reservoir and Rate sample the segments of the long-running server
	// (XRAY_RESERVOIR, XRAY_SAMPLE_RATE): up to Reservoir requests a
	// second are traced, then Rate (0-1) of the rest, unless a request's
	// trace header decided already. In Lambda, Lambda decides (Active
	// tracing: its fixed 1 a second and 5 %; it cannot be configured).
	Reservoir int
	Rate      float64
	// Logger receives the SDK's warnings and errors (nil: dropped).
	Logger *slog.Logger
}

// XRay traces HTTP requests and the DynamoDB calls made while serving
// them. Segments go to the configured daemon only; the SDK's global
// emitter and sampling are not used, so nothing is sent anywhere unless an
// XRay was built.
type XRay struct {
	recorder *sdk.Config
	lambda   bool
	service  string
	stage    string
}

// samplingRules is the local strategy's rule document: a reservoir and a
// rate for every request. Local, not centralized: the centralized strategy
// would poll AWS through the daemon.
func samplingRules(reservoir int, rate float64) []byte {
	return fmt.Appendf(nil, `{"version": 2, "default": {"fixed_target": %d, "rate": %g}, "rules": []}`, reservoir, rate)
}

// New prepares tracing to c.DaemonAddress. It changes two pieces of the
// SDK's global state, both idempotent: the SDK logs through c.Logger (warn
// and error only), and a DynamoDB call made outside any traced request
// (creating the table at start) is silently not traced instead of logging
// "segment cannot be found".
func New(c Config) (*XRay, error) {
	if c.DaemonAddress == "" {
		return nil, errors.New("AWS_XRAY_DAEMON_ADDRESS is empty")
	}
	ep, err := daemoncfg.GetDaemonEndpointsFromString(c.DaemonAddress)
	if err != nil || ep == nil {
		return nil, fmt.Errorf("AWS_XRAY_DAEMON_ADDRESS=%q is not host:port: %v", c.DaemonAddress, err)
	}
	emitter, err := sdk.NewDefaultEmitter(ep.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("x-ray emitter: %w", err)
	}
	if c.Reservoir < 0 || !(c.Rate >= 0 && c.Rate <= 1) {
		return nil, fmt.Errorf("x-ray sampling: reservoir %d and rate %v: want ≥ 0 and 0-1", c.Reservoir, c.Rate)
	}
	strategy, err := sampling.NewLocalizedStrategyFromJSONBytes(samplingRules(c.Reservoir, c.Rate))
	if err != nil {
		return nil, fmt.Errorf("x-ray sampling: %w", err)
	}
	routeSDKLogs(c.Logger)
	if err := ignoreMissingContext(); err != nil {
		return nil, fmt.Errorf("x-ray: %w", err)
	}
	// The recorder travels in each request's context: segments begun under
	// it use this emitter and sampling, whatever the global configuration.
	ctx, err := sdk.ContextWithConfig(context.Background(), sdk.Config{
		DaemonAddr:             c.DaemonAddress,
		Emitter:                emitter,
		SamplingStrategy:       strategy,
		ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy(),
	})
	if err != nil {
		return nil, fmt.Errorf("x-ray: %w", err)
	}
	service := c.Service
	if service == "" {
		service = "streamlimit"
	}
	return &XRay{recorder: sdk.GetRecorder(ctx), lambda: c.Lambda, service: service, stage: c.Stage}, nil
}

// InstrumentAWS makes every call of clients built from cfg a subsegment
// ("DynamoDB", with aws.operation Query, UpdateItem, ...) of the request
// being served. Call it before building the clients.
//
// A call made outside any traced request (creating the table at start,
// before New has run) is silently not traced.
func InstrumentAWS(cfg *aws.Config) {
	_ = ignoreMissingContext()
	awsv2.AWSV2Instrumentor(&cfg.APIOptions)
}

// ignoreMissingContext makes the SDK skip, silently, a subsegment with no
// segment to belong to instead of logging "segment cannot be found"
// (global SDK state; idempotent).
func ignoreMissingContext() error {
	return sdk.Configure(sdk.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
}

// XRay is the Tracer of the request records.
var _ observe.Tracer = (*XRay)(nil)

// begin starts tracing one request or event named operation: a subsegment
// of the function's segment in Lambda (nothing without the invocation's
// trace context), else a segment of its own, continuing the trace of the
// HTTP request r when r carries a trace header. seg is nil when nothing is
// traced.
func (x *XRay) begin(ctx context.Context, operation string, r *http.Request) (context.Context, *sdk.Segment) {
	ctx = context.WithValue(ctx, sdk.RecorderContextKey{}, x.recorder)
	switch {
	case x.lambda:
		// Under the facade segment the SDK builds from the invocation's
		// trace header; without one (no Lambda context) nothing is traced.
		return sdk.BeginSubsegment(ctx, operation)
	case r != nil && r.Header.Get(sdk.TraceIDHeaderKey) != "":
		return sdk.NewSegmentFromHeader(ctx, x.service, r, header.FromString(r.Header.Get(sdk.TraceIDHeaderKey)))
	}
	return sdk.BeginSegmentWithSampling(ctx, x.service, r, nil)
}

// end writes what the finished record rec says into seg and closes it: the
// status, the annotations operation, stage and decision, and the error
// behind a 5xx as a fault.
func (x *XRay) end(seg *sdk.Segment, operation string, rec *observe.Request) {
	status := rec.Status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	sdk.HttpCaptureResponse(seg, status)
	_ = seg.AddAnnotation("operation", operation)
	if x.stage != "" {
		_ = seg.AddAnnotation("stage", x.stage)
	}
	if rec.Decision != "" {
		_ = seg.AddAnnotation("decision", rec.Decision)
	}
	if rec.Err != nil {
		_ = seg.AddError(rec.Err)
	}
	seg.Close(nil)
}

// Trace wraps next, one route of the API, so that each request is traced
// under the uid-free operation name: a segment per request locally, a
// subsegment of the function's segment in Lambda. When the request ends it
// records the route (never the URL, which holds the uid), the status, the
// annotations operation, stage and decision (from observe.Request), and the
// error behind a 5xx as a fault.
func (x *XRay) Trace(operation string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, seg := x.begin(r.Context(), operation, r)
		if seg == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := observe.From(ctx)
		seg.Lock()
		if seg.Sampled {
			rec.TraceID = seg.TraceID
		}
		if !x.lambda {
			// Tell the caller its trace, as the SDK's own handler does.
			sampled := "0"
			if seg.Sampled {
				sampled = "1"
			}
			w.Header().Set(sdk.TraceIDHeaderKey, "Root="+seg.TraceID+";Sampled="+sampled)
		}
		req := seg.GetHTTP().GetRequest()
		req.Method, req.URL = r.Method, r.Pattern
		seg.Unlock()

		defer func() {
			if v := recover(); v != nil {
				_ = seg.AddError(fmt.Errorf("panic: %v", v))
				seg.Close(nil)
				panic(v)
			}
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
		x.end(seg, operation, rec)
	})
}

// Begin starts the trace of one event that is not an HTTP request (a
// WebSocket $connect, message or $disconnect): a subsegment of the
// function's segment in Lambda, named by rec's operation, a segment
// locally. The
// returned end, called once rec is complete (observe.Observer.Finish),
// records it as Trace does a request's, under the operation rec then has
// (a message turns out to be a heartbeat once read), and closes the trace.
func (x *XRay) Begin(ctx context.Context, rec *observe.Request) (context.Context, func()) {
	ctx, seg := x.begin(ctx, rec.Operation, nil)
	if seg == nil {
		return ctx, func() {}
	}
	seg.Lock()
	if seg.Sampled {
		rec.TraceID = seg.TraceID
	}
	seg.Unlock()
	return ctx, func() {
		if x.lambda {
			seg.Lock()
			seg.Name = rec.Operation // a subsegment is named by its operation
			seg.Unlock()
		}
		x.end(seg, rec.Operation, rec)
	}
}

// sdkLogger forwards the X-Ray SDK's warnings and errors to slog.
type sdkLogger struct{}

var (
	sdkLog     atomic.Pointer[slog.Logger]
	sdkLogOnce sync.Once
)

func (sdkLogger) Log(level xraylog.LogLevel, msg fmt.Stringer) {
	l := sdkLog.Load()
	if l == nil || level < xraylog.LogLevelWarn {
		return
	}
	lv := slog.LevelWarn
	if level >= xraylog.LogLevelError {
		lv = slog.LevelError
	}
	l.Log(context.Background(), lv, "x-ray", "message", msg.String())
}

// routeSDKLogs sends the SDK's own log (by default Info and above on
// stdout) to l. The SDK's logger is global and not safe to swap while in
// use, so it is set once; the destination is swapped atomically.
func routeSDKLogs(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	sdkLog.Store(l)
	sdkLogOnce.Do(func() { sdk.SetLogger(sdkLogger{}) })
}
