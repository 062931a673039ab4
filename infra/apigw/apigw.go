// Package apigw talks to the API Gateway management API: it posts replies
// to WebSocket connections and closes them.
package apigw

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/streamlimit/streamlimit/infra/awsconf"
)

// ConnectionsAPI is the subset of the API Gateway management API client
// that Connections calls.
type ConnectionsAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

// Connections posts to and closes WebSocket connections through the API
// Gateway management API (@connections); it is what the WebSocket
// transport (handlers.Connections) is given in Lambda. Each endpoint (https://{domainName}/{stage}, from the
// event) gets its own client, made on first use and kept.
type Connections struct {
	newClient func(endpoint string) ConnectionsAPI

	mu      sync.Mutex
	clients map[string]ConnectionsAPI
}

// ConnectionsConfig says how to reach the management API.
type ConnectionsConfig struct {
	// Region defaults to the SDK's resolution, then us-east-1.
	Region string
	// Timeout bounds one attempt of one call (default 2s).
	Timeout time.Duration
}

// NewConnections loads the AWS configuration (credentials from the usual
// chain: the Lambda role) and returns Connections.
func NewConnections(ctx context.Context, c ConnectionsConfig) (*Connections, error) {
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	cfg, err := awsconf.Load(ctx, awsconf.Options{Region: c.Region, Timeout: c.Timeout})
	if err != nil {
		return nil, err
	}
	return NewConnectionsFromConfig(cfg), nil
}

// NewConnectionsFromConfig returns Connections whose clients use cfg.
func NewConnectionsFromConfig(cfg aws.Config) *Connections {
	return &Connections{
		clients: map[string]ConnectionsAPI{},
		newClient: func(endpoint string) ConnectionsAPI {
			return apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
				o.BaseEndpoint = aws.String(endpoint)
			})
		},
	}
}

func (c *Connections) client(endpoint string) ConnectionsAPI {
	c.mu.Lock()
	defer c.mu.Unlock()
	api, ok := c.clients[endpoint]
	if !ok {
		api = c.newClient(endpoint)
		c.clients[endpoint] = api
	}
	return api
}

// Post sends data to a connection with PostToConnection.
func (c *Connections) Post(ctx context.Context, endpoint, connID string, data []byte) error {
	_, err := c.client(endpoint).PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connID), Data: data,
	})
	if err != nil {
		return fmt.Errorf("post to connection: %w", err)
	}
	return nil
}

// Close closes a connection with DeleteConnection.
func (c *Connections) Close(ctx context.Context, endpoint, connID string) error {
	_, err := c.client(endpoint).DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{
		ConnectionId: aws.String(connID),
	})
	if err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	return nil
}
