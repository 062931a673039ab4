package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/auth/issuer"
	"github.com/streamlimit/streamlimit/internal/testenv/idp"
)

const (
	testIssuer   = idp.Issuer
	testAudience = idp.Audience
)

// provider starts an issuer's JWKS on a loopback test server.
func provider(t *testing.T) (*issuer.Issuer, string) {
	t.Helper()
	p := idp.Start(t)
	return p.Issuer, p.JWKSURL
}

func verifier(t *testing.T, url string, change func(*auth.JWKSConfig)) *auth.JWKS {
	t.Helper()
	c := auth.JWKSConfig{URL: url, Issuer: testIssuer, Audience: testAudience}
	if change != nil {
		change(&c)
	}
	v, err := auth.NewJWKS(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t *testing.T, is *issuer.Issuer, kid string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := is.Sign(kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signWith(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refused asserts that v refuses token as a *auth.TokenError whose
// description contains want.
func refused(t *testing.T, v auth.Verifier, name, token, want string) {
	t.Helper()
	uid, err := v.Verify(context.Background(), token)
	var te *auth.TokenError
	if !errors.As(err, &te) || !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("%s: %q, %v; want a TokenError", name, uid, err)
		return
	}
	if !strings.Contains(te.Description, want) {
		t.Errorf("%s: description %q, want %q in it (%v)", name, te.Description, want, te.Err)
	}
}

func TestJWKSVerify(t *testing.T) {
	t.Parallel()
	is, srv := provider(t)
	now := time.Now()
	v := verifier(t, srv, nil)
	rsaKID, ecKID := is.KID(issuer.RS256), is.KID(issuer.ES256)
	for _, kid := range []string{rsaKID, ecKID} {
		if uid, err := v.Verify(context.Background(), sign(t, is, kid, is.Claims("alice", now, time.Hour))); err != nil || uid != "alice" {
			t.Fatalf("%s token: %q, %v", kid, uid, err)
		}
	}
	// Without a kid, a key of the set that verifies it is found.
	noKID := signWith(t, jwt.SigningMethodES256, mustKey(t, is, ecKID), "", is.Claims("alice", now, time.Hour))
	if uid, err := v.Verify(context.Background(), noKID); err != nil || uid != "alice" {
		t.Fatalf("token without kid: %q, %v", uid, err)
	}
	// Within the leeway an expired token still passes.
	late := is.Claims("alice", now.Add(-time.Hour), time.Hour-auth.Leeway/2)
	if _, err := v.Verify(context.Background(), sign(t, is, rsaKID, late)); err != nil {
		t.Errorf("token expired within the leeway: %v", err)
	}
	if _, err := v.Verify(context.Background(), ""); !errors.Is(err, auth.ErrUnauthenticated) || errors.As(err, new(*auth.TokenError)) {
		t.Errorf("no token: %v; want a bare ErrUnauthenticated", err)
	}

	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := is.Claims("alice", now, time.Hour)
		change(c)
		return c
	}
	pemKey, err := is.PublicKeyPEM(rsaKID)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, is, rsaKID, is.Claims("alice", now, time.Hour))
	other, err := issuer.New(testIssuer, testAudience) // same names, other keys
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, token, want string }{
		{"wrong issuer", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" })), "issuer"},
		{"no issuer", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { delete(c, "iss") })), "required claim"},
		{"wrong audience", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { c["aud"] = "another-service" })), "audience"},
		{"no audience", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { delete(c, "aud") })), "required claim"},
		{"expired", sign(t, is, rsaKID, is.Claims("alice", now.Add(-2*time.Hour), time.Hour)), "expired"},
		{"no exp", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { delete(c, "exp") })), "required claim"},
		{"not yet valid", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "not valid yet"},
		{"issued in the future", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })), "not valid yet"},
		{"no sub", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { delete(c, "sub") })), "claim sub"},
		{"numeric sub", sign(t, is, rsaKID, with(func(c jwt.MapClaims) { c["sub"] = 42 })), "claim sub"},
		{"alg none", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, rsaKID, is.Claims("alice", now, time.Hour)), "algorithm"},
		{"HS256 keyed with the RSA public key (alg confusion)", signWith(t, jwt.SigningMethodHS256, pemKey, rsaKID, is.Claims("alice", now, time.Hour)), "algorithm"},
		{"HS256 keyed with the RSA public key, no kid", signWith(t, jwt.SigningMethodHS256, pemKey, "", is.Claims("alice", now, time.Hour)), "algorithm"},
		{"RS384", signWith(t, jwt.SigningMethodRS384, mustKey(t, is, rsaKID), rsaKID, is.Claims("alice", now, time.Hour)), "algorithm"},
		{"PS256", signWith(t, jwt.SigningMethodPS256, mustKey(t, is, rsaKID), rsaKID, is.Claims("alice", now, time.Hour)), "algorithm"},
		{"ES256 naming the RSA key", signWith(t, jwt.SigningMethodES256, mustKey(t, is, ecKID), rsaKID, is.Claims("alice", now, time.Hour)), "key"},
		{"signed by another provider's key of the same kid", sign(t, other, rsaKID, is.Claims("alice", now, time.Hour)), "signature"},
		{"tampered payload", tamper(t, good, sign(t, is, rsaKID, is.Claims("mallory", now, time.Hour))), "signature"},
		{"garbage", "not.a.jwt", "malformed"},
	}
	for _, c := range cases {
		refused(t, v, c.name, c.token, c.want)
	}
}

// TestJWKSKeyTypeDecides: with keys published without "alg", a token is
// still verified only by a key of its algorithm's type.
func TestJWKSKeyTypeDecides(t *testing.T) {
	t.Parallel()
	is, srv := provider(t)
	is.OmitAlg = true
	v := verifier(t, srv, nil)
	now := time.Now()
	rsaKID, ecKID := is.KID(issuer.RS256), is.KID(issuer.ES256)
	if _, err := v.Verify(context.Background(), sign(t, is, ecKID, is.Claims("alice", now, time.Hour))); err != nil {
		t.Fatalf("ES256 token, key without alg: %v", err)
	}
	pemKey, err := is.PublicKeyPEM(rsaKID)
	if err != nil {
		t.Fatal(err)
	}
	refused(t, v, "HS256 keyed with the RSA public key", signWith(t, jwt.SigningMethodHS256, pemKey, rsaKID, is.Claims("alice", now, time.Hour)), "algorithm")
	refused(t, v, "ES256 naming the RSA key", signWith(t, jwt.SigningMethodES256, mustKey(t, is, ecKID), rsaKID, is.Claims("alice", now, time.Hour)), "")
	refused(t, v, "RS256 naming the EC key", signWith(t, jwt.SigningMethodRS256, mustKey(t, is, rsaKID), ecKID, is.Claims("alice", now, time.Hour)), "")
}

// TestJWKSRotation: a key added to the set after the verifier cached it is
// fetched when a token names it, once per UnknownKIDInterval however many
// unknown kids arrive; a key removed from the set stops verifying at the
// next refresh.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	is, srv := provider(t)
	v := verifier(t, srv, func(c *auth.JWKSConfig) { c.UnknownKIDInterval = time.Hour })
	now := time.Now()
	if got := is.Fetches(); got != 1 {
		t.Fatalf("%d fetches at start, want 1", got)
	}
	oldKID := is.KID(issuer.RS256)
	newKID, err := is.AddKey(issuer.RS256)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, is, newKID, is.Claims("alice", now, time.Hour))
	if uid, err := v.Verify(context.Background(), tok); err != nil || uid != "alice" {
		t.Fatalf("token of a key added after the first fetch: %q, %v", uid, err)
	}
	if got := is.Fetches(); got != 2 {
		t.Fatalf("%d fetches after the rotation, want 2", got)
	}
	// Made-up kids: refused, and no more fetches within the interval.
	for i := range 5 {
		forged := signWith(t, jwt.SigningMethodRS256, mustKey(t, is, oldKID), "made-up-"+string(rune('a'+i)), is.Claims("alice", now, time.Hour))
		refused(t, v, "unknown kid", forged, "no key")
	}
	if got := is.Fetches(); got != 2 {
		t.Fatalf("%d fetches after 5 unknown kids, want still 2 (rate-limited)", got)
	}
	// Known keys keep verifying without a fetch.
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}

	// Removal, seen by the periodic refresh.
	is2, srv2 := provider(t)
	v2 := verifier(t, srv2, func(c *auth.JWKSConfig) { c.RefreshInterval = 20 * time.Millisecond })
	kid := is2.KID(issuer.RS256)
	tok2 := sign(t, is2, kid, is2.Claims("alice", now, time.Hour))
	if _, err := v2.Verify(context.Background(), tok2); err != nil {
		t.Fatal(err)
	}
	is2.RemoveKey(kid)
	waitFetches(t, is2, is2.Fetches()+2)
	refused(t, v2, "token of a removed key", tok2, "no key")
}

// TestJWKSProviderDownAtStart: the service starts while the key set cannot
// be fetched; the first token fetches it again.
func TestJWKSProviderDownAtStart(t *testing.T) {
	t.Parallel()
	is, err := issuer.New(testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		is.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	v := verifier(t, srv.URL+"/jwks.json", nil)
	up.Store(true)
	if uid, err := v.Verify(context.Background(), sign(t, is, is.KID(issuer.ES256), is.Claims("bob", time.Now(), time.Hour))); err != nil || uid != "bob" {
		t.Fatalf("first token after the provider came back: %q, %v", uid, err)
	}
}

func TestJWKSCustomClaimAndConfig(t *testing.T) {
	t.Parallel()
	is, srv := provider(t)
	is.Claim = "https://example.com/uid"
	v := verifier(t, srv, func(c *auth.JWKSConfig) { c.UIDClaim = "https://example.com/uid" })
	if uid, err := v.Verify(context.Background(), sign(t, is, is.KID(issuer.RS256), is.Claims("carol", time.Now(), time.Hour))); err != nil || uid != "carol" {
		t.Fatalf("custom claim: %q, %v", uid, err)
	}
	for name, c := range map[string]auth.JWKSConfig{
		"no url":      {Issuer: testIssuer, Audience: testAudience},
		"plain http":  {URL: "http://idp.example.com/jwks.json", Issuer: testIssuer, Audience: testAudience},
		"no issuer":   {URL: srv, Audience: testAudience},
		"no audience": {URL: srv, Issuer: testIssuer},
	} {
		if _, err := auth.NewJWKS(t.Context(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func waitFetches(t *testing.T, is *issuer.Issuer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for is.Fetches() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches of the key set, want %d", is.Fetches(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustKey returns the private key kid of is.
func mustKey(t *testing.T, is *issuer.Issuer, kid string) any {
	t.Helper()
	k, err := is.PrivateKey(kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tamper puts the payload of forged into tok, keeping tok's signature.
func tamper(t *testing.T, tok, forged string) string {
	t.Helper()
	p, f := strings.Split(tok, "."), strings.Split(forged, ".")
	return p[0] + "." + f[1] + "." + p[2]
}
