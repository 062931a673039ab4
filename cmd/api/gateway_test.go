package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/internal/testenv/idp"
)

// newInLambda wires the function as main does (config.Load, newServer)
// over the in-memory store, in Lambda, with the settings of env.
func newInLambda(t *testing.T, env map[string]string) http.Handler {
	t.Helper()
	env["STORE"], env["AWS_LAMBDA_FUNCTION_NAME"] = "memory", "streamlimit-test-api"
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	api, _, err := newServer(t.Context(), cfg, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// newGatewayLambda is the function behind the HTTP API in Lambda, with
// identity on by default (tokens verified against p's key set) and
// ADMIN_AUTH=iam.
func newGatewayLambda(t *testing.T, p *idp.Provider) func(ev events.APIGatewayV2HTTPRequest) answer {
	t.Helper()
	h := newLambdaHandler(newInLambda(t, map[string]string{"ADMIN_AUTH": "iam",
		"JWKS_URL": p.JWKSURL, "JWT_ISSUER": idp.Issuer, "JWT_AUDIENCE": idp.Audience}))
	return func(ev events.APIGatewayV2HTTPRequest) answer { return viaLambda(t, h, ev) }
}

// forUID moves a fixture's call to another uid's path.
func forUID(ev events.APIGatewayV2HTTPRequest, uid string) events.APIGatewayV2HTTPRequest {
	old := ev.PathParameters["uid"]
	ev.RawPath = strings.Replace(ev.RawPath, "/"+old, "/"+uid, 1)
	ev.RequestContext.HTTP.Path = ev.RawPath
	ev.PathParameters = map[string]string{"uid": uid}
	return ev
}

func errorCode(t *testing.T, a answer) string {
	t.Helper()
	var b struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.body), &b); err != nil {
		t.Fatalf("answer %v is not JSON: %v", a, err)
	}
	return b.Error
}

// withToken sets the event's bearer token.
func withToken(ev events.APIGatewayV2HTTPRequest, token string) events.APIGatewayV2HTTPRequest {
	ev.Headers["authorization"] = "Bearer " + token
	return ev
}

// TestGatewayIdentity: in Lambda identity is on by default and the function
// verifies the bearer token itself, against the provider's key set: the
// account is the token's sub; a path for another uid is 403; a token that
// does not verify is 401 even when the event carries claims of an API
// Gateway authorizer or the adapter's context header says so.
func TestGatewayIdentity(t *testing.T) {
	t.Parallel()
	p := idp.Start(t)
	call := newGatewayLambda(t, p)

	own := withToken(loadEvent(t, "streams-get-jwt", ""), p.Token(t, "alice"))
	if a := call(own); a.status != 200 || !strings.Contains(a.body, `"uid":"alice"`) {
		t.Fatalf("alice lists her own streams: %v", a)
	}
	if a := call(forUID(own, "bob")); a.status != 403 || errorCode(t, a) != "forbidden" {
		t.Fatalf("alice's token on bob's listing: %v; want 403 forbidden", a)
	}

	// The fixture's token (a made-up signature) with API Gateway's claims
	// for alice: the claims are not trusted, the token does not verify.
	claimsOnly := loadEvent(t, "streams-get-jwt", "")
	if a := call(claimsOnly); a.status != 401 || errorCode(t, a) != "unauthorized" ||
		!strings.Contains(a.headers["Www-Authenticate"], `error="invalid_token"`) {
		t.Fatalf("authorizer claims, unverifiable token: %v; want 401 unauthorized with WWW-Authenticate error=invalid_token", a)
	}
	noToken := loadEvent(t, "streams-get-jwt", "")
	delete(noToken.Headers, "authorization")
	if a := call(noToken); a.status != 401 || a.headers["Www-Authenticate"] != `Bearer realm="streamlimit"` {
		t.Fatalf("no token: %v; want 401 with a bare Bearer challenge", a)
	}

	forged := loadEvent(t, "streams-get", "")
	ctxJSON, _ := json.Marshal(events.APIGatewayV2HTTPRequestContext{
		Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "alice"}},
		},
	})
	forged.Headers["x-golambdaproxy-apigw-context"] = string(ctxJSON)
	if a := call(forged); a.status != 401 {
		t.Fatalf("claims forged in the adapter's context header: %v; want 401", a)
	}
}

// TestLambdaNeedsIdentity: in Lambda a configuration without the identity
// provider does not start, unless AUTH_MODE=none says identity is off.
func TestLambdaNeedsIdentity(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STORE": "memory", "ADMIN_AUTH": "iam", "AWS_LAMBDA_FUNCTION_NAME": "streamlimit-test-api"}
	if _, err := config.Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "JWKS_URL") {
		t.Fatalf("Lambda without JWKS_URL: %v; want an error naming JWKS_URL", err)
	}
}

// TestGatewayAdminIAM: with ADMIN_AUTH=iam the admin routes need the IAM
// principal API Gateway authenticated; a JWT user or an anonymous call gets
// 401 and changes nothing.
func TestGatewayAdminIAM(t *testing.T) {
	t.Parallel()
	p := idp.Start(t)
	call := newGatewayLambda(t, p)
	list := withToken(loadEvent(t, "streams-get-jwt", ""), p.Token(t, "alice"))

	noIAM := loadEvent(t, "admin-limit-put-iam", "")
	noIAM.RequestContext.Authorizer = nil
	if a := call(noIAM); a.status != 401 || errorCode(t, a) != "unauthorized" {
		t.Fatalf("admin call without IAM: %v; want 401", a)
	}
	asUser := withToken(loadEvent(t, "admin-limit-put-iam", ""), p.Token(t, "alice"))
	asUser.RequestContext.Authorizer = nil
	if a := call(asUser); a.status != 401 {
		t.Fatalf("admin call with alice's token: %v; want 401", a)
	}
	if a := call(list); !strings.Contains(a.body, `"maxStreams":3`) {
		t.Fatalf("a refused admin call changed the limit: %v", a)
	}

	if a := call(loadEvent(t, "admin-limit-put-iam", "")); a.status != 200 || !strings.Contains(a.body, `"maxStreams":2`) {
		t.Fatalf("admin call with IAM: %v; want 200 maxStreams 2", a)
	}
	if a := call(list); !strings.Contains(a.body, `"maxStreams":2`) {
		t.Fatalf("the limit set by the admin route is not in force: %v", a)
	}
}
