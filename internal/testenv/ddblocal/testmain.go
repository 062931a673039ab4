package ddblocal

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/infra/dynamo"
)

// Main is the TestMain of a test binary whose tests need DynamoDB Local: it
// starts one (or reuses $DYNAMODB_ENDPOINT), builds a client for it from
// cfg (Endpoint and Region are filled in), hands both to setup, runs the
// tests, stops DynamoDB Local and exits. When DynamoDB Local cannot start,
// setup gets an empty endpoint, a nil client and the reason the tests should
// skip with; under CI=true (see Required) the binary fails instead.
func Main(m *testing.M, cfg dynamo.Config, setup func(endpoint string, client *dynamodb.Client, skip string)) {
	endpoint, stop, err := ForTests()
	if err != nil {
		if Required() {
			fmt.Fprintf(os.Stderr, "DynamoDB Local is required (CI=true) but could not start: %v\n", err)
			os.Exit(1)
		}
		setup("", nil, "DynamoDB Local unavailable: "+err.Error())
	} else {
		cfg.Endpoint, cfg.Region = endpoint, "us-east-1"
		client, err := dynamo.New(context.Background(), cfg)
		if err != nil {
			stop()
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		setup(endpoint, client, "")
	}
	code := m.Run()
	stop()
	os.Exit(code)
}
