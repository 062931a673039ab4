package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamlimit/streamlimit/lease/leasetest"
)

// loadURLEvent reads testdata/url/name.json (a Function URL event), puts
// leaseID in place of the placeholder and returns the raw event.
func loadURLEvent(t *testing.T, name, leaseID string) json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "url", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(data, []byte(leaseIDPlaceholder), []byte(leaseID))
}

// viaEvent invokes the function's event handler with a raw event and reads
// the answer, whichever response type the front door has.
func viaEvent(t *testing.T, h func(context.Context, json.RawMessage) (any, error), raw json.RawMessage) (answer, any) {
	t.Helper()
	resp, err := h(t.Context(), raw)
	if err != nil {
		t.Fatalf("Lambda handler: %v", err)
	}
	switch r := resp.(type) {
	case events.LambdaFunctionURLResponse:
		return answer{status: r.StatusCode, headers: r.Headers, body: r.Body}, resp
	case events.APIGatewayV2HTTPResponse:
		return answer{status: r.StatusCode, headers: r.Headers, body: r.Body}, resp
	default:
		t.Fatalf("response of type %T", resp)
		return answer{}, nil
	}
}

// setPath moves a raw event to another method and path (rawPath and
// http.path).
func setPath(t *testing.T, raw json.RawMessage, method, path string) json.RawMessage {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["rawPath"] = path
	h := ev["requestContext"].(map[string]any)["http"].(map[string]any)
	h["path"], h["method"] = path, method
	out, _ := json.Marshal(ev)
	return out
}

// TestFunctionURLMatchesHTTPAPI plays the same calls as Function URL events
// through the function's event handler over service A and as HTTP API
// events over service B: the answers (status, headers, body) are the same,
// a Function URL answer has the Function URL response type, and the routes
// carry no stage prefix on either.
func TestFunctionURLMatchesHTTPAPI(t *testing.T) {
	t.Parallel()
	clock := leasetest.NewClock()
	var down atomic.Bool
	viaURL := eventHandler(newAPI(t, clock, &down, ""))
	viaHTTPAPI := newLambdaHandler(newAPI(t, clock, &down, ""))

	grant, resp := viaEvent(t, viaURL, loadURLEvent(t, "canStream-post-json", ""))
	if _, ok := resp.(events.LambdaFunctionURLResponse); !ok {
		t.Fatalf("a Function URL event answered %T, want events.LambdaFunctionURLResponse", resp)
	}
	want := viaLambda(t, viaHTTPAPI, loadEvent(t, "canStream-post-json", ""))
	if grant.status != 200 || !strings.Contains(grant.body, `"leaseId":"00000000-0000-4000-8000-000000000001"`) ||
		!reflect.DeepEqual(grant, want) {
		t.Fatalf("canStream\n via Function URL %v\n via HTTP API     %v", grant, want)
	}
	const lease1 = "00000000-0000-4000-8000-000000000001"
	hb, _ := viaEvent(t, viaURL, loadURLEvent(t, "heartbeat", lease1))
	wantHB := viaLambda(t, viaHTTPAPI, loadEvent(t, "heartbeat", lease1))
	if hb.status != 200 || !reflect.DeepEqual(hb, wantHB) {
		t.Fatalf("heartbeat\n via Function URL %v\n via HTTP API     %v", hb, wantHB)
	}
	// No stage prefix: /dev/... is an unknown route, answered in JSON.
	staged, _ := viaEvent(t, viaURL, setPath(t, loadURLEvent(t, "canStream-post-json", ""), "POST", "/dev/canStream/alice"))
	if staged.status != 404 || errorCode(t, staged) != "not_found" {
		t.Fatalf("/dev/canStream/alice via Function URL: %v; want 404 not_found", staged)
	}
	// An HTTP API event through the same entry point stays an HTTP API event.
	_, resp = viaEvent(t, viaURL, mustJSON(t, loadEvent(t, "healthz", "")))
	if _, ok := resp.(events.APIGatewayV2HTTPResponse); !ok {
		t.Fatalf("an HTTP API event answered %T, want events.APIGatewayV2HTTPResponse", resp)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFunctionURLAdminIAM: behind Function URLs the admin routes are served
// by a second URL with AuthType AWS_IAM (serverless.yml, gateway=url): with
// ADMIN_AUTH=iam the function reads the IAM caller that URL verified; the
// same call through the public URL (AuthType NONE: no authorizer in the
// event) is 401 and changes nothing.
func TestFunctionURLAdminIAM(t *testing.T) {
	t.Parallel()
	h := eventHandler(newInLambda(t, map[string]string{"ADMIN_AUTH": "iam", "AUTH_MODE": "none"})) // players: TestGatewayIdentity
	listing := setPath(t, loadURLEvent(t, "heartbeat", "x"), "GET", "/streams/alice")

	var public map[string]any
	if err := json.Unmarshal(loadURLEvent(t, "admin-limit-put-iam", ""), &public); err != nil {
		t.Fatal(err)
	}
	delete(public["requestContext"].(map[string]any), "authorizer")
	if a, _ := viaEvent(t, h, mustJSON(t, public)); a.status != 401 || errorCode(t, a) != "unauthorized" {
		t.Fatalf("admin call through the public URL (no IAM caller): %v; want 401", a)
	}
	if a, _ := viaEvent(t, h, listing); !strings.Contains(a.body, `"maxStreams":3`) {
		t.Fatalf("a refused admin call changed the limit: %v", a)
	}
	if a, _ := viaEvent(t, h, loadURLEvent(t, "admin-limit-put-iam", "")); a.status != 200 || !strings.Contains(a.body, `"maxStreams":2`) {
		t.Fatalf("admin call through the AWS_IAM URL: %v; want 200 maxStreams 2", a)
	}
	if a, _ := viaEvent(t, h, listing); !strings.Contains(a.body, `"maxStreams":2`) {
		t.Fatalf("the limit set through the AWS_IAM URL is not in force: %v", a)
	}
}

// TestEventShapes: every Function URL fixture is told apart from every HTTP
// API fixture, and survives events.LambdaFunctionURLRequest: each field the
// function reads keeps its value (requestContext.authentication and the
// routing fields a Function URL always sends empty are not read).
func TestEventShapes(t *testing.T) {
	t.Parallel()
	urls, _ := filepath.Glob(filepath.Join("testdata", "url", "*.json"))
	apis, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(urls) == 0 || len(apis) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range apis {
		raw, _ := os.ReadFile(f)
		if isFunctionURL(raw) {
			t.Errorf("%s (HTTP API) taken for a Function URL event", f)
		}
	}
	unread := map[string]bool{"routeKey": true, "pathParameters": true, "stageVariables": true, "stage": true,
		"authentication": true, "cognitoIdentity": true, "principalOrgId": true}
	for _, f := range urls {
		raw := bytes.ReplaceAll(must(os.ReadFile(f)), []byte(leaseIDPlaceholder), []byte("x"))
		if !isFunctionURL(raw) {
			t.Errorf("%s not taken for a Function URL event", f)
		}
		var ev events.LambdaFunctionURLRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var orig, again any
		_ = json.Unmarshal(raw, &orig)
		_ = json.Unmarshal(mustJSON(t, ev), &again)
		for _, diff := range lostInRoundTrip("", dropKeys(orig, unread), again) {
			t.Errorf("%s: %s does not survive events.LambdaFunctionURLRequest", f, diff)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// dropKeys returns v without the map keys in drop, at any depth.
func dropKeys(v any, drop map[string]bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if !drop[k] {
			out[k] = dropKeys(x, drop)
		}
	}
	return out
}
