// Package apiserver builds the HTTP API from a configuration for the tests
// and benchmarks that live outside cmd/ (test/faults, test/bench): the
// stores, the lease service with config.LeaseOptions and handlers.NewServer
// with its request logging, as cmd/local serves it, without identity checks,
// tracing or metrics. Test infrastructure only: the binaries wire
// themselves (cmd/internal/wire).
package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
)

// New returns the HTTP API over the stores cfg names, with routes under
// prefix, and its lease service.
func New(ctx context.Context, cfg config.Config, prefix string) (http.Handler, *lease.Service, error) {
	store, _, err := stores.Open(ctx, cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	svc, err := lease.New(store, cfg.LeaseOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	log := slog.New(slog.DiscardHandler)
	return handlers.NewServer(svc, handlers.Config{
		Prefix:         prefix,
		AllowedOrigins: cfg.AllowedOrigins,
		StoreTimeout:   cfg.StoreTimeout,
		Logger:         log,
		Observer:       observe.New(observe.Config{Logger: log, Namespace: cfg.MetricsNamespace, Stage: cfg.Stage}),
	}), svc, nil
}
