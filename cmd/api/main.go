// Command api is the streamlimit HTTP API as an AWS Lambda function behind an
// API Gateway HTTP API (payload 2.0) or a Lambda Function URL (serverless.yml
// param gateway; both send payload 2.0 events, see functionurl.go). It
// serves the very same http.Handler as the local server, through
// aws-lambda-go-api-proxy. Build it with `make package` (provided.al2023,
// arm64, -tags lambda.norpc).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/cmd/internal/wire"
	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/web"
)

func main() {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamlimit:", err)
		os.Exit(1)
	}
	log := observe.NewLogger(os.Stderr, cfg.LogFormat)
	h, obs, err := newServer(context.Background(), cfg, os.Stderr, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamlimit:", err)
		os.Exit(1)
	}
	// The metrics of an interval are written by the first request after it
	// (Observer.Finish); those an instance holds when Lambda retires it,
	// at the SIGTERM Lambda sends once an extension is registered (the
	// library registers an internal one for it).
	lambda.StartWithOptions(eventHandler(h), lambda.WithEnableSIGTERM(func() { obs.Flush(context.Background()) }))
}

// newServer wires what the HTTP Lambda serves: the lease service over the
// configured stores and the HTTP API, with the identities API Gateway
// verified (gateway) and EMF lines beside the request lines on metrics
// (CloudWatch Logs turns them into metrics; the Observer, returned, holds
// each interval's until it is written). In Lambda
// (AWS_LAMBDA_FUNCTION_NAME is set) each request is traced as a subsegment
// of the function's segment, never a segment.
func newServer(ctx context.Context, cfg config.Config, metrics io.Writer, log *slog.Logger) (http.Handler, *observe.Observer, error) {
	if cfg.RandomTokenKey() {
		log.Warn(config.RandomTokenKeyNote)
	}
	identity, admin, err := wire.Access(ctx, cfg, gateway, log)
	if err != nil {
		return nil, nil, err
	}
	obs, err := wire.Observability(cfg, metrics, log)
	if err != nil {
		return nil, nil, err
	}
	svc, _, err := stores.Service(ctx, cfg, nil)
	if err != nil {
		return nil, nil, err
	}
	hc := handlers.ConfigFrom(cfg)
	if hc.Admission, err = wire.Admission(cfg); err != nil {
		return nil, nil, err
	}
	hc.Logger, hc.Observer, hc.Static = log, obs, web.FS()
	hc.Identity, hc.Admin = auth.Bearer(identity), admin
	return handlers.NewServer(svc, hc), obs, nil
}

// newLambdaHandler returns the Lambda handler that serves h for API Gateway
// HTTP API (payload 2.0) events: each event becomes an *http.Request and the
// recorded answer becomes the response event.
func newLambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}
