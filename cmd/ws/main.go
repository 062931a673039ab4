// Command ws is the WebSocket variant of streamlimit as an AWS Lambda
// function behind an API Gateway WebSocket API (routes $connect,
// $disconnect, heartbeat, $default; route selection $request.body.action):
// one connection is one stream. It serves wsapi.NewGateway over
// the same lease service and table as the HTTP API, and replies through the
// API Gateway management API. Build it with `make package` (build/ws.zip,
// provided.al2023, arm64, -tags lambda.norpc).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/cmd/internal/wire"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/wsapi"
	"github.com/streamlimit/streamlimit/wsconn"
	"github.com/streamlimit/streamlimit/wsconn/dynamoconns"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/infra/apigw"
)

// The API Gateway management client is what the WebSocket transport posts
// replies and closes connections through.
var _ wsapi.Connections = (*apigw.Connections)(nil)

func main() {
	log := observe.NewLogger(os.Stderr, os.Getenv("LOG_FORMAT"))
	h, obs, err := newHandler(context.Background(), os.Getenv, log, os.Stderr, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamlimit:", err)
		os.Exit(1)
	}
	// As cmd/api: the metrics an instance holds are written when Lambda
	// retires it.
	lambda.StartWithOptions(h, lambda.WithEnableSIGTERM(func() { obs.Flush(context.Background()) }))
}

// newHandler wires the WebSocket API from the environment: the stores, the
// lease service (config.LeaseOptions, as every binary), the connection
// service and the API Gateway transport, each event logged, counted (EMF
// lines on metrics, held by the Observer returned until written) and, in Lambda with X-Ray on, traced as a subsegment of
// the function's segment, as HTTP requests are; nothing of the HTTP API.
// conns nil means the real management API.
func newHandler(ctx context.Context, getenv func(string) string, log *slog.Logger, metrics io.Writer, conns wsapi.Connections) (func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error), *observe.Observer, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, nil, err
	}
	if cfg.RandomTokenKey() {
		log.Warn(config.RandomTokenKeyNote)
	}
	// Tokens are verified here, against the identity provider's key set,
	// as the HTTP function does: WebSocket APIs have no JWT authorizer.
	verifier, err := auth.NewVerifier(ctx, cfg.JWKS(log))
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	svc, store, err := stores.Service(ctx, cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	ws, err := wsconn.New(svc, dynamoconns.Beside(store))
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	if conns == nil {
		if conns, err = apigw.NewConnections(ctx, apigw.ConnectionsConfig{Region: cfg.Region}); err != nil {
			return nil, nil, err
		}
	}
	obs, err := wire.Observability(cfg, metrics, log)
	if err != nil {
		return nil, nil, err
	}
	return wsapi.NewGateway(ws, conns, wsapi.GatewayConfig{
		Events:   wsapi.Events{StoreTimeout: cfg.StoreTimeout, Logger: log, Observer: obs},
		Verifier: verifier,
	}), obs, nil
}
