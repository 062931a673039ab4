// Package stores opens the lease store a configuration names: DynamoDB (the
// client from infra/dynamo, traced when X-Ray is on) or memory, and the
// lease service over it (Service). The binaries that keep leases (cmd/local,
// cmd/api, cmd/ws) and the tests that run the API outside cmd/ (test/bench,
// test/faults) open them here; the ones that serve WebSockets keep their
// connection bindings beside the lease store (dynamoconns.Beside).
package stores

import (
	"context"
	"fmt"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/infra/xray"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// Open builds the lease store. obs, when set, sees every DynamoDB call of
// the store (dynamostore.Observed).
func Open(ctx context.Context, c config.Config, obs dynamostore.Observer) (lease.Store, error) {
	if c.Store == "memory" {
		return memstore.New(), nil
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
		return nil, err
	}
	client = dynamostore.Observed(client, obs)
	opts := []dynamostore.Option{dynamostore.WithTable(c.TableName)}
	if c.CreateTable {
		if err := dynamostore.CreateTable(ctx, client, c.TableName); err != nil {
			return nil, err
		}
		opts = append(opts, dynamostore.WithAutoCreate(client))
	}
	return dynamostore.New(client, opts...), nil
}

// Service opens the lease store c names (Open) and builds the lease service
// over it with config.LeaseOptions, as every binary does; store is the
// lease store, for the binaries that also keep WebSocket bindings beside it
// (dynamoconns.Beside). obs, when set, sees every DynamoDB call of the
// store.
func Service(ctx context.Context, c config.Config, obs dynamostore.Observer) (svc *lease.Service, store lease.Store, err error) {
	if store, err = Open(ctx, c, obs); err != nil {
		return nil, nil, err
	}
	if svc, err = lease.New(store, c.LeaseOptions()...); err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	return svc, store, nil
}
