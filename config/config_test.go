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
