// Package idp starts a local identity provider (auth/issuer) on a loopback
// test server, for the tests that verify real tokens the way the service
// does in Lambda: against the provider's key set (JWKS_URL).
package idp

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/auth/issuer"
)

// Issuer and Audience are the claims the provider's tokens carry.
const (
	Issuer   = "https://idp.streamlimit.test/"
	Audience = "streamlimit-test"
)

// Provider is a running issuer: its keys (RS256 and ES256 at start) and
// the URL of its key set.
type Provider struct {
	*issuer.Issuer
	// JWKSURL is the key set's URL (http on loopback).
	JWKSURL string
}

// Start starts a provider, stopped when the test ends.
func Start(tb testing.TB) *Provider {
	tb.Helper()
	is, err := issuer.New(Issuer, Audience)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(is.Handler())
	tb.Cleanup(srv.Close)
	return &Provider{Issuer: is, JWKSURL: srv.URL + "/jwks.json"}
}

// Env returns the service configuration that verifies this provider's
// tokens (AUTH_MODE=jwt).
func (p *Provider) Env() map[string]string {
	return map[string]string{"AUTH_MODE": "jwt", "JWKS_URL": p.JWKSURL, "JWT_ISSUER": Issuer, "JWT_AUDIENCE": Audience}
}

// Token returns a valid token for uid (RS256, one hour).
func (p *Provider) Token(tb testing.TB, uid string) string {
	tb.Helper()
	return p.Signed(tb, p.KID(issuer.RS256), uid, time.Now(), time.Hour)
}

// Signed returns a token for uid signed with key kid, valid for ttl from
// start.
func (p *Provider) Signed(tb testing.TB, kid, uid string, start time.Time, ttl time.Duration) string {
	tb.Helper()
	s, err := p.Sign(kid, p.Claims(uid, start, ttl))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Bearer returns the Authorization header of a valid token for uid.
func (p *Provider) Bearer(tb testing.TB, uid string) map[string]string {
	tb.Helper()
	return map[string]string{"Authorization": "Bearer " + p.Token(tb, uid)}
}
