package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/auth"
)

func request(authorization string) *http.Request {
	r := httptest.NewRequest("GET", "/dev/streams/alice", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
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

func TestGatewayIAM(t *testing.T) {
	t.Parallel()
	iam := auth.GatewayIAM(func(ctx context.Context) string { s, _ := ctx.Value(ctxKey{}).(string); return s })
	r := request("")
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "arn:aws:iam::123456789012:user/ops"))
	if err := iam(r); err != nil {
		t.Fatalf("IAM caller: %v", err)
	}
	if err := iam(request("Bearer x")); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("no IAM caller: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]string{
		"Bearer abc": "abc", "bearer  abc ": "abc", "BEARER abc": "abc",
		"Basic abc": "", "abc": "", "": "", "Bearer": "",
	} {
		if got := auth.BearerToken(request(h)); got != want {
			t.Errorf("Authorization %q: %q; want %q", h, got, want)
		}
	}
}

// TestChallenge: RFC 6750's WWW-Authenticate: no error attribute without a
// token, invalid_token with a reason for a bad one, invalid_request for a
// token sent twice.
func TestChallenge(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		err  error
		want string
	}{
		"no token":    {auth.ErrUnauthenticated, `Bearer realm="streamlimit"`},
		"bad token":   {&auth.TokenError{Description: "the token has expired", Err: errors.New("x")}, `Bearer realm="streamlimit", error="invalid_token", error_description="the token has expired"`},
		"sent twice":  {auth.ErrInvalidRequest, `Bearer realm="streamlimit", error="invalid_request", error_description="send the access token one way only"`},
		"wrapped bad": {errors.Join(errors.New("ctx"), &auth.TokenError{Description: "d"}), `Bearer realm="streamlimit", error="invalid_token", error_description="d"`},
	}
	for name, c := range cases {
		if got := auth.Challenge(c.err); got != c.want {
			t.Errorf("%s: %s\nwant %s", name, got, c.want)
		}
	}
	if !errors.Is(&auth.TokenError{}, auth.ErrUnauthenticated) {
		t.Error("a TokenError is not an ErrUnauthenticated")
	}
	if te := (&auth.TokenError{Description: "d", Err: errors.New("cause")}); !strings.Contains(te.Error(), "cause") {
		t.Errorf("TokenError.Error() = %q, want the cause in it", te.Error())
	}
}

func TestCheckJWKSURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"https://idp.example.com/.well-known/jwks.json", "http://localhost:3001/jwks.json", "http://127.0.0.1:9/jwks.json", "http://[::1]:9/k"} {
		if err := auth.CheckJWKSURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "idp.example.com/jwks.json", "http://idp.example.com/jwks.json", "ftp://localhost/k", "https:///jwks.json", "http://localhost.example.com/k"} {
		if err := auth.CheckJWKSURL(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
