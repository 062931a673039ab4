// Package wire holds the small constructors the HTTP binaries (cmd/local,
// cmd/api) build themselves from: the lease service over the configured
// stores (Service), the access checks (Access) and the HTTP API with its
// observability (HTTP). Each binary calls only what it serves; the
// WebSocket Lambda (cmd/ws) does not import it.
package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/web"
)

// Service opens the lease store cfg names and builds the lease service
// over it with config.LeaseOptions; client is the store's DynamoDB client
// (nil in memory), for the binaries that also keep WebSocket bindings
// (dynamoconns.Open). obs, when set, sees every DynamoDB call.
func Service(ctx context.Context, c config.Config, obs dynamostore.Observer) (svc *lease.Service, client *dynamodb.Client, err error) {
	store, client, err := stores.Open(ctx, c, obs)
	if err != nil {
		return nil, nil, err
	}
	if svc, err = lease.New(store, c.LeaseOptions()...); err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	return svc, client, nil
}

// API is what the HTTP API is built from beside the lease service.
type API struct {
	Config config.Config
	// Prefix is the routes' prefix (config.Config.Prefix).
	Prefix string
	Logger *slog.Logger
	// MetricsOutput receives the EMF lines (the binaries set it to their
	// log stream). Nil: no metrics.
	MetricsOutput io.Writer
	// Identity and Admin are the access checks (Access).
	Identity auth.Identity
	Admin    auth.AdminAuth
	// WebSocket, when set, is mounted at GET {Prefix}/ws (cmd/local's
	// wsapi/sockets).
	WebSocket http.Handler
	// Observer and Trace, when Observer is set, are the request Observer
	// and tracing (Observability) to use; nil: HTTP builds them, so a
	// binary that shares its Observer with the WebSocket events passes it.
	Observer *observe.Observer
	Trace    func(operation string, next http.Handler) http.Handler
	// Admission, when set, is the admission limiter to use (a binary that
	// shows its counters passes its own); nil: HTTP builds it from Config
	// (Admission), none with ADMISSION=off.
	Admission *admission.Limiter
}

// HTTP returns the HTTP API over svc: logs, metrics and, when
// AWS_XRAY_DAEMON_ADDRESS is set, X-Ray tracing, the access checks, and the
// browser client's files.
func HTTP(svc *lease.Service, a API) (http.Handler, error) {
	obs, trace := a.Observer, a.Trace
	if obs == nil {
		var err error
		if obs, trace, err = Observability(a.Config, a.MetricsOutput, a.Logger); err != nil {
			return nil, err
		}
	}
	lim := a.Admission
	if lim == nil {
		var err error
		if lim, err = Admission(a.Config); err != nil {
			return nil, err
		}
	}
	return handlers.NewServer(svc, handlers.Config{
		Admission:      lim,
		Prefix:         a.Prefix,
		AllowedOrigins: a.Config.AllowedOrigins,
		StoreTimeout:   a.Config.StoreTimeout,
		Logger:         a.Logger,
		Observer:       obs,
		Trace:          trace,
		Identity:       a.Identity,
		Admin:          a.Admin,
		WebSocket:      a.WebSocket,
		Static:         web.FS(),
	}), nil
}
