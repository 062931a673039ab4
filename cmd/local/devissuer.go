package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/auth/issuer"
	"github.com/streamlimit/streamlimit/config"
)

// devIssuerAudience is the audience of the local issuer's tokens.
const devIssuerAudience = "streamlimit-local"

// devIssuer starts, for DEV_ISSUER=true, a local identity provider on
// 127.0.0.1:DEV_ISSUER_PORT (auth/issuer: fresh RSA and EC keys each start)
// and points cfg's identity at it (JWKS_URL, JWT_ISSUER, JWT_AUDIENCE), so
// the server verifies its tokens exactly as a deployed one verifies a real
// provider's. GET /token/{uid} on it hands out a token for any uid: it is
// for trying identity out, never a provider to expose. It prints where it
// is and returns a function that stops it.
func devIssuer(cfg *config.Config, stdout io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.DevIssuerPort))
	if err != nil {
		return nil, fmt.Errorf("DEV_ISSUER: %w", err)
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	is, err := issuer.New(base, devIssuerAudience)
	if err != nil {
		ln.Close()
		return nil, err
	}
	is.Claim = cfg.JWTUIDClaim
	srv := &http.Server{Handler: is.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cfg.JWKSURL, cfg.JWTIssuer, cfg.JWTAudience = base+"/jwks.json", base, devIssuerAudience
	fmt.Fprintf(stdout, "local identity provider on %s (DEV_ISSUER): a token for alice: curl -s %s/token/alice\n", base, base)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
