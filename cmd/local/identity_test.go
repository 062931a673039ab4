package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/streamlimit/streamlimit/auth/issuer"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/internal/testenv/idp"
)

// identityServer starts the server with identity on: tokens of a local
// provider, verified against its key set (JWKS_URL) as in Lambda.
func identityServer(t *testing.T, extra map[string]string) (server, *idp.Provider) {
	t.Helper()
	p := idp.Start(t)
	env := p.Env()
	env["STORE_TIMEOUT_MS"] = slowMachine
	for k, v := range extra {
		env[k] = v
	}
	return startServer(t, env), p
}

// dump is every item of s's table: equal dumps, nothing written.
func dump(t *testing.T, s server) string {
	t.Helper()
	d, err := ddblocal.Dump(t.Context(), client, s.table)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// badTokens are tokens for uid that must all be refused with 401
// invalid_token: each breaks one rule of the verification.
func badTokens(t *testing.T, p *idp.Provider, uid string) map[string]string {
	t.Helper()
	now := time.Now()
	rsaKID := p.KID(issuer.RS256)
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := p.Claims(uid, now, time.Hour)
		change(c)
		return c
	}
	signed := func(c jwt.MapClaims) string {
		tok, err := p.Sign(rsaKID, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	with := func(method jwt.SigningMethod, key any, kid string) string {
		tok := jwt.NewWithClaims(method, p.Claims(uid, now, time.Hour))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pemKey, err := p.PublicKeyPEM(rsaKID)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := issuer.New(idp.Issuer, idp.Audience) // keys the provider never published
	if err != nil {
		t.Fatal(err)
	}
	strangerKey, err := stranger.PrivateKey(stranger.KID(issuer.RS256))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"wrong issuer":   signed(claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })),
		"wrong audience": signed(claims(func(c jwt.MapClaims) { c["aud"] = "another-service" })),
		"expired":        p.Signed(t, rsaKID, uid, now.Add(-2*time.Hour), time.Hour),
		"not yet valid":  p.Signed(t, rsaKID, uid, now.Add(time.Hour), time.Hour),
		"alg confusion (HS256 keyed with the RSA public key)": with(jwt.SigningMethodHS256, pemKey, rsaKID),
		"alg none":             with(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, rsaKID),
		"unknown kid":          with(jwt.SigningMethodRS256, strangerKey, "not-in-the-key-set"),
		"another key, our kid": with(jwt.SigningMethodRS256, strangerKey, rsaKID),
	}
}

// TestIdentityOverHTTP: with identity on, a valid token for X cannot
// acquire, list, heartbeat, end, kick or end all for Y (403), and tokens
// that break any rule (issuer, audience, expiry, not-before, alg confusion,
// alg none, unknown kid, foreign key) or no token are 401 with an RFC 6750
// challenge, for every account route; the table is untouched by all of
// them. Lease ids stay capabilities: X on its own path cannot renew or end
// Y's lease.
func TestIdentityOverHTTP(t *testing.T) {
	t.Parallel()
	s, p := identityServer(t, nil)
	x, y := p.Bearer(t, "x"), p.Bearer(t, "y")
	yLease := acquire(t, s, "y", "tv", y).expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
	ySecond := acquire(t, s, "y", "phone", bearerOf(p.Signed(t, p.KID(issuer.ES256), "y", time.Now(), time.Hour))).
		expect(t, 200, map[string]any{"canStream": true, "streamCount": 2}).str("leaseId")
	yHandle := ctlHandles(t, s, "y", y)["tv"]
	before := dump(t, s)

	calls := []struct{ method, path string }{
		{"POST", "/canStream/y"},
		{"GET", "/canStream/y"},
		{"GET", "/streams/y"},
		{"POST", "/heartbeat/y/" + yLease},
		{"GET", "/heartbeat/y/" + yLease},
		{"POST", "/endStream/y/" + yLease},
		{"POST", "/streams/y/" + yHandle + "/end"},
		{"POST", "/streams/y/end"},
	}
	bad := badTokens(t, p, "y")
	for _, c := range calls {
		ctlCall(t, c.method, s.api+c.path, x, "").expect(t, 403, map[string]any{"error": "forbidden"})
		if a := ctlCall(t, c.method, s.api+c.path, nil, ""); a.status != 401 || a.str("error") != "unauthorized" ||
			a.header.Get("WWW-Authenticate") != `Bearer realm="streamlimit"` {
			t.Fatalf("%s %s without a token: %d %v %s; want 401 with a bare Bearer challenge", c.method, c.path, a.status, a.header, a.raw)
		}
		for name, tok := range bad {
			a := ctlCall(t, c.method, s.api+c.path, bearerOf(tok), "")
			if a.status != 401 || a.str("error") != "unauthorized" ||
				!strings.HasPrefix(a.header.Get("WWW-Authenticate"), `Bearer realm="streamlimit", error="invalid_token", error_description="`) {
				t.Fatalf("%s %s, %s: %d %v %s; want 401 with an invalid_token challenge", c.method, c.path, name, a.status, a.header, a.raw)
			}
		}
	}
	if after := dump(t, s); after != before {
		t.Fatalf("refused calls changed the table:\n%s\nwas\n%s", after, before)
	}
	// X on its own path with Y's lease id: nothing renewed or ended.
	ctlCall(t, "POST", s.api+"/heartbeat/x/"+yLease, x, "").expect(t, 410, map[string]any{"error": "lease_expired"})
	ctlCall(t, "POST", s.api+"/endStream/x/"+yLease, x, "").expect(t, 200, map[string]any{"removedStream": false})
	ctlCall(t, "POST", s.api+"/streams/x/"+yHandle+"/end", x, "").expect(t, 404, map[string]any{"error": "session_not_found"})
	if after := dump(t, s); after != before {
		t.Fatalf("x's calls with y's lease and handle changed the table:\n%s\nwas\n%s", after, before)
	}
	// Y is untouched and still in control, with either of its tokens.
	ctlCall(t, "POST", s.api+"/heartbeat/y/"+yLease, y, "").expect(t, 200, map[string]any{"leaseId": yLease})
	ctlCall(t, "POST", s.api+"/endStream/y/"+ySecond, y, "").expect(t, 200, map[string]any{"removedStream": true, "streamCount": 1})
	acquire(t, s, "x", "phone", x).expect(t, 200, map[string]any{"canStream": true, "streamCount": 1})
}

// TestIdentityKeyRotation: a key the provider publishes after the server
// cached its key set verifies at once (an unknown kid makes the server
// fetch the set again); a key the provider withdraws stops verifying once
// the server has fetched the set again (JWKS_REFRESH_SECONDS), and its
// tokens then write nothing.
func TestIdentityKeyRotation(t *testing.T) {
	t.Parallel()
	s, p := identityServer(t, nil)
	newKID, err := p.AddKey(issuer.ES256)
	if err != nil {
		t.Fatal(err)
	}
	fetches := p.Fetches()
	rotated := bearerOf(p.Signed(t, newKID, "alice", time.Now(), time.Hour))
	acquire(t, s, "alice", "tv", rotated).expect(t, 200, map[string]any{"canStream": true})
	if p.Fetches() != fetches+1 {
		t.Errorf("key set fetched %d times for the new kid, want once", p.Fetches()-fetches)
	}

	s2, p2 := identityServer(t, map[string]string{"JWKS_REFRESH_SECONDS": "1"})
	oldKID := p2.KID(issuer.RS256)
	old := bearerOf(p2.Signed(t, oldKID, "bob", time.Now(), time.Hour))
	lease := acquire(t, s2, "bob", "tv", old).expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
	before := dump(t, s2)
	p2.RemoveKey(oldKID)
	// Two more fetches: the second starts only after the first, begun
	// after the removal, has replaced the cached set.
	for n, deadline := p2.Fetches()+2, time.Now().Add(30*time.Second); p2.Fetches() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server fetched the key set %d times in 30 s; JWKS_REFRESH_SECONDS=1", p2.Fetches())
		}
	}
	ctlCall(t, "POST", s2.api+"/heartbeat/bob/"+lease, old, "").expect(t, 401, map[string]any{"error": "unauthorized"})
	ctlCall(t, "POST", s2.api+"/endStream/bob/"+lease, old, "").expect(t, 401, map[string]any{"error": "unauthorized"})
	if after := dump(t, s2); after != before {
		t.Fatalf("a withdrawn key's token changed the table:\n%s\nwas\n%s", after, before)
	}
	kept := bearerOf(p2.Signed(t, p2.KID(issuer.ES256), "bob", time.Now(), time.Hour))
	ctlCall(t, "POST", s2.api+"/heartbeat/bob/"+lease, kept, "").expect(t, 200, map[string]any{"leaseId": lease})
}

// TestIdentityOverWebSocket: the local WebSocket checks tokens as HTTP
// does: in the bearer subprotocol (or an Authorization header), never
// selected; X's token cannot take, resume or end Y's stream (403); no token,
// a bad one or one sent twice is refused (401, 400); nothing is written.
func TestIdentityOverWebSocket(t *testing.T) {
	t.Parallel()
	s, p := identityServer(t, wsEnv)
	dial := func(uid, tok string, q url.Values, header http.Header) (*websocket.Conn, int, map[string]any) {
		t.Helper()
		if q == nil {
			q = url.Values{}
		}
		if uid != "" {
			q.Set("uid", uid)
		}
		opts := &websocket.DialOptions{HTTPHeader: header}
		if tok != "" {
			opts.Subprotocols = []string{"streamlimit", "bearer." + tok}
		}
		return dialWSWith(t, s.wsURL(q), opts)
	}
	yc, status, body := dial("y", p.Token(t, "y"), url.Values{"deviceId": {"tv"}}, nil)
	if yc == nil || yc.Subprotocol() != "streamlimit" {
		t.Fatalf("y connects with its token: %d %v; want accepted with subprotocol streamlimit", status, body)
	}
	yLease, _ := heartbeat(t, yc)["leaseId"].(string)
	before := dump(t, s)

	xTok := p.Token(t, "x")
	type refusal struct {
		name   string
		uid    string
		tok    string
		q      url.Values
		header http.Header
		status int
		code   string
	}
	refusals := []refusal{
		{"x's token for y", "y", xTok, nil, nil, 403, "forbidden"},
		{"x's token resuming y's lease", "y", xTok, url.Values{"leaseId": {yLease}, "deviceId": {"tv"}}, nil, 403, "forbidden"},
		{"x's header token for y", "y", "", nil, http.Header{"Authorization": {"Bearer " + xTok}}, 403, "forbidden"},
		{"no token", "y", "", nil, nil, 401, "unauthorized"},
		{"token sent twice", "y", p.Token(t, "y"), nil, http.Header{"Authorization": {"Bearer " + p.Token(t, "y")}}, 400, "invalid_request"},
	}
	for name, tok := range badTokens(t, p, "y") {
		refusals = append(refusals, refusal{name, "y", tok, nil, nil, 401, "unauthorized"})
	}
	for _, r := range refusals {
		c, status, body := dial(r.uid, r.tok, r.q, r.header)
		if c != nil || status != r.status || body["error"] != r.code {
			t.Errorf("%s: accepted=%v %d %v; want %d %s", r.name, c != nil, status, body, r.status, r.code)
		}
	}
	if after := dump(t, s); after != before {
		t.Fatalf("refused sockets changed the table:\n%s\nwas\n%s", after, before)
	}
	if m := heartbeat(t, yc); m["leaseId"] != yLease {
		t.Fatalf("y's socket after the refusals: %v", m)
	}
	// X's own token, no uid: X's account.
	xc, status, body := dial("", xTok, nil, nil)
	if xc == nil {
		t.Fatalf("x connects without a uid: %d %v", status, body)
	}
	if m := heartbeat(t, xc); m["uid"] != "x" {
		t.Fatalf("x's socket heartbeat: %v, want x's lease", m)
	}
}

func bearerOf(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// TestDevIssuer: DEV_ISSUER=true (make run AUTH=jwks) starts a local
// provider whose tokens the server verifies through its key set, as a
// deployed one verifies a real provider's.
func TestDevIssuer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := startServer(t, map[string]string{"DEV_ISSUER": "true", "DEV_ISSUER_PORT": strconv.Itoa(port), "STORE_TIMEOUT_MS": slowMachine})
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/token/alice", port))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %d %q %v", resp.StatusCode, raw, err)
	}
	alice := bearerOf(strings.TrimSpace(string(raw)))
	acquire(t, s, "alice", "tv", alice).expect(t, 200, map[string]any{"canStream": true})
	acquire(t, s, "bob", "tv", alice).expect(t, 403, map[string]any{"error": "forbidden"})
	acquire(t, s, "alice", "tv", nil).expect(t, 401, map[string]any{"error": "unauthorized"})
}
