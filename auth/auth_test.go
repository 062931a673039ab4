package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamlimit/streamlimit/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func request(authorization string) *http.Request {
	r := httptest.NewRequest("GET", "/dev/streams/alice", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHS256(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 12, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	id, err := auth.HS256(secret, "", clock)
	if err != nil {
		t.Fatal(err)
	}
	good, err := auth.SignHS256(secret, "", "alice", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if uid, err := id(request("Bearer " + good)); err != nil || uid != "alice" {
		t.Fatalf("good token: %q, %v", uid, err)
	}
	if uid, err := id(request("bearer  " + good)); err != nil || uid != "alice" {
		t.Fatalf("scheme is case-insensitive: %q, %v", uid, err)
	}

	exp := now.Add(time.Hour).Unix()
	other := []byte(strings.Repeat("x", 32))
	bad := map[string]string{
		"no header":        "",
		"basic scheme":     "Basic " + good,
		"empty bearer":     "Bearer ",
		"garbage":          "Bearer not.a.jwt",
		"wrong secret":     "Bearer " + sign(t, jwt.SigningMethodHS256, other, jwt.MapClaims{"sub": "alice", "exp": exp}),
		"HS384":            "Bearer " + sign(t, jwt.SigningMethodHS384, secret, jwt.MapClaims{"sub": "alice", "exp": exp}),
		"alg none":         "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "alice", "exp": exp}),
		"expired":          "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Minute).Unix()}),
		"no exp":           "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice"}),
		"not yet valid":    "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": now.Add(time.Minute).Unix()}),
		"no sub":           "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"uid": "alice", "exp": exp}),
		"numeric sub":      "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": 42, "exp": exp}),
		"tampered payload": "Bearer " + tamper(t, good),
	}
	for name, h := range bad {
		if uid, err := id(request(h)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %q, %v; want auth.ErrUnauthenticated", name, uid, err)
		}
	}
	// Within the leeway an expired token still passes.
	late := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(-auth.Leeway / 2).Unix()})
	if _, err := id(request("Bearer " + late)); err != nil {
		t.Errorf("token expired within the leeway: %v", err)
	}

	// Another claim names the account.
	byUID, err := auth.HS256(secret, "https://example.com/uid", clock)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "idp|123", "https://example.com/uid": "bob", "exp": exp})
	if uid, err := byUID(request("Bearer " + tok)); err != nil || uid != "bob" {
		t.Fatalf("custom claim: %q, %v", uid, err)
	}

	if _, err := auth.HS256([]byte("short"), "sub", nil); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}

// tamper swaps the payload of tok for one naming mallory, keeping the
// signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	forged := sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("y", 32)), jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()})
	return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
}

func TestAdminToken(t *testing.T) {
	t.Parallel()
	check := auth.AdminToken("s3cret-admin-token")
	cases := map[string]error{
		"Bearer s3cret-admin-token":  nil,
		"Bearer s3cret-admin-tokeN":  auth.ErrUnauthenticated,
		"Bearer s3cret-admin-token2": auth.ErrUnauthenticated,
		"Bearer s3cret":              auth.ErrUnauthenticated,
		"Basic s3cret-admin-token":   auth.ErrUnauthenticated,
		"s3cret-admin-token":         auth.ErrUnauthenticated,
		"":                           auth.ErrUnauthenticated,
	}
	for h, want := range cases {
		if err := check(request(h)); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("Authorization %q: %v; want %v", h, err, want)
		}
	}
	disabled := auth.AdminToken("")
	for _, h := range []string{"", "Bearer ", "Bearer x"} {
		if err := disabled(request(h)); !errors.Is(err, auth.ErrAdminDisabled) {
			t.Errorf("no token configured, Authorization %q: %v; want auth.ErrAdminDisabled", h, err)
		}
	}
}

type ctxKey struct{}

func TestGateway(t *testing.T) {
	t.Parallel()
	claimsOf := func(ctx context.Context) (map[string]string, bool) {
		c, ok := ctx.Value(ctxKey{}).(map[string]string)
		return c, ok
	}
	id := auth.GatewayClaims("", claimsOf)
	with := func(v any) *http.Request {
		r := request("")
		return r.WithContext(context.WithValue(r.Context(), ctxKey{}, v))
	}
	if uid, err := id(with(map[string]string{"sub": "alice"})); err != nil || uid != "alice" {
		t.Fatalf("verified claims: %q, %v", uid, err)
	}
	for name, r := range map[string]*http.Request{
		"no claims":   request("Bearer whatever"),
		"no sub":      with(map[string]string{"email": "a@example.com"}),
		"empty claim": with(map[string]string{"sub": ""}),
	} {
		if _, err := id(r); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %v; want auth.ErrUnauthenticated", name, err)
		}
	}

	iam := auth.GatewayIAM(func(ctx context.Context) string { s, _ := ctx.Value(ctxKey{}).(string); return s })
	if err := iam(with("arn:aws:iam::123456789012:user/ops")); err != nil {
		t.Fatalf("IAM caller: %v", err)
	}
	if err := iam(request("Bearer x")); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("no IAM caller: %v", err)
	}
}
