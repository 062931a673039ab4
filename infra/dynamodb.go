// Package infra holds what touches AWS itself: building the DynamoDB client
// from configuration (endpoint, region, timeouts) and X-Ray tracing.
package infra

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoConfig says how to reach DynamoDB.
type DynamoConfig struct {
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
	// XRay traces every call as a subsegment of the request being served
	// (see InstrumentAWS); off, the client never touches the X-Ray SDK.
	XRay bool
}

// NewDynamoDB builds a DynamoDB client. For a local endpoint it uses fixed
// dummy credentials and turns off response checksum
// validation (DynamoDB Local's error answers carry no x-amz-crc32).
func NewDynamoDB(ctx context.Context, c DynamoConfig) (*dynamodb.Client, error) {
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 2
	}
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(c.Timeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = c.Timeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 256
			t.ResponseHeaderTimeout = c.Timeout
		})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryMaxAttempts(c.MaxAttempts),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	local := c.Endpoint != ""
	if local {
		// DynamoDB Local accepts any credentials; fixed ones spare the SDK
		// a slow search (IMDS) on machines without AWS configuration.
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	}
	if c.XRay {
		InstrumentAWS(&cfg)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if local {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.DisableValidateResponseChecksum = true
		}
	}), nil
}
