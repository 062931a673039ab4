package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// leaseIDPlaceholder in a fixture is replaced by a lease id granted earlier.
const leaseIDPlaceholder = "{{leaseId}}"

// localPrefix is the route prefix of the local server (STAGE=dev); behind the
// HTTP API's $default stage the prefix is "".
const localPrefix = "/dev"

// testOrigin is the only origin the test APIs allow; the fixtures send it.
const testOrigin = "https://player.example.com"

// downStore is a memstore whose Ping fails while down is set.
type downStore struct {
	*memstore.Store
	down *atomic.Bool
}

func (s downStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return fmt.Errorf("%w: injected by the test", lease.ErrUnavailable)
	}
	return s.Store.Ping(ctx)
}

// sequentialIDs returns a lease id generator that hands out
// 00000000-0000-4000-8000-000000000001, ...002, and so on.
func sequentialIDs() func() (string, error) {
	var n atomic.Int64
	return func() (string, error) {
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)), nil
	}
}

// newAPI returns the HTTP API over a fresh memstore, with clock and
// sequential lease ids, so two APIs given the same calls answer alike.
func newAPI(t *testing.T, clock *leasetest.Clock, down *atomic.Bool, prefix string) http.Handler {
	t.Helper()
	// One renewal-token key, as a deployment's instances share one.
	key := []byte(strings.Repeat("k", lease.MinTokenKeyLen))
	svc := leasetest.NewService(t, downStore{memstore.New(), down}, clock, lease.WithIDGenerator(sequentialIDs()), lease.WithTokenKeys(key))
	return handlers.NewServer(svc, handlers.Config{Prefix: prefix, AllowedOrigins: []string{testOrigin}})
}

// loadEvent reads testdata/name.json, puts leaseID in place of the
// placeholder and decodes it, refusing unknown fields.
func loadEvent(t *testing.T, name, leaseID string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(leaseIDPlaceholder)) {
		if leaseID == "" {
			t.Fatalf("%s needs a lease id and the step gives none", name)
		}
		data = bytes.ReplaceAll(data, []byte(leaseIDPlaceholder), []byte(leaseID))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ev events.APIGatewayV2HTTPRequest
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// eventBody returns the body bytes the event carries.
func eventBody(t *testing.T, ev events.APIGatewayV2HTTPRequest) []byte {
	t.Helper()
	if !ev.IsBase64Encoded {
		return []byte(ev.Body)
	}
	b, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		t.Fatalf("body is not base64: %v", err)
	}
	return b
}

// localPath is where the local server serves the event's path: under the
// stage prefix, except /healthz.
func localPath(rawPath string) string {
	if rawPath == "/healthz" {
		return rawPath
	}
	return localPrefix + rawPath
}

// localRequest is the plain HTTP request a client would send to the local
// server for the same call as ev.
func localRequest(t *testing.T, base string, ev events.APIGatewayV2HTTPRequest) *http.Request {
	t.Helper()
	u := base + localPath(ev.RawPath)
	if ev.RawQueryString != "" {
		u += "?" + ev.RawQueryString
	}
	var body io.Reader
	if b := eventBody(t, ev); len(b) > 0 {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), ev.RequestContext.HTTP.Method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ev.Headers {
		switch k {
		case "host", "content-length": // set by the client from the URL and body
		default:
			req.Header.Set(k, v)
		}
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	return req
}

// answer is one response, from either path, in comparable form.
type answer struct {
	status  int
	headers map[string]string // canonical name -> values joined by ","
	body    string
}

func (a answer) String() string {
	return fmt.Sprintf("%d %v %s", a.status, a.headers, a.body)
}

// viaLambda invokes the Lambda handler with ev.
func viaLambda(t *testing.T, h func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), ev events.APIGatewayV2HTTPRequest) answer {
	t.Helper()
	resp, err := h(t.Context(), ev)
	if err != nil {
		t.Fatalf("Lambda handler: %v", err)
	}
	if resp.IsBase64Encoded || len(resp.Cookies) > 0 || len(resp.MultiValueHeaders) > 0 {
		t.Fatalf("Lambda response: base64 %v, cookies %q, multi-value headers %v; want none", resp.IsBase64Encoded, resp.Cookies, resp.MultiValueHeaders)
	}
	return answer{status: resp.StatusCode, headers: resp.Headers, body: resp.Body}
}

// viaHTTP sends req to the local server. Headers that only a real HTTP
// server adds (Date, Content-Length) are left out.
func viaHTTP(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k, v := range resp.Header {
		if k != "Date" && k != "Content-Length" {
			h[k] = strings.Join(v, ",")
		}
	}
	return answer{status: resp.StatusCode, headers: h, body: string(body)}
}

// step is one call of the scripted session, made on both paths.
type step struct {
	name    string
	fixture string
	lease   int                                   // 1-based index of the granted lease put into the fixture; 0 none
	edit    func(*events.APIGatewayV2HTTPRequest) // change made in the test, after the fixture is read
	advance time.Duration                         // the clock moves by this much before the call
	down    bool                                  // the store's Ping fails during the call
	status  int
	grants  bool              // the answer grants a new lease: remember its id
	headers map[string]string // headers the answer must carry
	has     []string          // substrings the body must contain
	lacks   []string          // substrings the body must not contain
}

// TestLambdaMatchesLocal plays one session through the Lambda handler over
// service A (routes unprefixed, as behind the $default stage) and as plain
// HTTP through a local server over service B (routes under /dev), and
// requires the same status, headers and body at every step. Both services
// share the clock and hand out the same lease ids, so answers compare byte
// for byte; the only rewrite is the local path in the error messages that
// quote it.
func TestLambdaMatchesLocal(t *testing.T) {
	t.Parallel()
	clock := leasetest.NewClock()
	var down atomic.Bool
	lambdaHandler := newLambdaHandler(newAPI(t, clock, &down, ""))
	srv := httptest.NewServer(newAPI(t, clock, &down, localPrefix))
	t.Cleanup(srv.Close)

	json413 := func(ev *events.APIGatewayV2HTTPRequest) {
		body := `{"deviceId":"tv-livingroom","client":{"title":"` + strings.Repeat("x", handlers.MaxBodyBytes) + `"}}`
		ev.Body = body
		ev.Headers["content-length"] = strconv.Itoa(len(body))
	}
	// atPath moves a fixture's call to another raw path.
	atPath := func(p string) func(*events.APIGatewayV2HTTPRequest) {
		return func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath, ev.RequestContext.HTTP.Path = p, p }
	}
	acao := map[string]string{"Access-Control-Allow-Origin": testOrigin, "Vary": "Origin"}
	jsonType := map[string]string{"Content-Type": "application/json; charset=utf-8", "Access-Control-Allow-Origin": testOrigin}
	steps := []step{
		{name: "health", fixture: "healthz", status: 200, has: []string{`"status":"ok"`}},
		{name: "grant JSON body", fixture: "canStream-post-json", status: 200, grants: true, headers: jsonType,
			has: []string{`"canStream":true`, `"streamCount":1`, `"heartbeatIntervalSeconds":30`}},
		{name: "grant query deviceId", fixture: "canStream-get-query", status: 200, grants: true, headers: acao,
			has: []string{`"canStream":true`, `"streamCount":2`}},
		{name: "grant base64 beacon", fixture: "canStream-post-beacon-base64", status: 200, grants: true,
			has: []string{`"canStream":true`, `"streamCount":3`}},
		// A device id is a label, never a proof: phone-1's id again, without
		// its secret or lease id, is a newcomer, refused at the limit.
		{name: "same device without proof is refused", fixture: "canStream-get-query", status: 200,
			has:   []string{`"canStream":false`, `"streamCount":3`, `"deviceId":"phone-1"`},
			lacks: []string{`"leaseId"`, `"resumed"`}},
		// The TV restarts and proves its lease with its secret: it takes it
		// over under a new lease id (lease 4), no new slot.
		{name: "resume by device secret", fixture: "canStream-post-resume-secret", status: 200, grants: true,
			has: []string{`"canStream":true`, `"streamCount":3`, `"leaseId":"00000000-0000-4000-8000-000000000004"`, `"resumed":true`}},
		{name: "heartbeat superseded lease", fixture: "heartbeat", lease: 1, status: 410, headers: jsonType,
			has: []string{`"error":"lease_revoked"`, `"reason":"superseded"`}},
		{name: "end superseded lease", fixture: "endStream", lease: 1, status: 200, has: []string{`"removedStream":false`, `"streamCount":3`}},
		// The phone proves its lease with its lease id (lease 5).
		{name: "resume by lease id", fixture: "canStream-post-resume-lease", lease: 2, status: 200, grants: true,
			has: []string{`"canStream":true`, `"streamCount":3`, `"leaseId":"00000000-0000-4000-8000-000000000005"`, `"resumed":true`}},
		{name: "resume a superseded lease id", fixture: "canStream-post-resume-lease", lease: 2, status: 410,
			has: []string{`"error":"lease_revoked"`, `"reason":"superseded"`}, lacks: []string{`"leaseId"`}},
		{name: "refusal lists sessions", fixture: "canStream-post-empty", status: 200,
			has: []string{`"canStream":false`, `"deviceId":"laptop-1"`, `"title":"Sintel"`, `"userAgent":"Mozilla/5.0 (X11`, `"userAgent":"ExamplePlayer/4.2 (Tizen 7.0)"`}},
		{name: "list", fixture: "streams-get", status: 200, has: []string{`"streamCount":3`, `"deviceId":"phone-1"`}},
		{name: "heartbeat", fixture: "heartbeat", lease: 4, advance: 20 * time.Second, status: 200,
			has: []string{`"leaseId":"00000000-0000-4000-8000-000000000004"`, `"renewalToken":"`}, lacks: []string{`"streamCount"`}},
		{name: "end", fixture: "endStream", lease: 5, status: 200, has: []string{`"removedStream":true`, `"streamCount":2`}},
		{name: "end again", fixture: "endStream", lease: 5, status: 200, has: []string{`"removedStream":false`, `"streamCount":2`}},
		{name: "heartbeat ended lease", fixture: "heartbeat", lease: 5, status: 410, headers: jsonType, has: []string{`"lease_expired"`}},
		{name: "end without lease id", fixture: "endStream-missing-lease-id", status: 400,
			has: []string{`"missing_lease_id"`, `use /endStream/alice/{leaseId}`}},
		{name: "invalid uid", fixture: "canStream-invalid-uid", status: 400, has: []string{`"invalid_uid"`}},
		{name: "wrong method", fixture: "canStream-wrong-method", status: 405,
			headers: map[string]string{"Allow": "GET, POST", "Access-Control-Allow-Origin": testOrigin}, has: []string{`"method_not_allowed"`}},
		{name: "unknown route", fixture: "unknown-route", status: 404, has: []string{`"No such route: /canStreams/alice."`}},
		{name: "unclean path", fixture: "canStream-post-json", edit: atPath("/canStream/../heartbeat/alice"), status: 404,
			has: []string{`"not_found"`}},
		{name: "empty segment", fixture: "canStream-post-json", edit: atPath("/canStream//alice"), status: 404,
			has: []string{`"not_found"`}},
		{name: "uid of encoded dots", fixture: "canStream-post-json", edit: atPath("/canStream/%2E%2E"), status: 400,
			has: []string{`"invalid_uid"`}},
		{name: "preflight", fixture: "canStream-preflight", status: 204,
			headers: map[string]string{"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS", "Access-Control-Allow-Origin": testOrigin}},
		{name: "body over 4 KiB", fixture: "canStream-post-json", edit: json413, status: 413, has: []string{`"body_too_large"`}},
		{name: "store down", fixture: "healthz", down: true, status: 503,
			headers: map[string]string{"Retry-After": apierr.RetryAfterSeconds}, has: []string{`"store_unavailable"`}},
		{name: "all expired", fixture: "streams-get", advance: 110 * time.Second, status: 200,
			has: []string{`"streamCount":0`, `"streams":[]`}},
		{name: "heartbeat expired lease", fixture: "heartbeat", lease: 4, status: 410, has: []string{`"lease_expired"`}},
		{name: "grant reclaims", fixture: "canStream-post-json", status: 200, grants: true,
			has: []string{`"streamCount":1`, `"leaseId":"00000000-0000-4000-8000-000000000006"`}, lacks: []string{`"resumed"`}},
	}

	var leases []string
	for i, s := range steps {
		where := fmt.Sprintf("step %d (%s, %s)", i+1, s.name, s.fixture)
		id := ""
		if s.lease > 0 {
			if s.lease > len(leases) {
				t.Fatalf("%s: lease %d not granted yet", where, s.lease)
			}
			id = leases[s.lease-1]
		}
		clock.Advance(s.advance)
		down.Store(s.down)

		ev := loadEvent(t, s.fixture, id)
		if s.edit != nil {
			s.edit(&ev)
		}
		req := localRequest(t, srv.URL, ev) // before the adapter sees ev
		got := viaLambda(t, lambdaHandler, ev)
		local := viaHTTP(t, srv.Client(), req)
		if lp := localPath(ev.RawPath); lp != ev.RawPath {
			local.body = strings.ReplaceAll(local.body, " "+lp, " "+ev.RawPath)
		}

		if !reflect.DeepEqual(got, local) {
			t.Fatalf("%s: Lambda and local answers differ\nLambda: %v\nlocal:  %v", where, got, local)
		}
		if got.status != s.status {
			t.Fatalf("%s: status %d; want %d\n%v", where, got.status, s.status, got)
		}
		for k, v := range s.headers {
			if got.headers[k] != v {
				t.Errorf("%s: header %s = %q; want %q", where, k, got.headers[k], v)
			}
		}
		for _, sub := range s.has {
			if !strings.Contains(got.body, sub) {
				t.Errorf("%s: body lacks %s\n%s", where, sub, got.body)
			}
		}
		for _, sub := range s.lacks {
			if strings.Contains(got.body, sub) {
				t.Errorf("%s: body holds %s\n%s", where, sub, got.body)
			}
		}
		if s.grants {
			var b struct {
				LeaseID string `json:"leaseId"`
			}
			if err := json.Unmarshal([]byte(got.body), &b); err != nil || !lease.ValidLeaseID(b.LeaseID) {
				t.Fatalf("%s: no lease id in %s (%v)", where, got.body, err)
			}
			leases = append(leases, b.LeaseID)
		}
	}
}

// TestFixturesAreEvents checks that every fixture is a well-formed HTTP API
// payload 2.0 event: it decodes into events.APIGatewayV2HTTPRequest without
// unknown fields, re-encodes with every key and value it had (json.Unmarshal
// matches keys case-insensitively, so a misspelt "RawPath" would otherwise
// pass), and is consistent with itself the way API Gateway's events are.
func TestFixturesAreEvents(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev := loadEvent(t, name, "00000000-0000-4000-8000-000000000001")
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var orig, again any
			if err := json.Unmarshal(data, &orig); err != nil {
				t.Fatal(err)
			}
			re, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			re = bytes.ReplaceAll(re, []byte("00000000-0000-4000-8000-000000000001"), []byte(leaseIDPlaceholder))
			if err := json.Unmarshal(re, &again); err != nil {
				t.Fatal(err)
			}
			for _, diff := range lostInRoundTrip("", orig, again) {
				t.Errorf("%s does not survive events.APIGatewayV2HTTPRequest", diff)
			}
			checkConsistent(t, ev)
		})
	}
}

// lostInRoundTrip lists the paths of want that got lacks or holds with
// another value. Keys only in got (zero values the type always encodes, such
// as requestContext.authentication) are fine.
func lostInRoundTrip(path string, want, got any) []string {
	wm, ok := want.(map[string]any)
	if !ok {
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: %v became %v", path, want, got)}
		}
		return nil
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: object became %v", path, got)}
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(wm)) {
		gv, ok := gm[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s.%s: key dropped", path, k))
			continue
		}
		out = append(out, lostInRoundTrip(path+"."+k, wm[k], gv)...)
	}
	return out
}

// checkConsistent checks what API Gateway guarantees within one event.
func checkConsistent(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
	t.Helper()
	rc := ev.RequestContext
	switch {
	case ev.Version != "2.0":
		t.Errorf("version %q; want 2.0", ev.Version)
	case rc.Stage != "$default":
		t.Errorf("stage %q; want $default", rc.Stage)
	case ev.RouteKey != rc.RouteKey:
		t.Errorf("routeKey %q but requestContext.routeKey %q", ev.RouteKey, rc.RouteKey)
	case ev.RawPath != rc.HTTP.Path:
		t.Errorf("rawPath %q but requestContext.http.path %q", ev.RawPath, rc.HTTP.Path)
	case ev.Headers["user-agent"] != rc.HTTP.UserAgent:
		t.Errorf("user-agent header %q but requestContext.http.userAgent %q", ev.Headers["user-agent"], rc.HTTP.UserAgent)
	case ev.Headers["host"] != rc.DomainName:
		t.Errorf("host header %q but domainName %q", ev.Headers["host"], rc.DomainName)
	case ev.Headers["x-forwarded-for"] != rc.HTTP.SourceIP:
		t.Errorf("x-forwarded-for %q but sourceIp %q", ev.Headers["x-forwarded-for"], rc.HTTP.SourceIP)
	case time.UnixMilli(rc.TimeEpoch).UTC().Format("02/Jan/2006:15:04:05 -0700") != rc.Time:
		t.Errorf("time %q does not match timeEpoch %d", rc.Time, rc.TimeEpoch)
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower-case", k)
		}
	}
	if cl, ok := ev.Headers["content-length"]; ok && cl != strconv.Itoa(len(eventBody(t, ev))) {
		t.Errorf("content-length %s but the body has %d bytes", cl, len(eventBody(t, ev)))
	}
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		t.Errorf("rawQueryString: %v", err)
	}
	params := map[string]string{}
	for k, v := range q {
		params[k] = strings.Join(v, ",")
	}
	if len(params) > 0 || len(ev.QueryStringParameters) > 0 {
		if !reflect.DeepEqual(params, ev.QueryStringParameters) {
			t.Errorf("queryStringParameters %v; rawQueryString says %v", ev.QueryStringParameters, params)
		}
	}
	if ev.RouteKey == "$default" {
		if len(ev.PathParameters) > 0 {
			t.Errorf("pathParameters %v on the $default route", ev.PathParameters)
		}
		return
	}
	method, pattern, ok := strings.Cut(ev.RouteKey, " ")
	if !ok || method != rc.HTTP.Method {
		t.Errorf("routeKey %q does not match method %s", ev.RouteKey, rc.HTTP.Method)
		return
	}
	segs, path := strings.Split(pattern, "/"), strings.Split(ev.RawPath, "/")
	if len(segs) != len(path) {
		t.Errorf("rawPath %q does not match route %q", ev.RawPath, pattern)
		return
	}
	want := map[string]string{}
	for i, seg := range segs {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			want[strings.TrimSuffix(name, "}")] = path[i]
		} else if seg != path[i] {
			t.Errorf("rawPath %q does not match route %q", ev.RawPath, pattern)
		}
	}
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(want, ev.PathParameters) {
		t.Errorf("pathParameters %v; route %q on %q gives %v", ev.PathParameters, pattern, ev.RawPath, want)
	}
}
