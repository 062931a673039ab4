// Package auth verifies who a request acts for and whether it may use the
// admin routes. It owns the identity types the transports are given
// (Identity, AdminAuth) and the access errors they map to statuses
// (ErrUnauthenticated 401, ErrForbidden 403, ErrAdminDisabled 403); it
// imports no transport:
//
//   - HS256 verifies "Authorization: Bearer <JWT>" itself, with a shared
//     secret (local server, tests, or a deployment without an API Gateway
//     authorizer);
//   - GatewayClaims trusts the claims API Gateway's JWT authorizer verified
//     (Lambda), read from the original event, never from a header;
//   - GatewayIAM allows the admin routes to callers API Gateway
//     authenticated with IAM (SigV4);
//   - AdminToken checks the admin bearer token.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretBytes is the shortest HS256 secret accepted: 256 bits, the size
// of the hash (RFC 7518 section 3.2).
const MinSecretBytes = 32

// Leeway is the clock skew allowed on exp and nbf.
const Leeway = 30 * time.Second

// HS256 returns an identity that verifies the request's bearer JWT: signed
// with HS256 and secret (no other algorithm, "none" included), unexpired
// (exp is required), and naming the account in the string claim claim
// ("sub" by default). now is the clock (nil: time.Now).
func HS256(secret []byte, claim string, now func() time.Time) (Identity, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: the HS256 secret has %d bytes; want at least %d", len(secret), MinSecretBytes)
	}
	if claim == "" {
		claim = "sub"
	}
	if now == nil {
		now = time.Now
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
	)
	key := func(*jwt.Token) (any, error) { return secret, nil }
	return func(r *http.Request) (string, error) {
		raw := BearerToken(r)
		if raw == "" {
			return "", ErrUnauthenticated
		}
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(raw, claims, key); err != nil {
			return "", fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		uid, _ := claims[claim].(string)
		if uid == "" {
			return "", fmt.Errorf("%w: no string claim %q", ErrUnauthenticated, claim)
		}
		return uid, nil
	}, nil
}

// SignHS256 returns a JWT for uid (in claim) signed with secret, valid from
// now for ttl: what a local identity provider would hand a player. For
// tests and local trials (`streamctl token`).
func SignHS256(secret []byte, claim, uid string, now time.Time, ttl time.Duration) (string, error) {
	if claim == "" {
		claim = "sub"
	}
	claims := jwt.MapClaims{
		claim: uid,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// ClaimsFunc returns the claims a gateway verified for the request whose
// context is ctx, and false when it verified none.
type ClaimsFunc func(ctx context.Context) (map[string]string, bool)

// GatewayClaims returns an identity that trusts the JWT claims API Gateway's
// authorizer verified: the account is the claim named claim ("sub" by
// default). A request without them is unauthenticated: a route deployed
// without the authorizer fails closed.
func GatewayClaims(claim string, claims ClaimsFunc) Identity {
	if claim == "" {
		claim = "sub"
	}
	return func(r *http.Request) (string, error) {
		c, ok := claims(r.Context())
		if !ok || c[claim] == "" {
			return "", ErrUnauthenticated
		}
		return c[claim], nil
	}
}

// CallerFunc returns the IAM principal a gateway authenticated for the
// request whose context is ctx, and "" when none.
type CallerFunc func(ctx context.Context) string

// GatewayIAM allows the admin routes to any caller API Gateway
// authenticated with IAM (who may call is then the IAM policy's business:
// execute-api:Invoke on the admin routes). Without one the answer is 401,
// so an admin route deployed without IAM authorization fails closed.
func GatewayIAM(caller CallerFunc) AdminAuth {
	return func(r *http.Request) error {
		if caller(r.Context()) == "" {
			return ErrUnauthenticated
		}
		return nil
	}
}

// ErrNoGateway is returned by configurations that need API Gateway's
// verified identity where there is none (the local server).
var ErrNoGateway = errors.New("auth: this mode needs API Gateway (Lambda)")
