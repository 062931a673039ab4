package observetest

import (
	"context"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Invocation returns the context the Lambda runtime gives an invocation:
// its request id and its X-Ray trace header (aws-lambda-go keeps the header
// under the string key "x-amzn-trace-id", which the X-Ray SDK reads to
// build the function's segment).
func Invocation(requestID, traceHeader string) context.Context {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: requestID})
	return context.WithValue(ctx, "x-amzn-trace-id", traceHeader) //nolint:staticcheck // the runtime's own key
}
