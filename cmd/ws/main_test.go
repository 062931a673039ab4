package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/internal/testenv/idp"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/wsapi"
	"github.com/streamlimit/streamlimit/wsapi/sockets"
	"github.com/streamlimit/streamlimit/wsconn"
	"github.com/streamlimit/streamlimit/wsconn/dynamoconns"
)

var (
	endpoint string
	client   *dynamodb.Client
	skipMsg  string
)

func TestMain(m *testing.M) {
	ddblocal.Main(m, dynamo.Config{Timeout: 30 * time.Second}, func(ep string, c *dynamodb.Client, skip string) {
		endpoint, client, skipMsg = ep, c, skip
	})
}

// env is the configuration shared by the Lambda handler and the local
// server under test: a fresh table on DynamoDB Local.
func env(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	if endpoint == "" {
		t.Skip(skipMsg)
	}
	vars := map[string]string{
		"DYNAMODB_ENDPOINT": endpoint, "AWS_REGION": "us-east-1", "CREATE_TABLE": "true",
		"TABLE_NAME": fmt.Sprintf("ws_%08x", rand.Uint32()), "MAX_STREAMS": "3", "STORE_TIMEOUT_MS": "10000",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

// post is one message sent through the management API.
type post struct {
	Endpoint, ConnID string
	Body             map[string]any
}

// fakeConns records what the handler sends and closes.
type fakeConns struct {
	mu     sync.Mutex
	posts  []post
	closed []string
}

func (f *fakeConns) Post(_ context.Context, endpoint, connID string, data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, post{endpoint, connID, m})
	return nil
}

func (f *fakeConns) Close(_ context.Context, _, connID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, connID)
	return nil
}

// last returns the last message posted.
func (f *fakeConns) last(t *testing.T) post {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.posts) == 0 {
		t.Fatal("nothing was posted")
	}
	return f.posts[len(f.posts)-1]
}

type lambdaHandler = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

func newLambda(t *testing.T, vars map[string]string) (lambdaHandler, *fakeConns) {
	t.Helper()
	conns := &fakeConns{}
	h, _, err := newHandler(context.Background(), func(k string) string { return vars[k] }, slog.New(slog.DiscardHandler), io.Discard, conns)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	return h, conns
}

// fixture loads testdata/name.json.
func fixture(t *testing.T, name string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return req
}

// driver drives the handler with the fixtures.
type driver struct {
	t     *testing.T
	h     lambdaHandler
	conns *fakeConns
}

func (l driver) invoke(req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	l.t.Helper()
	resp, err := l.h(context.Background(), req)
	if err != nil {
		l.t.Fatalf("%s: %v", req.RequestContext.RouteKey, err)
	}
	return resp
}

func (l driver) connect(connID string, query map[string]string) events.APIGatewayProxyResponse {
	l.t.Helper()
	req := fixture(l.t, "connect")
	req.RequestContext.ConnectionID = connID
	req.QueryStringParameters = query
	return l.invoke(req)
}

func (l driver) message(connID, fixtureName string) map[string]any {
	l.t.Helper()
	return l.messageBody(connID, fixtureName, "")
}

// messageBody is message with the fixture's body replaced by body (when
// not empty).
func (l driver) messageBody(connID, fixtureName, body string) map[string]any {
	l.t.Helper()
	req := fixture(l.t, fixtureName)
	req.RequestContext.ConnectionID = connID
	if body != "" {
		req.Body = body
	}
	if resp := l.invoke(req); resp.StatusCode != 200 {
		l.t.Fatalf("%s: status %d", fixtureName, resp.StatusCode)
	}
	p := l.conns.last(l.t)
	if p.ConnID != connID || p.Endpoint != "https://abc123defg.execute-api.us-east-1.amazonaws.com/dev" {
		l.t.Fatalf("reply went to %s at %s, want %s at the event's domain and stage", p.ConnID, p.Endpoint, connID)
	}
	return p.Body
}

func (l driver) disconnect(connID string) {
	l.t.Helper()
	req := fixture(l.t, "disconnect")
	req.RequestContext.ConnectionID = connID
	if resp := l.invoke(req); resp.StatusCode != 200 {
		l.t.Fatalf("$disconnect: status %d", resp.StatusCode)
	}
}

func body(t *testing.T, resp events.APIGatewayProxyResponse) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	return m
}

// TestFixtures checks that every fixture is a complete event: it decodes
// and encodes back to the same JSON.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"connect", "heartbeat", "default", "disconnect"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var req events.APIGatewayWebsocketProxyRequest
		if err := json.Unmarshal(data, &req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, _ := json.Marshal(req)
		var a, b any
		_ = json.Unmarshal(data, &a)
		_ = json.Unmarshal(again, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s does not round-trip:\n%s\n%s", name, data, again)
		}
	}
}

// scenario is the same sequence of player actions, run against the Lambda
// handler and against the local server.
type scenario interface {
	connect(device string) (status int)
	heartbeat(device string) map[string]any
	close(device string)
}

func runScenario(t *testing.T, s scenario) {
	t.Helper()
	for _, d := range []string{"tv", "phone", "tablet"} {
		if st := s.connect(d); st != 200 {
			t.Fatalf("connect %s: %d, want 200", d, st)
		}
	}
	if st := s.connect("laptop"); st != 403 {
		t.Fatalf("fourth connect: %d, want 403", st)
	}
	if m := s.heartbeat("tv"); m["result"] != "success" || m["renewalToken"] == nil || m["streamCount"] != nil {
		t.Fatalf("heartbeat: %v", m)
	}
	s.close("phone")
	if st := s.connect("laptop"); st != 200 {
		t.Fatalf("connect laptop after phone closed: %d, want 200", st)
	}
}

// lambdaScenario plays the scenario with the fixtures.
type lambdaScenario struct{ driver }

func (l lambdaScenario) connect(d string) int {
	return l.driver.connect("conn-"+d, map[string]string{"uid": "viewer-1", "deviceId": d}).StatusCode
}
func (l lambdaScenario) heartbeat(d string) map[string]any { return l.message("conn-"+d, "heartbeat") }
func (l lambdaScenario) close(d string)                    { l.disconnect("conn-" + d) }

// localScenario plays it with real sockets against the local server.
type localScenario struct {
	t     *testing.T
	base  string // ws://host/dev/ws
	api   string // http://host/dev
	socks map[string]*websocket.Conn
}

func (l *localScenario) connect(d string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, l.base+"?uid=viewer-1&deviceId="+d, nil)
	if err != nil {
		if resp == nil {
			l.t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	l.t.Cleanup(func() { _ = c.CloseNow() })
	l.socks[d] = c
	return 200
}

func (l *localScenario) heartbeat(d string) map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := l.socks[d]
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"heartbeat"}`)); err != nil {
		l.t.Fatal(err)
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return m
}

func (l *localScenario) close(d string) {
	if err := l.socks[d].Close(websocket.StatusNormalClosure, "bye"); err != nil {
		l.t.Fatal(err)
	}
	// The server ends the lease just after the close handshake.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(l.api + "/streams/viewer-1")
		if err != nil {
			l.t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if m["streamCount"] == float64(2) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("streamCount %v 10 s after a close, want 2", m["streamCount"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSameTableEffects runs one scenario (three players connect, a fourth
// is refused, one heartbeats, one closes, the fourth gets in) through the
// Lambda handler with the event fixtures and through the local server with
// real sockets, each on its own table, and compares the tables.
func TestSameTableEffects(t *testing.T) {
	t.Parallel()
	lvars := env(t, nil)
	h, conns := newLambda(t, lvars)
	runScenario(t, lambdaScenario{driver{t, h, conns}})

	svars := env(t, nil)
	cfg, err := config.Load(func(k string) string { return svars[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The local side, wired as cmd/local wires it: the HTTP API with the
	// local sockets mounted at /dev/ws.
	svc, store, err := stores.Service(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := wsconn.New(svc, dynamoconns.Beside(store))
	if err != nil {
		t.Fatal(err)
	}
	socks := sockets.New(ws, sockets.Config{Events: wsapi.Events{StoreTimeout: cfg.StoreTimeout}})
	hc := handlers.ConfigFrom(cfg)
	hc.Prefix, hc.WebSocket = "/dev", socks
	srv := httptest.NewServer(handlers.NewServer(svc, hc))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = socks.Close(context.Background()) })
	api := srv.URL + "/dev"
	runScenario(t, &localScenario{t: t, base: "ws" + strings.TrimPrefix(api, "http") + "/ws", api: api, socks: map[string]*websocket.Conn{}})

	viaLambda, viaLocal := snapshot(t, lvars["TABLE_NAME"]), snapshot(t, svars["TABLE_NAME"])
	want := []string{
		"account viewer-1 count=3 version=5",
		"binding viewer-1 lease=laptop", "binding viewer-1 lease=tablet", "binding viewer-1 lease=tv",
		"lease viewer-1 device=laptop", "lease viewer-1 device=tablet", "lease viewer-1 device=tv",
	}
	if !slices.Equal(viaLambda, want) {
		t.Errorf("table after the Lambda scenario:\n  %s\nwant:\n  %s", strings.Join(viaLambda, "\n  "), strings.Join(want, "\n  "))
	}
	if !slices.Equal(viaLocal, viaLambda) {
		t.Errorf("the local server left\n  %s\nthe Lambda handler\n  %s", strings.Join(viaLocal, "\n  "), strings.Join(viaLambda, "\n  "))
	}
}

// snapshot describes every item of table without ids or times: leases by
// device, bindings by their lease's device.
func snapshot(t *testing.T, table string) []string {
	t.Helper()
	out, err := client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	s := func(it map[string]types.AttributeValue, k string) string {
		switch v := it[k].(type) {
		case *types.AttributeValueMemberS:
			return v.Value
		case *types.AttributeValueMemberN:
			return v.Value
		}
		return ""
	}
	device := map[string]string{}
	for _, it := range out.Items {
		if strings.HasPrefix(s(it, "sk"), "lease#") {
			device[s(it, "leaseId")] = s(it, "deviceId")
		}
	}
	var lines []string
	for _, it := range out.Items {
		uid, sk := s(it, "uid"), s(it, "sk")
		switch {
		case sk == "#account":
			lines = append(lines, fmt.Sprintf("account %s count=%s version=%s", uid, s(it, "count"), s(it, "version")))
		case strings.HasPrefix(sk, "lease#"):
			lines = append(lines, fmt.Sprintf("lease %s device=%s", uid, s(it, "deviceId")))
		case strings.HasPrefix(uid, "#conn#"):
			lines = append(lines, fmt.Sprintf("binding %s lease=%s", s(it, "account"), device[s(it, "leaseId")]))
		default:
			lines = append(lines, "unexpected "+uid+" "+sk)
		}
	}
	slices.Sort(lines)
	return lines
}

// dump is every item of table (ddblocal.Dump).
func dump(t *testing.T, table string) string {
	t.Helper()
	d, err := ddblocal.Dump(t.Context(), client, table)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func itemCount(t *testing.T, table string) int {
	t.Helper()
	return len(snapshot(t, table))
}

// TestLambdaMessages: heartbeat replies, $default errors, a lost lease is
// told and its connection closed, a stale $disconnect ends nothing.
func TestLambdaMessages(t *testing.T) {
	t.Parallel()
	vars := env(t, nil)
	h, conns := newLambda(t, vars)
	l := driver{t, h, conns}
	if st := l.connect("c1", map[string]string{"uid": "viewer-2", "deviceId": "tv"}).StatusCode; st != 200 {
		t.Fatalf("connect: %d", st)
	}
	hb := l.message("c1", "heartbeat")
	lease, _ := hb["leaseId"].(string)
	if hb["action"] != "heartbeat" || hb["result"] != "success" || hb["uid"] != "viewer-2" || lease == "" ||
		hb["streamCount"] != nil || hb["renewalToken"] == nil || hb["heartbeatIntervalSeconds"] != float64(30) || hb["expiresAt"] == nil {
		t.Fatalf("heartbeat reply %v", hb)
	}
	// The reply's renewal token goes back with the next heartbeat.
	again := l.messageBody("c1", "heartbeat", `{"action":"heartbeat","renewalToken":"`+hb["renewalToken"].(string)+`"}`)
	if again["result"] != "success" || again["leaseId"] != lease || again["renewalToken"] == nil {
		t.Fatalf("heartbeat with its renewal token: %v", again)
	}
	if m := l.message("c1", "default"); m["action"] != "error" || m["error"] != "unknown_action" {
		t.Fatalf("$default reply %v, want unknown_action", m)
	}

	// Resume on a new connection (network change), under a new lease id,
	// then the old connection's late $disconnect: stale, nothing ends.
	if st := l.connect("c2", map[string]string{"uid": "viewer-2", "leaseId": lease}).StatusCode; st != 200 {
		t.Fatalf("resume: %d", st)
	}
	l.disconnect("c1")
	if m := l.message("c2", "heartbeat"); m["result"] != "success" || m["leaseId"] == lease {
		t.Fatalf("heartbeat after a stale $disconnect: %v; want success under a new lease id", m)
	}
	// The stale connection's own heartbeat finds no lease: told, closed.
	if m := l.message("c1", "heartbeat"); m["error"] != "lease_expired" {
		t.Fatalf("heartbeat of a disconnected connection: %v, want lease_expired", m)
	}
	if !slices.Contains(conns.closed, "c1") {
		t.Fatalf("closed %v, want c1 closed", conns.closed)
	}
	// The current connection's $disconnect ends the lease at once; what
	// is left is the account and the tombstone of the superseded lease id
	// (kept a lease TTL, so a late heartbeat of c1's id is told why).
	l.disconnect("c2")
	if n := itemCount(t, vars["TABLE_NAME"]); n != 2 {
		t.Fatalf("table has %d items after the last $disconnect, want the account and one tombstone: %v", n, snapshot(t, vars["TABLE_NAME"]))
	}
	// A lease ended from elsewhere while connected (endStream over HTTP):
	// the next heartbeat is told lease_expired and the connection closed.
	if st := l.connect("c3", map[string]string{"uid": "viewer-2"}).StatusCode; st != 200 {
		t.Fatalf("connect: %d", st)
	}
	lease3 := l.message("c3", "heartbeat")["leaseId"].(string)
	if _, err := leases(t, vars).EndStream(context.Background(), "viewer-2", lease3); err != nil {
		t.Fatal(err)
	}
	if m := l.message("c3", "heartbeat"); m["action"] != "heartbeat" || m["result"] != "error" || m["error"] != "lease_expired" {
		t.Fatalf("heartbeat of an ended lease: %v, want lease_expired", m)
	}
	if !slices.Contains(conns.closed, "c3") {
		t.Fatalf("closed %v, want c3 closed", conns.closed)
	}
	l.disconnect("c3") // the $disconnect that the close brings: harmless
	if n := itemCount(t, vars["TABLE_NAME"]); n != 2 {
		t.Fatalf("table: %v, want only the account and c1's tombstone", snapshot(t, vars["TABLE_NAME"]))
	}
}

// leases returns a lease service on the table of vars (another instance,
// as the HTTP API would be).
func leases(t *testing.T, vars map[string]string) *lease.Service {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc, _, err := stores.Service(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestLambdaConnectErrors: bad input is a JSON error and writes nothing;
// a kicked lease cannot be resumed (410); with auth on, the authorizer's
// identity names the account.
func TestLambdaConnectErrors(t *testing.T) {
	t.Parallel()
	vars := env(t, nil)
	h, conns := newLambda(t, vars)
	l := driver{t, h, conns}
	for _, tc := range []struct {
		connID string
		query  map[string]string
		code   string
	}{
		{"c1", map[string]string{"uid": "bad uid"}, "invalid_uid"},
		{"c1", nil, "invalid_uid"},
		{"c1", map[string]string{"uid": "u", "deviceId": "bad device"}, "invalid_device_id"},
		{"c1", map[string]string{"uid": "u", "leaseId": "nope"}, "invalid_lease_id"},
		{"bad#id", map[string]string{"uid": "u"}, "invalid_connection_id"},
	} {
		resp := l.connect(tc.connID, tc.query)
		if b := body(t, resp); resp.StatusCode != 400 || b["error"] != tc.code {
			t.Errorf("connect %v: %d %v, want 400 %s", tc.query, resp.StatusCode, b, tc.code)
		}
	}
	if n := itemCount(t, vars["TABLE_NAME"]); n != 0 {
		t.Fatalf("table after bad connects: %v, want empty", snapshot(t, vars["TABLE_NAME"]))
	}
	// Over the limit: 403 with the count.
	for i := range 3 {
		if st := l.connect(fmt.Sprint("ok", i), map[string]string{"uid": "u"}).StatusCode; st != 200 {
			t.Fatalf("connect: %d", st)
		}
	}
	resp := l.connect("c4", map[string]string{"uid": "u"})
	if b := body(t, resp); resp.StatusCode != 403 || b["error"] != "stream_limit_reached" || b["streamCount"] != float64(3) || b["maxStreams"] != float64(3) {
		t.Fatalf("fourth connect: %d %v", resp.StatusCode, b)
	}
	// A kicked lease is not resumed.
	svc := leases(t, vars)
	list, err := svc.List(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	lease0 := l.message("ok0", "heartbeat")["leaseId"].(string)
	for _, s := range list.Sessions {
		if _, err := svc.Kick(context.Background(), "u", s.Handle, "kicked"); err != nil {
			t.Fatal(err)
		}
	}
	resp = l.connect("c5", map[string]string{"uid": "u", "leaseId": lease0})
	if b := body(t, resp); resp.StatusCode != 410 || b["error"] != "lease_revoked" || b["reason"] != "kicked" {
		t.Fatalf("resume of a kicked lease: %d %v, want 410 lease_revoked", resp.StatusCode, b)
	}
	if m := l.message("ok1", "heartbeat"); m["error"] != "lease_revoked" || m["reason"] != "kicked" {
		t.Fatalf("heartbeat of a kicked connection: %v", m)
	}
}

// TestConnectIdentity: with identity on (the deployed default) a $connect
// carries the player's token, in the bearer subprotocol (browsers) or an
// Authorization header, verified by the function against the provider's
// key set; without a valid one it is 401 with a Bearer challenge, with
// another account's 403, sent twice 400; nothing is written for any of
// them. A valid one names the account (the uid parameter may be left out)
// and the streamlimit subprotocol is selected.
func TestConnectIdentity(t *testing.T) {
	t.Parallel()
	p := idp.Start(t)
	vars := env(t, p.Env())
	h, conns := newLambda(t, vars)
	l := driver{t, h, conns}
	connect := func(connID string, header map[string]string, query map[string]string) events.APIGatewayProxyResponse {
		req := fixture(t, "connect")
		req.RequestContext.ConnectionID = connID
		req.QueryStringParameters = query
		for k, v := range header {
			req.Headers[k] = v
			req.MultiValueHeaders[k] = []string{v}
		}
		return l.invoke(req)
	}
	alice, bob := p.Token(t, "alice"), p.Token(t, "bob")
	subprotocols := func(tok string) map[string]string {
		return map[string]string{"Sec-WebSocket-Protocol": "streamlimit, bearer." + tok}
	}
	// Bob holds a stream: Alice must not be able to take, end or resume it.
	if resp := connect("b1", subprotocols(bob), map[string]string{"uid": "bob", "deviceId": "tv"}); resp.StatusCode != 200 {
		t.Fatalf("bob connects: %d %s", resp.StatusCode, resp.Body)
	}
	bobLease := l.message("b1", "heartbeat")["leaseId"].(string)
	before := dump(t, vars["TABLE_NAME"])
	expired := p.Signed(t, p.KID("ES256"), "bob", time.Now().Add(-2*time.Hour), time.Hour)
	for _, c := range []struct {
		name   string
		header map[string]string
		query  map[string]string
		status int
		code   string
		auth   string // WWW-Authenticate prefix
	}{
		{"no token", nil, map[string]string{"uid": "bob"}, 401, "unauthorized", `Bearer realm="streamlimit"`},
		{"only streamlimit offered", map[string]string{"Sec-WebSocket-Protocol": "streamlimit"}, map[string]string{"uid": "bob"}, 401, "unauthorized", `Bearer realm="streamlimit"`},
		{"expired token", subprotocols(expired), map[string]string{"uid": "bob"}, 401, "unauthorized", `Bearer realm="streamlimit", error="invalid_token", error_description="the token has expired"`},
		{"forged token", subprotocols(strings.TrimSuffix(bob, bob[len(bob)-4:]) + "AAAA"), map[string]string{"uid": "bob"}, 401, "unauthorized", `Bearer realm="streamlimit", error="invalid_token"`},
		{"alice's token for bob", subprotocols(alice), map[string]string{"uid": "bob", "leaseId": bobLease}, 403, "forbidden", ""},
		{"alice's header token for bob", map[string]string{"Authorization": "Bearer " + alice}, map[string]string{"uid": "bob"}, 403, "forbidden", ""},
		{"token sent twice", map[string]string{"Authorization": "Bearer " + bob, "Sec-WebSocket-Protocol": "streamlimit, bearer." + bob}, map[string]string{"uid": "bob"}, 400, "invalid_request", `Bearer realm="streamlimit", error="invalid_request"`},
		{"no streamlimit subprotocol", map[string]string{"Sec-WebSocket-Protocol": "bearer." + bob}, map[string]string{"uid": "bob"}, 400, "invalid_subprotocol", ""},
	} {
		resp := connect("x-"+strings.ReplaceAll(c.name, " ", "-"), c.header, c.query)
		if b := body(t, resp); resp.StatusCode != c.status || b["error"] != c.code || !strings.HasPrefix(resp.Headers["WWW-Authenticate"], c.auth) {
			t.Errorf("%s: %d %v %s; want %d %s with WWW-Authenticate %q", c.name, resp.StatusCode, resp.Headers, resp.Body, c.status, c.code, c.auth)
		}
	}
	if after := dump(t, vars["TABLE_NAME"]); after != before {
		t.Fatalf("refused $connects changed the table:\n%s\nwas\n%s", after, before)
	}
	if m := l.message("b1", "heartbeat"); m["result"] != "success" || m["leaseId"] != bobLease {
		t.Fatalf("bob's stream after the refusals: %v", m)
	}

	// A valid token names the account; the uid parameter may be left out.
	resp := connect("a1", subprotocols(alice), nil)
	if resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "streamlimit" {
		t.Fatalf("alice's token, no uid: %d %v %s; want 200 selecting streamlimit", resp.StatusCode, resp.Headers, resp.Body)
	}
	if m := l.message("a1", "heartbeat"); m["uid"] != "alice" {
		t.Fatalf("heartbeat: %v, want alice's lease", m)
	}
	if resp := connect("a2", map[string]string{"Authorization": "Bearer " + alice}, map[string]string{"uid": "alice"}); resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "" {
		t.Fatalf("alice's header token: %d %v %s; want 200 without a subprotocol", resp.StatusCode, resp.Headers, resp.Body)
	}
}
