package main

import (
	"context"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/streamlimit/streamlimit/cmd/internal/wire"
)

// gateway reads what API Gateway verified (the admin routes' IAM caller;
// player tokens are verified by the function itself) from the payload 2.0
// event the
// adapter keeps in the request's context. It never reads the
// X-GoLambdaProxy-ApiGw-Context header the adapter also adds: a client can
// send that header itself.
var gateway = &wire.Gateway{IAMCaller: iamCaller}

// iamCaller returns the ARN (or, failing that, the caller id) of the IAM
// principal an IAM-authorized route authenticated, or "".
func iamCaller(ctx context.Context) string {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(ctx)
	if !ok || rc.Authorizer == nil || rc.Authorizer.IAM == nil {
		return ""
	}
	if iam := rc.Authorizer.IAM; iam.UserARN != "" {
		return iam.UserARN
	}
	return rc.Authorizer.IAM.CallerID
}
