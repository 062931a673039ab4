package wsapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/streamlimit/streamlimit/observe"
)

// Events is how both transports handle their events ($connect, a message,
// $disconnect, and the local socket's end), as the HTTP API handles its
// requests: each event is one observe record, with one operation name,
// written when it ends as a log line, EMF metrics and, when the Observer
// traces, an X-Ray segment (a subsegment of the function's in Lambda); its
// store work is bounded by StoreTimeout. GatewayConfig and sockets.Config
// embed it.
type Events struct {
	// StoreTimeout bounds the store work of one event (default 1.5s).
	StoreTimeout time.Duration
	// Logger receives every unexpected error (and, without Observer, one
	// line per event).
	Logger *slog.Logger
	// Observer writes each event's record, as for an HTTP request
	// (operations ws.connect, ws.heartbeat, ws.message, ws.disconnect):
	// log line, EMF metrics, trace. Nil: one on Logger, no metrics, no
	// trace.
	Observer *observe.Observer
}

// WithDefaults returns e with its defaults filled in.
func (e Events) WithDefaults() Events {
	if e.StoreTimeout <= 0 {
		e.StoreTimeout = 1500 * time.Millisecond
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Observer == nil {
		e.Observer = observe.New(observe.Config{Logger: e.Logger})
	}
	return e
}

// Run handles one event: it starts the event's record (and trace), named
// id and operation, runs handle with a context that carries it, records
// the status handle returns (the HTTP status the event is answered with,
// or would be) and finishes the record. e must have its defaults.
func (e Events) Run(ctx context.Context, id, operation string, handle func(ctx context.Context) (status int)) {
	start := time.Now()
	ctx, rec := e.Observer.StartEvent(ctx, id, "WS", operation)
	rec.Status = handle(ctx)
	e.Observer.Finish(ctx, rec, time.Since(start))
}
