package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Identity names the account an HTTP request may act for, from the
// credential it carries (Bearer: a JWT a Verifier checks). It returns an
// error wrapping ErrUnauthenticated when the request carries no valid
// credential. A nil Identity in the HTTP API's config means no identity
// check: anyone who knows a uid may act for it.
type Identity func(r *http.Request) (uid string, err error)

// AdminAuth decides whether a request may use the admin routes. It returns
// nil to allow, ErrUnauthenticated (401) without or with a wrong credential,
// ErrAdminDisabled (403) when admin access is not configured.
type AdminAuth func(r *http.Request) error

// Authentication errors, answered by the error table.
var (
	// ErrUnauthenticated: no credential, or one that does not verify (401).
	ErrUnauthenticated = errors.New("missing or invalid credential")
	// ErrForbidden: the credential names another account than the path (403).
	ErrForbidden = errors.New("the credential is for another account")
	// ErrAdminDisabled: no admin credential is configured (403).
	ErrAdminDisabled = errors.New("admin routes are disabled")
	// ErrInvalidRequest: the request sends its token more than one way
	// (RFC 6750 section 3.1, invalid_request: 400).
	ErrInvalidRequest = errors.New("the access token was sent more than one way")
)

// TokenError is a token that was sent but does not verify: it wraps
// ErrUnauthenticated and says why, in RFC 6750's terms, for the
// WWW-Authenticate challenge (Challenge).
type TokenError struct {
	// Description is a short, public reason ("the token has expired").
	Description string
	// Err is the verifier's own error, for logs.
	Err error
}

func (e *TokenError) Error() string {
	if e.Err == nil {
		return "invalid token: " + e.Description
	}
	return "invalid token: " + e.Description + ": " + e.Err.Error()
}

// Is makes a TokenError an ErrUnauthenticated.
func (e *TokenError) Is(target error) bool { return target == ErrUnauthenticated }

// Unwrap returns the verifier's error.
func (e *TokenError) Unwrap() error { return e.Err }

// Realm is the realm of every Bearer challenge.
const Realm = "streamlimit"

// Challenge returns the WWW-Authenticate value that goes with err (RFC 6750
// section 3): with error="invalid_token" and its description when a token
// was sent and did not verify, error="invalid_request" when it was sent
// more than one way, and the bare challenge when none was sent.
func Challenge(err error) string {
	var te *TokenError
	switch {
	case errors.As(err, &te):
		return `Bearer realm="` + Realm + `", error="invalid_token", error_description="` + te.Description + `"`
	case errors.Is(err, ErrInvalidRequest):
		return `Bearer realm="` + Realm + `", error="invalid_request", error_description="send the access token one way only"`
	}
	return `Bearer realm="` + Realm + `"`
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "" when there is none.
func BearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// AdminToken allows requests carrying "Authorization: Bearer <token>". The
// comparison takes the same time whatever the guess (both sides are hashed
// first, so not even the length leaks). An empty token disables the admin
// routes (ErrAdminDisabled).
func AdminToken(token string) AdminAuth {
	if token == "" {
		return func(*http.Request) error { return ErrAdminDisabled }
	}
	want := sha256.Sum256([]byte(token))
	return func(r *http.Request) error {
		got := sha256.Sum256([]byte(BearerToken(r)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return ErrUnauthenticated
		}
		return nil
	}
}
