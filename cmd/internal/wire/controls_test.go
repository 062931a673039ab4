package wire_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/cmd/internal/wire"
	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/internal/testenv/idp"
	"github.com/streamlimit/streamlimit/lease"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// app is the HTTP API as cmd/local and cmd/api wire it.
type app struct {
	Handler http.Handler
	Service *lease.Service
}

func newApp(t *testing.T, env map[string]string, gw *wire.Gateway) (app, error) {
	t.Helper()
	env["STORE"] = "memory"
	c, err := config.Load(envOf(env))
	if err != nil {
		return app{}, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	verifier, admin, err := wire.Access(t.Context(), c, gw, log)
	if err != nil {
		return app{}, err
	}
	svc, _, err := stores.Service(context.Background(), c, nil)
	if err != nil {
		return app{}, err
	}
	hc := handlers.ConfigFrom(c)
	hc.Logger, hc.Identity, hc.Admin = log, auth.Bearer(verifier), admin
	return app{handlers.NewServer(svc, hc), svc}, nil
}

// TestModesNeedTheirVerifier: jwt mode without its identity provider does
// not start, and iam admin mode starts only where API Gateway verified the
// identity (Lambda); elsewhere the start fails instead of serving unchecked
// routes.
func TestModesNeedTheirVerifier(t *testing.T) {
	t.Parallel()
	if _, err := newApp(t, map[string]string{"AUTH_MODE": "jwt"}, nil); err == nil || !strings.Contains(err.Error(), "JWKS_URL") {
		t.Errorf("AUTH_MODE=jwt without an identity provider: %v; want an error naming JWKS_URL", err)
	}
	if _, err := newApp(t, map[string]string{"ADMIN_AUTH": "iam"}, nil); !errors.Is(err, auth.ErrNoGateway) {
		t.Errorf("ADMIN_AUTH=iam without gateway: %v; want ErrNoGateway", err)
	}
	gw := &wire.Gateway{IAMCaller: func(context.Context) string { return "" }}
	env := idp.Start(t).Env()
	env["ADMIN_AUTH"] = "iam"
	if _, err := newApp(t, env, gw); err != nil {
		t.Errorf("with a gateway: %v", err)
	}
}

// TestWiring: the configuration reaches the API: the deployment's policy
// and cooldown, the JWT check and the admin token.
func TestWiring(t *testing.T) {
	t.Parallel()
	p := idp.Start(t)
	env := p.Env()
	maps.Copy(env, map[string]string{
		"AT_LIMIT_POLICY": "evict_oldest", "EVICT_COOLDOWN_SECONDS": "42", "MAX_STREAMS": "1",
		"ADMIN_TOKEN": "the-admin-token-0123",
	})
	a, err := newApp(t, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	do := func(method, path, authz, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := p.Token(t, "u1")
	if got := do("GET", "/dev/streams/u1", "", ""); got != 401 {
		t.Errorf("no token: %d; want 401", got)
	}
	if got := do("GET", "/dev/streams/u2", "Bearer "+tok, ""); got != 403 {
		t.Errorf("token for u1 on u2: %d; want 403", got)
	}
	if got := do("PUT", "/dev/admin/accounts/u1/limit", "Bearer "+tok, `{"maxStreams":2}`); got != 401 {
		t.Errorf("a player token on an admin route: %d; want 401", got)
	}
	if got := do("PUT", "/dev/admin/accounts/u1/limit", "Bearer the-admin-token-0123", `{"maxStreams":2}`); got != 200 {
		t.Errorf("admin token: %d; want 200", got)
	}
	if p := a.Service.Policy(); p != lease.PolicyEvictOldest {
		t.Errorf("service policy %s", p)
	}
	ctx := context.Background()
	for _, dev := range []string{"a", "b"} {
		if _, err := a.Service.CanStream(ctx, "u3", lease.Request{DeviceID: dev}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := a.Service.CanStream(ctx, "u3", lease.Request{DeviceID: "a"})
	if err != nil || d.Granted || d.CooldownUntil.Sub(time.Now()) > 43*time.Second || d.CooldownUntil.Sub(time.Now()) < 30*time.Second {
		t.Errorf("a evicts back: %+v, %v; want refused, cooldown about 42 s", d, err)
	}
}
