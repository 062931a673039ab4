package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// A Lambda Function URL sends the same payload as an API Gateway HTTP API
// with payload 2.0 (AWS docs, "Invoking Lambda function URLs"), less the
// routing: routeKey is "$default", there are no pathParameters, and the
// authorizer holds at most the IAM caller (AuthType AWS_IAM). The adapter
// (aws-lambda-go-api-proxy v0.16.2, the newest the module proxy serves) has
// no Function URL handler, and aws-lambda-go's lambdaurl serves only
// RESPONSE_STREAM URLs; so the function decodes a Function URL event as
// events.LambdaFunctionURLRequest, hands it to the HTTP API adapter as the
// payload 2.0 event it is, and answers the Function URL response. The same
// http.Handler, routes and prefix rule serve both (config.Prefix: neither
// has a stage in its paths).

// eventHandler serves h for both front doors of the api function: API
// Gateway HTTP API events and Lambda Function URL events, told apart by
// the domain they were sent to (isFunctionURL).
func eventHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	httpAPI := newLambdaHandler(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if isFunctionURL(raw) {
			var ev events.LambdaFunctionURLRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("function URL event: %w", err)
			}
			resp, err := httpAPI(ctx, fromFunctionURL(ev))
			if err != nil {
				return nil, err
			}
			return toFunctionURL(resp), nil
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("HTTP API event: %w", err)
		}
		return httpAPI(ctx, ev)
	}
}

// isFunctionURL reports whether raw came through a Lambda Function URL,
// whose domain is always <url-id>.lambda-url.<region>.on.aws (a custom
// domain needs CloudFront in front, which keeps that origin domain). The
// event is Lambda's, not the client's: a request cannot choose it.
func isFunctionURL(raw json.RawMessage) bool {
	var ev struct {
		RequestContext struct {
			DomainName string `json:"domainName"`
		} `json:"requestContext"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return false
	}
	d := ev.RequestContext.DomainName
	return strings.Contains(d, ".lambda-url.") && strings.HasSuffix(d, ".on.aws")
}

// fromFunctionURL is the payload 2.0 event a Function URL event is: the
// fields map one to one (the IAM caller of an AWS_IAM URL included, where
// gateway.iamCaller reads it); a Function URL has no JWT authorizer.
func fromFunctionURL(ev events.LambdaFunctionURLRequest) events.APIGatewayV2HTTPRequest {
	rc := ev.RequestContext
	out := events.APIGatewayV2HTTPRequest{
		Version: ev.Version, RouteKey: "$default", RawPath: ev.RawPath, RawQueryString: ev.RawQueryString,
		Cookies: ev.Cookies, Headers: ev.Headers, QueryStringParameters: ev.QueryStringParameters,
		Body: ev.Body, IsBase64Encoded: ev.IsBase64Encoded,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "$default", AccountID: rc.AccountID, Stage: "$default", RequestID: rc.RequestID,
			APIID: rc.APIID, DomainName: rc.DomainName, DomainPrefix: rc.DomainPrefix, Time: rc.Time, TimeEpoch: rc.TimeEpoch,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: rc.HTTP.Method, Path: rc.HTTP.Path, Protocol: rc.HTTP.Protocol, SourceIP: rc.HTTP.SourceIP, UserAgent: rc.HTTP.UserAgent,
			},
		},
	}
	if rc.Authorizer != nil && rc.Authorizer.IAM != nil {
		iam := rc.Authorizer.IAM
		out.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
				AccessKey: iam.AccessKey, AccountID: iam.AccountID, CallerID: iam.CallerID, UserARN: iam.UserARN, UserID: iam.UserID,
			},
		}
	}
	return out
}

// toFunctionURL is the Function URL response of a payload 2.0 response
// (the adapter joins repeated headers; cookies travel apart in both).
func toFunctionURL(r events.APIGatewayV2HTTPResponse) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{
		StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body, IsBase64Encoded: r.IsBase64Encoded, Cookies: r.Cookies,
	}
}
