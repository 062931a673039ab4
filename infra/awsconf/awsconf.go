// Package awsconf builds the AWS SDK configuration every AWS client of
// streamlimit is made from, in one place: credentials from the usual chain,
// the region (default us-east-1), an HTTP client whose every attempt is
// bounded (connecting included), the SDK's retry budget, and optional
// instrumentation (X-Ray).
package awsconf

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// DefaultRegion is used when neither Options.Region nor the SDK's own
// resolution names one.
const DefaultRegion = "us-east-1"

// Options say how to reach AWS.
type Options struct {
	// Region defaults to the SDK's resolution, then DefaultRegion.
	Region string
	// Timeout bounds one attempt of one call including connecting, so an
	// unreachable service fails fast instead of hanging. Required.
	Timeout time.Duration
	// MaxAttempts bounds the SDK's own retries (0: the SDK's default).
	MaxAttempts int
	// MaxIdleConnsPerHost sizes the connection pool (0: net/http's
	// default).
	MaxIdleConnsPerHost int
	// Instrument, when set, is applied to the configuration before any
	// client is built from it (xray.InstrumentAWS).
	Instrument func(*aws.Config)
}

// Load returns the AWS configuration for o.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(o.Timeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.Timeout }).
		WithTransportOptions(func(t *http.Transport) {
			if o.MaxIdleConnsPerHost > 0 {
				t.MaxIdleConnsPerHost = o.MaxIdleConnsPerHost
			}
			t.ResponseHeaderTimeout = o.Timeout
		})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if o.MaxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(o.MaxAttempts))
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if o.Instrument != nil {
		o.Instrument(&cfg)
	}
	return cfg, nil
}
