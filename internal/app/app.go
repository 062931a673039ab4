package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/infra"
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

// New builds the store, the lease service and the HTTP API with routes under
// prefix ("/dev" locally, "" behind an HTTP API's $default stage).
func New(ctx context.Context, c Config, prefix string, log *slog.Logger) (*App, error) {
	identity, admin, err := c.access()
	if err != nil {
		return nil, err
	}
	obs, trace, err := c.observability(log)
	if err != nil {
		return nil, err
	}
	store, conns, err := newStore(ctx, c)
	if err != nil {
		return nil, err
	}
	svc, err := lease.New(store,
		lease.WithMaxStreams(c.MaxStreams),
		lease.WithLeaseTTL(c.LeaseTTL),
		lease.WithHeartbeatInterval(c.HeartbeatInterval),
		lease.WithPolicy(c.policy()),
		lease.WithEvictCooldown(c.EvictCooldown),
		lease.WithRenewBelow(c.RenewBelow),
		lease.WithFailOpen(c.FailOpen))
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	ws, err := wsconn.New(svc, conns)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var sockets *handlers.Sockets
	if c.LocalWebSocket {
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
func newStore(ctx context.Context, c Config) (lease.Store, wsconn.ConnStore, error) {
	if c.Store == "memory" {
		return memstore.New(), wsconn.NewMemConns(), nil
	}
	client, err := infra.NewDynamoDB(ctx, infra.DynamoConfig{
		Endpoint: c.DynamoEndpoint, Region: c.Region,
		// Requests are bounded by their own deadline (StoreTimeout); the
		// per-attempt limit only has to stop calls without one (table
		// creation at start, which a cold DynamoDB Local can take seconds
		// to answer) from hanging.
		Timeout: 10 * time.Second,
		XRay:    c.XRayDaemon != "",
	})
	if err != nil {
		return nil, nil, err
	}
	opts := []dynamostore.Option{dynamostore.WithTable(c.TableName), dynamostore.WithObserver(c.StoreObserver)}
	if c.CreateTable {
		if err := dynamostore.CreateTable(ctx, client, c.TableName); err != nil {
			return nil, nil, err
		}
		opts = append(opts, dynamostore.WithAutoCreate(client))
	}
	return dynamostore.New(client, opts...), dynamoconns.New(client, c.TableName), nil
}
