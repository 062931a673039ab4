package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/auth"
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
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy != lease.PolicyEvictOldest || c.EvictCooldown != time.Minute || c.AuthMode != config.AuthJWT ||
		c.JWTUIDClaim != "uid" || c.AdminAuth != config.AdminByIAM {
		t.Fatalf("set: %+v", c)
	}
}

func TestControlConfigErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"policy":       {map[string]string{"AT_LIMIT_POLICY": "lottery"}, "AT_LIMIT_POLICY"},
		"cooldown":     {map[string]string{"EVICT_COOLDOWN_SECONDS": "-5"}, "EVICT_COOLDOWN_SECONDS"},
		"auth mode":    {map[string]string{"AUTH_MODE": "oauth"}, "AUTH_MODE"},
		"admin auth":   {map[string]string{"ADMIN_AUTH": "password"}, "ADMIN_AUTH"},
		"short secret": {map[string]string{"JWT_HS256_SECRET": "short"}, "JWT_HS256_SECRET"},
		"short token":  {map[string]string{"ADMIN_TOKEN": "admin"}, "ADMIN_TOKEN"},
	} {
		_, err := config.Load(envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming %s", name, err, tc.want)
		}
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
		{map[string]string{"STAGE": "qa"}, "/qa"},                         // another local stage
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, ""},          // an HTTP API's $default stage
		{map[string]string{"ROUTE_PREFIX": "/v1/", "STAGE": "qa"}, "/v1"}, // said outright
		{map[string]string{"ROUTE_PREFIX": "/v1", "AWS_LAMBDA_FUNCTION_NAME": "f"}, "/v1"},
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
	if config.DefaultTable != dynamostore.DefaultTable || config.DefaultNamespace != observe.DefaultNamespace ||
		config.MinJWTSecretBytes != auth.MinSecretBytes {
		t.Fatal("config's copies of adapter defaults drifted")
	}
}
