// Package dynamo builds the DynamoDB client from configuration (endpoint,
// region, timeouts) for the stores (lease/dynamostore,
// wsconn/dynamoconns) and the tools.
package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/infra/awsconf"
)

// Config says how to reach DynamoDB.
type Config struct {
	// Endpoint, when set, points the client at DynamoDB Local (for example
	// http://localhost:8000). Empty means AWS.
	Endpoint string
	// Region defaults to the SDK's resolution, then us-east-1.
	Region string
	// Timeout bounds one attempt of one call including connecting (default
	// 1s), so an unreachable store fails fast instead of hanging.
	Timeout time.Duration
	// MaxAttempts bounds the SDK's own retries of throttling and network
	// errors (default 2).
	MaxAttempts int
	// Instrument, when set, traces every call (xray.InstrumentAWS); nil,
	// the client never touches a tracing SDK.
	Instrument func(*aws.Config)
}

// New builds a DynamoDB client. For a local endpoint it uses fixed dummy
// credentials and turns off response checksum validation (DynamoDB Local's
// error answers carry no x-amz-crc32).
func New(ctx context.Context, c Config) (*dynamodb.Client, error) {
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 2
	}
	cfg, err := awsconf.Load(ctx, awsconf.Options{
		Region: c.Region, Timeout: c.Timeout, MaxAttempts: c.MaxAttempts,
		MaxIdleConnsPerHost: 256, Instrument: c.Instrument,
	})
	if err != nil {
		return nil, err
	}
	local := c.Endpoint != ""
	if local {
		// DynamoDB Local accepts any credentials; fixed ones spare the SDK
		// a slow search (IMDS) on machines without AWS configuration.
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if local {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.DisableValidateResponseChecksum = true
		}
	}), nil
}
