package main

// End-to-end tests of the WebSocket variant: the real local server against
// DynamoDB Local, with a real WebSocket client (coder/websocket). Leases
// live 6 s here (heartbeats every 2 s), so the TTL cases take seconds; the
// store timeout is generous because the machine may be busy.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"
)

// wsEnv is the environment of the WebSocket tests: limit 3, short TTL.
var wsEnv = map[string]string{"MAX_STREAMS": "3", "LEASE_TTL_SECONDS": "6", "HEARTBEAT_INTERVAL_SECONDS": "2", "STORE_TIMEOUT_MS": "10000"}

// wsTTL is wsEnv's lease TTL.
const wsTTL = 6 * time.Second

// wsURL is the local WebSocket URL of s with the query q.
func (s server) wsURL(q url.Values) string {
	return "ws" + strings.TrimPrefix(s.api, "http") + "/ws?" + q.Encode()
}

// dialWS opens a socket; it returns the handshake's HTTP status and, when
// refused, the JSON body.
func dialWS(t *testing.T, u string) (*websocket.Conn, int, map[string]any) {
	t.Helper()
	return dialWSWith(t, u, nil)
}

// dialWSWith is dialWS with dial options (subprotocols, headers).
func dialWSWith(t *testing.T, u string, opts *websocket.DialOptions) (*websocket.Conn, int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, u, opts)
	if err == nil {
		t.Cleanup(func() { _ = c.CloseNow() })
		return c, resp.StatusCode, nil
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if jerr := json.Unmarshal(raw, &body); jerr != nil {
		t.Fatalf("dial %s: %d %q is not JSON: %v", u, resp.StatusCode, raw, jerr)
	}
	return nil, resp.StatusCode, body
}

// mustDial opens a socket that must be accepted.
func mustDial(t *testing.T, u string) *websocket.Conn {
	t.Helper()
	c, status, body := dialWS(t, u)
	if c == nil {
		t.Fatalf("dial %s: %d %v, want accepted", u, status, body)
	}
	return c
}

// expectRefused dials and expects 403 stream_limit_reached.
func expectRefused(t *testing.T, u string) {
	t.Helper()
	c, status, body := dialWS(t, u)
	if c != nil || status != http.StatusForbidden || body["error"] != "stream_limit_reached" {
		t.Fatalf("dial %s: accepted=%v %d %v, want 403 stream_limit_reached", u, c != nil, status, body)
	}
}

// send writes one message and reads the reply.
func send(c *websocket.Conn, msg string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return nil, err
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// heartbeat sends a heartbeat that must succeed.
func heartbeat(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	m, err := send(c, `{"action":"heartbeat"}`)
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if m["action"] != "heartbeat" || m["result"] != "success" {
		t.Fatalf("heartbeat reply %v, want success", m)
	}
	return m
}

func expiresAt(t *testing.T, m map[string]any) time.Time {
	t.Helper()
	exp, err := time.Parse(time.RFC3339, m["expiresAt"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// keepAlive heartbeats c every interval, sending back the renewal token
// of each reply, until stop is called, which returns the failures seen.
func keepAlive(c *websocket.Conn, every time.Duration) (stop func() []error) {
	done := make(chan struct{})
	var (
		wg   sync.WaitGroup
		errs []error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var token string
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			msg, _ := json.Marshal(map[string]any{"action": "heartbeat", "renewalToken": token})
			m, err := send(c, string(msg))
			if err == nil && m["result"] != "success" {
				err = errors.New("heartbeat answered " + m["error"].(string))
			}
			if err == nil {
				token, _ = m["renewalToken"].(string)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}()
	return func() []error { close(done); wg.Wait(); return errs }
}

// cutProxy is a loopback TCP proxy for one connection that can be cut:
// both TCP connections are closed without a WebSocket close frame, as when
// a player's network dies.
type cutProxy struct {
	addr string
	mu   sync.Mutex
	cs   []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.cs = append(p.cs, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in) }()
			go func() { _, _ = io.Copy(in, out) }()
		}
	}()
	return p
}

// cut closes every proxied TCP connection.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cs {
		c.Close()
	}
	p.cs = nil
}

// viaProxy returns the URL u reached through a new cuttable proxy.
func viaProxy(t *testing.T, u string) (string, *cutProxy) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, strings.Replace(pu.Host, "localhost", "127.0.0.1", 1))
	pu.Host = p.addr
	return pu.String(), p
}

func streamCount(t *testing.T, s server, uid string) int {
	t.Helper()
	return call(t, "GET", s.api+"/streams/"+uid, "", "").expect(t, 200, nil).num("streamCount")
}

// TestWebSocketLimit: limit 3, three sockets open, a fourth is refused
// (403 before the upgrade); closing one frees the slot at once.
func TestWebSocketLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsEnv)
	q := url.Values{"uid": {"ws-limit"}}
	var socks []*websocket.Conn
	for range 3 {
		socks = append(socks, mustDial(t, s.wsURL(q)))
	}
	first := heartbeat(t, socks[0])
	if first["streamCount"] != nil || first["renewalToken"] == nil {
		t.Fatalf("heartbeat %v, want a renewalToken and no streamCount (a heartbeat reads nothing)", first)
	}
	expectRefused(t, s.wsURL(q))
	if n := streamCount(t, s, "ws-limit"); n != 3 {
		t.Fatalf("streamCount after a refusal = %d, want 3", n)
	}

	// A clean close (close frame) ends the lease at once: the slot is
	// free well before the closed lease could have expired.
	if err := socks[0].Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
	deadline := expiresAt(t, first)
	for {
		c, status, body := dialWS(t, s.wsURL(q))
		if c != nil {
			break
		}
		if status != http.StatusForbidden {
			t.Fatalf("dial after a close: %d %v", status, body)
		}
		if time.Now().After(deadline.Add(-time.Second)) {
			t.Fatalf("the closed socket's slot was not freed before its lease would have expired (%v)", deadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebSocketDropped: a socket dropped without a close frame keeps its
// slot until its lease's TTL, not less; then the slot is free.
func TestWebSocketDropped(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsEnv)
	q := url.Values{"uid": {"ws-drop"}}
	a, b := mustDial(t, s.wsURL(q)), mustDial(t, s.wsURL(q))
	viaURL, proxy := viaProxy(t, s.wsURL(q))
	dropped := mustDial(t, viaURL)
	exp := expiresAt(t, heartbeat(t, dropped))
	stopA, stopB := keepAlive(a, time.Second), keepAlive(b, time.Second)

	proxy.cut()
	refusals := 0
	var freedAt time.Time
	for freedAt.IsZero() {
		c, status, body := dialWS(t, s.wsURL(q))
		switch {
		case c != nil:
			freedAt = time.Now()
		case status != http.StatusForbidden:
			t.Fatalf("dial: %d %v", status, body)
		case time.Now().After(exp.Add(10 * time.Second)):
			t.Fatalf("the dropped socket's slot is still taken 10 s after its lease expired at %v", exp)
		default:
			refusals++
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, stop := range []func() []error{stopA, stopB} {
		if errs := stop(); len(errs) > 0 {
			t.Fatalf("keep-alive heartbeats failed: %v", errs)
		}
	}
	if refusals == 0 {
		t.Fatal("the slot of the dropped socket was free at once; want it kept until the lease's TTL")
	}
	// Not before: the server grants only once its clock passed the
	// lease's expiry; this machine's clock read after the grant is later.
	if freedAt.Before(exp) {
		t.Fatalf("slot freed at %v, before the dropped lease expired at %v", freedAt, exp)
	}
	if n := streamCount(t, s, "ws-drop"); n != 3 {
		t.Fatalf("streamCount = %d, want 3 (a, b and the newcomer)", n)
	}
}

// TestWebSocketHeartbeats: heartbeats over the socket keep its lease alive
// past several TTLs, while a socket that does not heartbeat loses its lease
// and is closed with 4410 lease_expired.
func TestWebSocketHeartbeats(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsEnv)
	q := url.Values{"uid": {"ws-beat"}}
	alive, silent := mustDial(t, s.wsURL(q)), mustDial(t, s.wsURL(q))
	// The silent socket's lease expires at the latest a TTL (rounded up
	// to a whole second) after its handshake was answered.
	silentExp := time.Now().Add(wsTTL + time.Second)
	first := heartbeat(t, alive)
	lease := first["leaseId"].(string)
	start := time.Now()
	for time.Since(start) < 3*wsTTL+time.Second {
		time.Sleep(time.Second)
		m := heartbeat(t, alive)
		if m["leaseId"] != lease {
			t.Fatalf("heartbeat %v: lease changed from %s", m, lease)
		}
	}
	if !time.Now().After(silentExp) {
		t.Fatalf("test ran %v, not past the silent lease's expiry", time.Since(start))
	}
	if n := streamCount(t, s, "ws-beat"); n != 1 {
		t.Fatalf("streamCount after %v = %d, want 1 (only the heartbeating socket)", time.Since(start), n)
	}
	// The lease is the same one HTTP can renew.
	call(t, "POST", s.api+"/heartbeat/ws-beat/"+lease, "", "").expect(t, 200, nil)

	m, err := send(silent, `{"action":"heartbeat"}`)
	if err != nil || m["result"] != "error" || m["error"] != "lease_expired" {
		t.Fatalf("heartbeat of the silent socket: %v, %v; want lease_expired", m, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err = silent.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4410 || ce.Reason != "lease_expired" {
		t.Fatalf("silent socket after a lost lease: %v, want close 4410 lease_expired", err)
	}
}

// TestWebSocketResume: a player whose socket dropped reconnects with its
// lease id and keeps its slot (streamCount unchanged, even at the limit)
// under a new lease id; the socket it took over is told it was superseded
// and closed, and its late close is harmless.
func TestWebSocketResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsEnv)
	const uid = "ws-resume"
	q := url.Values{"uid": {uid}}
	viaURL, proxy := viaProxy(t, s.wsURL(q))
	first := mustDial(t, viaURL)
	other1, other2 := mustDial(t, s.wsURL(q)), mustDial(t, s.wsURL(q))
	m := heartbeat(t, first)
	lease := m["leaseId"].(string)
	if n := streamCount(t, s, uid); n != 3 {
		t.Fatalf("streamCount %d, want 3", n)
	}
	stop1, stop2 := keepAlive(other1, time.Second), keepAlive(other2, time.Second)
	defer func() {
		for _, stop := range []func() []error{stop1, stop2} {
			if errs := stop(); len(errs) > 0 {
				t.Errorf("keep-alive heartbeats failed: %v", errs)
			}
		}
	}()

	// The network dies; the player reconnects with its lease id, at the
	// limit, and keeps its slot under a new lease id.
	proxy.cut()
	second := mustDial(t, s.wsURL(url.Values{"uid": {uid}, "leaseId": {lease}}))
	m = heartbeat(t, second)
	resumed, _ := m["leaseId"].(string)
	if resumed == "" || resumed == lease {
		t.Fatalf("after resume: %v, want a new lease id (not %s)", m, lease)
	}
	if n := streamCount(t, s, uid); n != 3 {
		t.Fatalf("streamCount after resume = %d, want 3", n)
	}
	// The old id is spent: presenting it again is refused.
	if _, status, body := dialWS(t, s.wsURL(url.Values{"uid": {uid}, "leaseId": {lease}})); status != http.StatusGone || body["reason"] != "superseded" {
		t.Fatalf("resume with a superseded lease id: %d %v, want 410 lease_revoked (superseded)", status, body)
	}

	// Reconnecting before closing (make-before-break): the older socket is
	// told it was superseded and closed; its close ends nothing.
	third := mustDial(t, s.wsURL(url.Values{"uid": {uid}, "leaseId": {resumed}}))
	m = heartbeat(t, third)
	current, _ := m["leaseId"].(string)
	if current == "" || current == resumed || streamCount(t, s, uid) != 3 {
		t.Fatalf("make-before-break resume: %v, want a new lease id and streamCount 3", m)
	}
	m, err := send(second, `{"action":"heartbeat"}`)
	if msg, _ := m["message"].(string); err != nil || m["error"] != "lease_revoked" || m["reason"] != "superseded" || !strings.Contains(msg, "taken over") {
		t.Fatalf("heartbeat of the taken-over socket: %v, %v; want lease_revoked (superseded), saying it was taken over", m, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := second.Read(ctx); !errors.As(err, new(websocket.CloseError)) {
		t.Fatalf("the taken-over socket was not closed: %v", err)
	}
	waitBindings(t, s, 3) // third, other1, other2: the server has handled both closes
	if m := heartbeat(t, third); m["leaseId"] != current || streamCount(t, s, uid) != 3 {
		t.Fatalf("after the replaced socket closed: %v, want lease %s and streamCount 3", m, current)
	}
	// The current socket's close ends the lease (at once: well before its
	// TTL); a resume with its id then acquires a new one.
	if err := third.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, s, uid, 2)
	fourth := mustDial(t, s.wsURL(url.Values{"uid": {uid}, "leaseId": {current}}))
	if m := heartbeat(t, fourth); m["leaseId"] == current || streamCount(t, s, uid) != 3 {
		t.Fatalf("resume of an ended lease: %v, want a new lease and streamCount 3", m)
	}
}

// waitBindings waits until the table holds n connection bindings.
func waitBindings(t *testing.T, s server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := client.Scan(context.Background(), &dynamodb.ScanInput{
			TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Select: types.SelectCount,
			FilterExpression:          aws.String("begins_with(#u, :p)"),
			ExpressionAttributeNames:  map[string]string{"#u": "uid"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "#conn#"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if int(out.Count) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connection bindings after 10 s, want %d", out.Count, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCount waits until uid has n live streams: a close is handled by the
// server just after the client's close handshake. It fails after half the
// lease TTL, so a lease that is only freed by its TTL fails it.
func waitCount(t *testing.T, s server, uid string, n int) {
	t.Helper()
	deadline := time.Now().Add(wsTTL / 2)
	for {
		got := streamCount(t, s, uid)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("streamCount = %d after %v, want %d", got, wsTTL/2, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebSocketKicked: a kicked socket is told lease_revoked and closed
// with 4410; resuming the kicked lease is refused with 410.
func TestWebSocketKicked(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsEnv)
	const uid = "ws-kick"
	c := mustDial(t, s.wsURL(url.Values{"uid": {uid}, "deviceId": {"tv"}}))
	lease := heartbeat(t, c)["leaseId"].(string)
	list := call(t, "GET", s.api+"/streams/"+uid, "", "").expect(t, 200, nil)
	handle := list.body["streams"].([]any)[0].(map[string]any)["session"].(string)
	call(t, "POST", s.api+"/streams/"+uid+"/"+handle+"/end", "", "").expect(t, 200, nil)

	m, err := send(c, `{"action":"heartbeat"}`)
	if err != nil || m["error"] != "lease_revoked" || m["reason"] != "kicked" {
		t.Fatalf("heartbeat after a kick: %v, %v; want lease_revoked (kicked)", m, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err = c.Read(ctx)
	if ce := (websocket.CloseError{}); !errors.As(err, &ce) || ce.Code != 4410 || ce.Reason != "lease_revoked" {
		t.Fatalf("after the kick: %v, want close 4410 lease_revoked", err)
	}
	_, status, body := dialWS(t, s.wsURL(url.Values{"uid": {uid}, "leaseId": {lease}}))
	if status != http.StatusGone || body["error"] != "lease_revoked" {
		t.Fatalf("resume of a kicked lease: %d %v, want 410 lease_revoked", status, body)
	}
	if n := streamCount(t, s, uid); n != 0 {
		t.Fatalf("streamCount = %d, want 0", n)
	}
}

// TestWebSocketBadInput: a bad handshake is a JSON error before the
// upgrade and leaves the table untouched; bad messages get error replies.
func TestWebSocketBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsEnv)
	// Not a WebSocket handshake.
	call(t, "GET", s.api+"/ws?uid=alice", "", "").expect(t, 426, map[string]any{"error": "upgrade_required"})
	call(t, "POST", s.api+"/ws?uid=alice", "", "").expect(t, 405, map[string]any{"error": "method_not_allowed"})
	for q, code := range map[string]string{
		"uid=bad!uid":                 "invalid_uid",
		"":                            "invalid_uid",
		"uid=alice&deviceId=bad!dev":  "invalid_device_id",
		"uid=alice&leaseId=not-uuid":  "invalid_lease_id",
		"uid=bad!uid&leaseId=" + zero: "invalid_uid",
	} {
		_, status, body := dialWS(t, "ws"+strings.TrimPrefix(s.api, "http")+"/ws?"+q)
		if status != http.StatusBadRequest || body["error"] != code {
			t.Errorf("dial ?%s: %d %v, want 400 %s", q, status, body, code)
		}
	}
	// A cross-origin page is refused unless ALLOWED_ORIGINS allows it (it
	// is * here, so try a server that allows one origin).
	s2 := startServer(t, map[string]string{"ALLOWED_ORIGINS": "https://player.example", "STORE_TIMEOUT_MS": "10000"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, s2.wsURL(url.Values{"uid": {"alice"}}),
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin dial: %v, %v; want 403", resp, err)
	}
	for _, srv := range []server{s, s2} {
		if n := itemCount(t, srv.table); n != 0 {
			t.Errorf("table %s has %d items after bad handshakes, want 0", srv.table, n)
		}
	}

	c := mustDial(t, s.wsURL(url.Values{"uid": {"alice"}}))
	for msg, code := range map[string]string{
		`not json`:            "invalid_message",
		`{"action":"play"}`:   "unknown_action",
		`{"foo":"heartbeat"}`: "invalid_message",
		// One JSON object and nothing after it, as over HTTP.
		`{"action":"heartbeat"}}`:  "invalid_message",
		`{"action":"heartbeat"} x`: "invalid_message",
	} {
		m, err := send(c, msg)
		if err != nil || m["action"] != "error" || m["error"] != code {
			t.Errorf("message %s: %v, %v; want error %s", msg, m, err, code)
		}
	}
	heartbeat(t, c) // the socket is still fine
}

// zero is a well-formed lease id no one holds.
const zero = "00000000-0000-4000-8000-000000000000"
