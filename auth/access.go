package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Identity names the account a request may act for, from credentials the
// request carries (a verified JWT) or that a gateway verified before it (API
// Gateway's JWT authorizer). It returns ErrUnauthenticated when the request
// carries no valid credential. A nil Identity in the HTTP API's config means no
// identity check: anyone who knows a uid may act for it.
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
)

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
