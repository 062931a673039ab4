// Package stores opens the lease store a configuration names: DynamoDB (the
// client from infra/dynamo, traced when X-Ray is on) or memory, and the
// lease service over it (Service). The binaries that keep leases (cmd/local,
// cmd/api, cmd/ws) and the tests that run the API outside cmd/ (test/bench,
// test/faults) open them here; the ones that serve WebSockets open their
// connection bindings over the same client with dynamoconns.Open.
package stores

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/infra/xray"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// Open builds the lease store; client is the DynamoDB client it uses (nil
// for STORE=memory), for the connection bindings. obs, when set, sees every
// DynamoDB call of the lease store.
func Open(ctx context.Context, c config.Config, obs dynamostore.Observer) (lease.Store, *dynamodb.Client, error) {
	if c.Store == "memory" {
		return memstore.New(), nil, nil
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
	return dynamostore.New(client, opts...), client, nil
}

// Service opens the lease store c names (Open) and builds the lease service
// over it with config.LeaseOptions, as every binary does; client is the
// store's DynamoDB client (nil in memory), for the binaries that also keep
// WebSocket bindings (dynamoconns.Open). obs, when set, sees every DynamoDB
// call of the lease store.
func Service(ctx context.Context, c config.Config, obs dynamostore.Observer) (svc *lease.Service, client *dynamodb.Client, err error) {
	store, client, err := Open(ctx, c, obs)
	if err != nil {
		return nil, nil, err
	}
	if svc, err = lease.New(store, c.LeaseOptions()...); err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	return svc, client, nil
}
