// Package auth verifies who a request acts for and whether it may use the
// admin routes. It owns the identity types the transports are given
// (Verifier, Identity, AdminAuth) and the access errors they map to
// statuses (ErrUnauthenticated 401, ErrForbidden 403, ErrAdminDisabled 403,
// ErrInvalidRequest 400); it imports no transport:
//
//   - JWKS verifies bearer JWTs itself against the identity provider's key
//     set (RS256 and ES256 only; issuer, audience, expiry; keys cached and
//     refreshed on rotation), the same way in the local server and in
//     Lambda, over HTTP and WebSocket;
//   - Bearer reads the token of an HTTP request (Authorization: Bearer);
//   - GatewayIAM allows the admin routes to callers API Gateway
//     authenticated with IAM (SigV4);
//   - AdminToken checks the admin bearer token.
//
// The package auth/issuer is a small identity provider for tests and local
// trials (`make run AUTH=jwks`).
package auth

import (
	"context"
	"errors"
	"net/http"
)

// Verifier names the account a bearer token stands for. It returns an error
// wrapping ErrUnauthenticated when token is empty or does not verify (a
// *TokenError says why, for the WWW-Authenticate challenge).
type Verifier interface {
	Verify(ctx context.Context, token string) (uid string, err error)
}

// Bearer returns the identity of HTTP requests whose "Authorization: Bearer"
// token v verifies. A nil v is a nil Identity: no identity check.
func Bearer(v Verifier) Identity {
	if v == nil {
		return nil
	}
	return func(r *http.Request) (string, error) {
		return v.Verify(r.Context(), BearerToken(r))
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
