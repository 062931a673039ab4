package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/infra"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// App is a wired service and its HTTP API.
type App struct {
	Service *lease.Service
	Handler http.Handler
}

// New builds the store, the lease service and the HTTP API with routes under
// prefix ("/dev" locally, "" behind an HTTP API's $default stage).
func New(ctx context.Context, c Config, prefix string, log *slog.Logger) (*App, error) {
	store, err := newStore(ctx, c)
	if err != nil {
		return nil, err
	}
	svc, err := lease.New(store,
		lease.WithMaxStreams(c.MaxStreams),
		lease.WithLeaseTTL(c.LeaseTTL),
		lease.WithHeartbeatInterval(c.HeartbeatInterval))
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	h := handlers.NewServer(svc, handlers.Config{
		Prefix:         prefix,
		AllowedOrigins: c.AllowedOrigins,
		StoreTimeout:   c.StoreTimeout,
		Logger:         log,
	})
	return &App{Service: svc, Handler: h}, nil
}

func newStore(ctx context.Context, c Config) (lease.Store, error) {
	if c.Store == "memory" {
		return memstore.New(), nil
	}
	client, err := infra.NewDynamoDB(ctx, infra.DynamoConfig{
		Endpoint: c.DynamoEndpoint, Region: c.Region,
		// One attempt may use the whole request budget; the request's own
		// deadline (StoreTimeout) still bounds every call.
		Timeout: c.StoreTimeout,
	})
	if err != nil {
		return nil, err
	}
	opts := []dynamostore.Option{dynamostore.WithTable(c.TableName)}
	if c.CreateTable {
		if err := dynamostore.CreateTable(ctx, client, c.TableName); err != nil {
			return nil, err
		}
		opts = append(opts, dynamostore.WithAutoCreate(client))
	}
	return dynamostore.New(client, opts...), nil
}
