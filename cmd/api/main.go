// Command api is the streamlimit HTTP API as an AWS Lambda function behind an
// API Gateway HTTP API (payload 2.0). It serves the very same http.Handler as
// the local server, through aws-lambda-go-api-proxy. Build it with
// `make package` (provided.al2023, arm64, -tags lambda.norpc).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/internal/app"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamlimit:", err)
		os.Exit(1)
	}
	// EMF lines beside the request lines: CloudWatch Logs turns them into
	// metrics. In Lambda (AWS_LAMBDA_FUNCTION_NAME is set) each request is
	// traced as a subsegment of the function's segment, never a segment.
	w := app.Wiring{Gateway: gateway, MetricsOutput: os.Stderr}
	a, err := app.New(context.Background(), cfg, w, cfg.Prefix(), log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamlimit:", err)
		os.Exit(1)
	}
	lambda.Start(newLambdaHandler(a.Handler))
}

// newLambdaHandler returns the Lambda handler that serves h for API Gateway
// HTTP API (payload 2.0) events: each event becomes an *http.Request and the
// recorded answer becomes the response event.
func newLambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}
