package wsapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/auth"
)

// Subprotocol is the WebSocket API's subprotocol. A client need not offer
// any; one that does must offer this one, which the server selects.
const Subprotocol = "streamlimit"

// BearerProtocolPrefix starts the subprotocol that carries a player's
// token: a client offers "streamlimit" and "bearer.<JWT>" (browsers cannot
// set an Authorization header on a WebSocket; a JWT's characters are all
// allowed in a subprotocol name). The server never selects, echoes or logs
// it.
const BearerProtocolPrefix = "bearer."

// ErrSubprotocol: the client offered subprotocols, streamlimit not among
// them (400 invalid_subprotocol): it could not use the connection.
var ErrSubprotocol = errors.New("the offered WebSocket subprotocols do not include streamlimit")

// Handshake reads what an upgrade request (a $connect) says about its
// caller: the token, from "Authorization: Bearer <JWT>" (clients that can
// set headers) or the "bearer.<JWT>" subprotocol (browsers); and the
// subprotocol to select, Subprotocol when the client offered it, "" when it
// offered none. A token sent both ways, or in two subprotocols, is
// auth.ErrInvalidRequest.
func Handshake(h http.Header) (token, protocol string, err error) {
	var offered []string
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				offered = append(offered, p)
			}
		}
	}
	sent := 0
	if t := bearer(h); t != "" {
		token, sent = t, 1
	}
	for _, p := range offered {
		switch {
		case p == Subprotocol:
			protocol = Subprotocol
		case strings.HasPrefix(p, BearerProtocolPrefix):
			token, sent = strings.TrimPrefix(p, BearerProtocolPrefix), sent+1
		}
	}
	switch {
	case len(offered) > 0 && protocol == "":
		return "", "", ErrSubprotocol
	case sent > 1:
		return "", "", auth.ErrInvalidRequest
	}
	return token, protocol, nil
}

// bearer reads the token of an "Authorization: Bearer" header.
func bearer(h http.Header) string {
	return auth.BearerToken(&http.Request{Header: h})
}

// Account decides which account a connection acts for: the uid it asks
// for (the uid query parameter) and, when identity is on (v not nil), the
// account of the token it sent, which must be the same (403 otherwise; no
// uid asked: the token's). Without a token that verifies it is 401. Both
// transports call it before anything is written, so a $connect is checked
// the same way locally and behind API Gateway.
func Account(ctx context.Context, asked string, v auth.Verifier, token string) (string, error) {
	if v == nil {
		return asked, nil
	}
	id, err := v.Verify(ctx, token)
	switch {
	case err != nil:
		return "", err
	case asked == "":
		return id, nil
	case asked != id:
		return "", auth.ErrForbidden
	}
	return asked, nil
}

// Fail answers a local upgrade request that failed: apierr.Fail with the
// WebSocket API's own errors.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	e, body, _ := errorOf(err)
	apierr.FailWith(w, r, err, e, body)
}
