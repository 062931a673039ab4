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
	api, err := newServer(t.Context(), cfg, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// newGatewayLambda is the function behind the HTTP API with AUTH_MODE=jwt
// (claims from API Gateway's JWT authorizer) and ADMIN_AUTH=iam.
func newGatewayLambda(t *testing.T) func(ev events.APIGatewayV2HTTPRequest) answer {
	t.Helper()
	h := newLambdaHandler(newInLambda(t, map[string]string{"AUTH_MODE": "jwt", "ADMIN_AUTH": "iam"}))
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

// TestGatewayIdentity: in Lambda with AUTH_MODE=jwt the account is the JWT
// authorizer's sub claim, read from the event; a path for another uid is
// 403, and a request without verified claims is 401 even when it carries a
// token or forges the adapter's context header.
func TestGatewayIdentity(t *testing.T) {
	t.Parallel()
	call := newGatewayLambda(t)

	own := loadEvent(t, "streams-get-jwt", "")
	if a := call(own); a.status != 200 || !strings.Contains(a.body, `"uid":"alice"`) {
		t.Fatalf("alice lists her own streams: %v", a)
	}
	if a := call(forUID(own, "bob")); a.status != 403 || errorCode(t, a) != "forbidden" {
		t.Fatalf("alice's token on bob's listing: %v; want 403 forbidden", a)
	}

	noAuthorizer := loadEvent(t, "streams-get-jwt", "")
	noAuthorizer.RequestContext.Authorizer = nil // a route deployed without the authorizer
	if a := call(noAuthorizer); a.status != 401 || errorCode(t, a) != "unauthorized" || a.headers["Www-Authenticate"] == "" {
		t.Fatalf("no verified claims (bearer token present): %v; want 401 unauthorized with WWW-Authenticate", a)
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

// TestGatewayAdminIAM: with ADMIN_AUTH=iam the admin routes need the IAM
// principal API Gateway authenticated; a JWT user or an anonymous call gets
// 401 and changes nothing.
func TestGatewayAdminIAM(t *testing.T) {
	t.Parallel()
	call := newGatewayLambda(t)
	list := loadEvent(t, "streams-get-jwt", "")

	noIAM := loadEvent(t, "admin-limit-put-iam", "")
	noIAM.RequestContext.Authorizer = nil
	if a := call(noIAM); a.status != 401 || errorCode(t, a) != "unauthorized" {
		t.Fatalf("admin call without IAM: %v; want 401", a)
	}
	asUser := loadEvent(t, "admin-limit-put-iam", "")
	asUser.RequestContext.Authorizer = loadEvent(t, "streams-get-jwt", "").RequestContext.Authorizer
	if a := call(asUser); a.status != 401 {
		t.Fatalf("admin call with alice's JWT claims: %v; want 401", a)
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
