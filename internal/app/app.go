// Package app wires the HTTP API, the local WebSocket endpoint and the
// WebSocket variant's service from a config.Config.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/infra/xray"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/memstore"
	"github.com/streamlimit/streamlimit/web"
	"github.com/streamlimit/streamlimit/wsconn"
	"github.com/streamlimit/streamlimit/wsconn/dynamoconns"
)

// App is a wired service and its HTTP API.
type App struct {
	Service *lease.Service
	Handler http.Handler
	// WebSocket is the WebSocket variant over Service (cmd/ws serves it).
	WebSocket *wsconn.Service
	// Sockets is the local WebSocket endpoint, when Config.LocalWebSocket.
	Sockets *handlers.Sockets
}

// Wiring is what a binary gives New beside the configuration: things that
// do not come from the environment.
type Wiring struct {
	// MetricsOutput receives the EMF lines (the binaries set it to their
	// log stream). Nil: no metrics.
	MetricsOutput io.Writer
	// Gateway, when set, reads the identities API Gateway verified
	// (cmd/api sets it).
	Gateway *Gateway
	// StoreObserver, when set, sees every DynamoDB call (cmd/local sets it
	// for DEBUG_CAPACITY=true).
	StoreObserver dynamostore.Observer
	// LocalWebSocket serves the local WebSocket endpoint GET /STAGE/ws
	// (cmd/local sets it).
	LocalWebSocket bool
}

// New builds the store, the lease service and the HTTP API with routes under
// prefix (config.Config.Prefix: "/dev" locally, "" behind an HTTP API's
// $default stage).
func New(ctx context.Context, c config.Config, w Wiring, prefix string, log *slog.Logger) (*App, error) {
	identity, admin, err := access(c, w.Gateway)
	if err != nil {
		return nil, err
	}
	obs, trace, err := observability(c, w.MetricsOutput, log)
	if err != nil {
		return nil, err
	}
	store, conns, err := newStore(ctx, c, w.StoreObserver)
	if err != nil {
		return nil, err
	}
	svc, err := lease.New(store, c.LeaseOptions()...)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	ws, err := wsconn.New(svc, conns)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var sockets *handlers.Sockets
	if w.LocalWebSocket {
		sockets = handlers.NewSockets(ws)
	}
	h := handlers.NewServer(svc, handlers.Config{
		Prefix:         prefix,
		AllowedOrigins: c.AllowedOrigins,
		StoreTimeout:   c.StoreTimeout,
		Logger:         log,
		Observer:       obs,
		Trace:          trace,
		Identity:       identity,
		Admin:          admin,
		Sockets:        sockets,
		Static:         web.FS(),
	})
	return &App{Service: svc, Handler: h, WebSocket: ws, Sockets: sockets}, nil
}

// newStore builds the lease store and, over the same table, the WebSocket
// connection bindings.
func newStore(ctx context.Context, c config.Config, obs dynamostore.Observer) (lease.Store, wsconn.ConnStore, error) {
	if c.Store == "memory" {
		return memstore.New(), wsconn.NewMemConns(), nil
	}
	dc := dynamo.Config{
		Endpoint: c.DynamoEndpoint, Region: c.Region,
		// Requests are bounded by their own deadline (StoreTimeout); the
		// per-attempt limit only has to stop calls without one (table
		// creation at start, which a cold DynamoDB Local can take seconds
		// to answer) from hanging.
		Timeout: 10 * time.Second,
	}
	if c.XRayDaemon != "" {
		dc.Instrument = xray.InstrumentAWS
	}
	client, err := dynamo.New(ctx, dc)
	if err != nil {
		return nil, nil, err
	}
	opts := []dynamostore.Option{dynamostore.WithTable(c.TableName), dynamostore.WithObserver(obs)}
	if c.CreateTable {
		if err := dynamostore.CreateTable(ctx, client, c.TableName); err != nil {
			return nil, nil, err
		}
		opts = append(opts, dynamostore.WithAutoCreate(client))
	}
	return dynamostore.New(client, opts...), dynamoconns.New(client, c.TableName), nil
}
