package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/memstore"
	"github.com/streamlimit/streamlimit/observe"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestControlDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy != lease.PolicyBlockNew || c.EvictCooldown != lease.DefaultEvictCooldown ||
		c.AuthMode != config.AuthNone || c.JWTUIDClaim != "sub" || c.AdminAuth != config.AdminByToken || c.AdminToken != "" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = config.Load(envOf(map[string]string{
		"AT_LIMIT_POLICY": "evict_oldest", "EVICT_COOLDOWN_SECONDS": "60", "AUTH_MODE": "JWT",
		"JWT_UID_CLAIM": "uid", "ADMIN_AUTH": "iam", "ADMIN_TOKEN": "0123456789abcdef",
		"JWKS_URL": "https://idp.example.com/jwks.json", "JWT_ISSUER": "https://idp.example.com/", "JWT_AUDIENCE": "streamlimit",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy != lease.PolicyEvictOldest || c.EvictCooldown != time.Minute || c.AuthMode != config.AuthJWT ||
		c.JWTUIDClaim != "uid" || c.AdminAuth != config.AdminByIAM || c.JWKSURL != "https://idp.example.com/jwks.json" ||
		c.JWTIssuer != "https://idp.example.com/" || c.JWTAudience != "streamlimit" {
		t.Fatalf("set: %+v", c)
	}
}

func TestControlConfigErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"policy":                    {map[string]string{"AT_LIMIT_POLICY": "lottery"}, "AT_LIMIT_POLICY"},
		"cooldown":                  {map[string]string{"EVICT_COOLDOWN_SECONDS": "-5"}, "EVICT_COOLDOWN_SECONDS"},
		"auth mode":                 {map[string]string{"AUTH_MODE": "oauth"}, "AUTH_MODE"},
		"admin auth":                {map[string]string{"ADMIN_AUTH": "password"}, "ADMIN_AUTH"},
		"old HS256 secret":          {map[string]string{"JWT_HS256_SECRET": "0123456789abcdef0123456789abcdef"}, "JWT_HS256_SECRET is no longer read"},
		"jwt without provider":      {map[string]string{"AUTH_MODE": "jwt"}, "AUTH_MODE=jwt needs JWKS_URL, JWT_AUDIENCE, JWT_ISSUER"},
		"jwt without audience":      {map[string]string{"AUTH_MODE": "jwt", "JWKS_URL": "https://idp/k", "JWT_ISSUER": "i"}, "needs JWT_AUDIENCE ("},
		"plain-http key set":        {map[string]string{"AUTH_MODE": "jwt", "JWKS_URL": "http://idp.example.com/k", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}, "JWKS_URL"},
		"lambda default is jwt":     {map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, "in Lambda AUTH_MODE defaults to jwt"},
		"dev issuer in lambda":      {map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f", "AUTH_MODE": "none", "DEV_ISSUER": "true"}, "DEV_ISSUER"},
		"dev issuer, auth off":      {map[string]string{"AUTH_MODE": "none", "DEV_ISSUER": "true"}, "DEV_ISSUER=true needs AUTH_MODE=jwt"},
		"dev issuer and a provider": {map[string]string{"DEV_ISSUER": "true", "JWKS_URL": "https://idp/k"}, "unset them"},
		"short token":               {map[string]string{"ADMIN_TOKEN": "admin"}, "ADMIN_TOKEN"},
	} {
		_, err := config.Load(envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming %s", name, err, tc.want)
		}
	}
}

// TestIdentityDefaults: identity is off locally unless asked for, on in
// Lambda unless turned off; DEV_ISSUER=true turns it on.
func TestIdentityDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, config.AuthNone},
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f", "JWKS_URL": "https://idp/k", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}, config.AuthJWT},
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f", "AUTH_MODE": "none"}, config.AuthNone},
		{map[string]string{"AUTH_MODE": "jwt", "JWKS_URL": "http://localhost:3001/jwks.json", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}, config.AuthJWT},
		{map[string]string{"DEV_ISSUER": "true"}, config.AuthJWT},
	} {
		c, err := config.Load(envOf(tc.env))
		if err != nil {
			t.Fatalf("env %v: %v", tc.env, err)
		}
		if c.AuthMode != tc.want {
			t.Errorf("env %v: AUTH_MODE %q; want %q", tc.env, c.AuthMode, tc.want)
		}
	}
	if c, _ := config.Load(envOf(map[string]string{"DEV_ISSUER": "1", "DEV_ISSUER_PORT": "0"})); !c.DevIssuer || c.DevIssuerPort != 0 {
		t.Errorf("DEV_ISSUER: %+v", c)
	}
	if c, _ := config.Load(envOf(nil)); c.DevIssuer || c.DevIssuerPort != config.DefaultDevIssuerPort {
		t.Errorf("DEV_ISSUER default: %+v", c)
	}
}

// TestPrefixRule: one rule decides the route prefix of every binary.
func TestPrefixRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "/dev"}, // the local server
		{map[string]string{"STAGE": "qa"}, "/qa"},                                     // another local stage
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f", "AUTH_MODE": "none"}, ""}, // an HTTP API's $default stage
		{map[string]string{"ROUTE_PREFIX": "/v1/", "STAGE": "qa"}, "/v1"},             // said outright
		{map[string]string{"ROUTE_PREFIX": "/v1", "AWS_LAMBDA_FUNCTION_NAME": "f", "AUTH_MODE": "none"}, "/v1"},
	} {
		c, err := config.Load(envOf(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Prefix(); got != tc.want {
			t.Errorf("env %v: prefix %q; want %q", tc.env, got, tc.want)
		}
	}
}

// TestLeaseOptions: the options every binary builds its lease.Service
// with carry every lease setting of the environment.
func TestLeaseOptions(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(map[string]string{
		"MAX_STREAMS": "5", "LEASE_TTL_SECONDS": "120", "HEARTBEAT_INTERVAL_SECONDS": "20",
		"RENEW_BELOW_SECONDS": "60", "AT_LIMIT_POLICY": "evict_oldest", "FAIL_OPEN": "true", "FAIL_OPEN_SECONDS": "30",
	}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := lease.New(memstore.New(), c.LeaseOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if svc.MaxStreams() != 5 || svc.LeaseTTL() != 2*time.Minute || svc.HeartbeatInterval() != 20*time.Second ||
		svc.RenewBelow() != time.Minute || svc.Policy() != lease.PolicyEvictOldest || svc.FailOpen() != 30*time.Second {
		t.Fatalf("service from LeaseOptions: max %d ttl %v interval %v renew-below %v policy %s fail-open %v",
			svc.MaxStreams(), svc.LeaseTTL(), svc.HeartbeatInterval(), svc.RenewBelow(), svc.Policy(), svc.FailOpen())
	}
}

// TestDefaultsMatchTheAdapters: config names some adapters' values
// without importing them; they must agree.
func TestDefaultsMatchTheAdapters(t *testing.T) {
	t.Parallel()
	if config.DefaultTable != dynamostore.DefaultTable || config.DefaultNamespace != observe.DefaultNamespace {
		t.Fatal("config's copies of adapter defaults drifted")
	}
}

// TestHeartbeatSettings: renew-below follows the lease's default unless
// set; instances configured with one LEASE_TOKEN_KEY accept each other's
// renewal tokens, and LEASE_TOKEN_KEY_PREVIOUS keeps the old key's tokens
// valid through a rotation.
func TestHeartbeatSettings(t *testing.T) {
	t.Parallel()
	newSvc := func(env map[string]string) (*lease.Service, config.Config) {
		t.Helper()
		c, err := config.Load(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := lease.New(memstore.New(), c.LeaseOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		return svc, c
	}
	svc, c := newSvc(nil)
	if svc.LeaseTTL() != 100*time.Second || svc.RenewBelow() != 65*time.Second || !c.RandomTokenKey() {
		t.Fatalf("defaults: TTL %v, renew-below %v, random key %v; want 100 s, 65 s, true", svc.LeaseTTL(), svc.RenewBelow(), c.RandomTokenKey())
	}
	if svc, _ := newSvc(map[string]string{"RENEW_BELOW_SECONDS": "0"}); svc.RenewBelow() != 0 {
		t.Fatalf("RENEW_BELOW_SECONDS=0: renew-below %v; want 0", svc.RenewBelow())
	}
	if svc, _ := newSvc(map[string]string{"LEASE_TTL_SECONDS": "90"}); svc.RenewBelow() != 0 {
		t.Fatalf("LEASE_TTL_SECONDS=90: renew-below %v; want 0 (no heartbeat to skip)", svc.RenewBelow())
	}
	c, err := config.Load(envOf(map[string]string{"RENEW_BELOW_SECONDS": "60"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lease.New(memstore.New(), c.LeaseOptions()...); err == nil || !strings.Contains(err.Error(), "renew-below") {
		t.Fatalf("RENEW_BELOW_SECONDS=60 with a 30 s interval: %v; want a renew-below error", err)
	}

	oldKey, newKey := strings.Repeat("o", 32), strings.Repeat("n", 40)
	issue := func(svc *lease.Service) (string, string) {
		t.Helper()
		d, err := svc.CanStream(t.Context(), "u", lease.Request{})
		if err != nil || d.Token == "" {
			t.Fatalf("CanStream = %+v, %v", d, err)
		}
		return d.Lease.ID, d.Token
	}
	valid := func(svc *lease.Service, id, token string) bool {
		return svc.ValidToken("u", id, lease.HeartbeatRequest{Token: token})
	}
	a, c := newSvc(map[string]string{"LEASE_TOKEN_KEY": oldKey})
	b, _ := newSvc(map[string]string{"LEASE_TOKEN_KEY": oldKey})
	rotated, _ := newSvc(map[string]string{"LEASE_TOKEN_KEY": newKey, "LEASE_TOKEN_KEY_PREVIOUS": oldKey})
	fresh, _ := newSvc(map[string]string{"LEASE_TOKEN_KEY": newKey})
	random, _ := newSvc(nil)
	id, token := issue(a)
	if c.RandomTokenKey() || !valid(b, id, token) || !valid(rotated, id, token) || valid(fresh, id, token) || valid(random, id, token) {
		t.Fatal("a token of LEASE_TOKEN_KEY: want valid on every instance with that key (or it as the previous one), on no other")
	}
	if id, token := issue(rotated); !valid(fresh, id, token) || valid(a, id, token) {
		t.Fatal("a token issued during a rotation: want valid under the new key only")
	}
	for name, env := range map[string]map[string]string{
		"short key":          {"LEASE_TOKEN_KEY": "short"},
		"short previous key": {"LEASE_TOKEN_KEY": newKey, "LEASE_TOKEN_KEY_PREVIOUS": "short"},
		"previous alone":     {"LEASE_TOKEN_KEY_PREVIOUS": oldKey},
		"renew-below":        {"RENEW_BELOW_SECONDS": "soon"},
	} {
		want := "LEASE_TOKEN_KEY"
		if name == "renew-below" {
			want = "RENEW_BELOW_SECONDS"
		}
		if _, err := config.Load(envOf(env)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error naming %s", name, err, want)
		}
	}
}

// TestObserveSettings: the log sample, log format, metrics interval and
// the long-running server's trace sampling have their documented defaults
// and refuse what they cannot mean.
func TestObserveSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogSampleRate != 0.01 || c.LogFormat != config.LogJSON || c.MetricsFlush != time.Minute ||
		c.XRaySampleRate != 0.01 || c.XRayReservoir != 1 {
		t.Fatalf("defaults: sample %v format %q flush %v x-ray %v+%d/s", c.LogSampleRate, c.LogFormat, c.MetricsFlush, c.XRaySampleRate, c.XRayReservoir)
	}
	c, err = config.Load(envOf(map[string]string{
		"LOG_SAMPLE_RATE": "1", "LOG_FORMAT": "TEXT", "METRICS_FLUSH_SECONDS": "10", "XRAY_SAMPLE_RATE": "0", "XRAY_RESERVOIR": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogSampleRate != 1 || c.LogFormat != config.LogText || c.MetricsFlush != 10*time.Second || c.XRaySampleRate != 0 || c.XRayReservoir != 0 {
		t.Fatalf("set: %+v", c)
	}
	for name, v := range map[string]string{
		"LOG_SAMPLE_RATE": "2", "XRAY_SAMPLE_RATE": "-0.5", "LOG_FORMAT": "xml", "METRICS_FLUSH_SECONDS": "0", "XRAY_RESERVOIR": "many",
	} {
		if _, err := config.Load(envOf(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v; want an error naming it", name, v, err)
		}
	}
	if _, err := config.Load(envOf(map[string]string{"LOG_SAMPLE_RATE": "NaN"})); err == nil {
		t.Error("LOG_SAMPLE_RATE=NaN accepted")
	}
}
