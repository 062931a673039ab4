// Package config turns the environment into typed values: one Config for
// every binary under cmd/, the lease options they all build their
// lease.Service with (LeaseOptions), and the one rule that decides the
// route prefix (Prefix). It reads the environment only through the getenv
// function it is given, and imports no adapter: what a binary builds from a
// Config is that binary's business.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// Defaults that name adapters' values; tests check they match the
// adapters' own constants.
const (
	// DefaultTable is TABLE_NAME's default, the seed's table name
	// (dynamostore.DefaultTable).
	DefaultTable = "uid_concurrency_count"
	// DefaultNamespace is METRICS_NAMESPACE's default
	// (observe.DefaultNamespace).
	DefaultNamespace = "streamlimit"
)

// Config is the service configuration, from environment variables.
type Config struct {
	Port              int           // PORT (3000)
	Stage             string        // STAGE (dev): the stage; outside Lambda the route prefix is /STAGE (see Prefix)
	RoutePrefix       string        // ROUTE_PREFIX: the route prefix, when set (see Prefix)
	Store             string        // STORE: dynamodb (default) or memory
	DynamoEndpoint    string        // DYNAMODB_ENDPOINT: DynamoDB Local, e.g. http://localhost:8000
	Region            string        // AWS_REGION
	TableName         string        // TABLE_NAME (uid_concurrency_count)
	CreateTable       bool          // CREATE_TABLE: create the table at start and when missing
	MaxStreams        int           // MAX_STREAMS (3)
	LeaseTTL          time.Duration // LEASE_TTL_SECONDS (100)
	HeartbeatInterval time.Duration // HEARTBEAT_INTERVAL_SECONDS (30)
	RenewBelow        time.Duration // RENEW_BELOW_SECONDS (unset, -1: lease.DefaultRenewBelow, 65 s at the defaults; 0: every heartbeat writes)
	TokenKey          string        // LEASE_TOKEN_KEY: renewal-token HMAC key (≥ 32 bytes); random per process when empty
	PreviousTokenKey  string        // LEASE_TOKEN_KEY_PREVIOUS: the key before a rotation, still accepted
	AllowedOrigins    []string      // ALLOWED_ORIGINS, comma separated (*)
	StoreTimeout      time.Duration // STORE_TIMEOUT_MS (1500): bound on one request's store work
	FailOpen          time.Duration // FAIL_OPEN=true: grant degraded leases for FAIL_OPEN_SECONDS (60) when the store is down; 0 fails closed
	Policy            lease.Policy  // AT_LIMIT_POLICY (block_new): default at-limit policy
	EvictCooldown     time.Duration // EVICT_COOLDOWN_SECONDS (300): anti-flap cooldown of evict_oldest
	AuthMode          string        // AUTH_MODE: none or jwt (default: jwt in Lambda, none elsewhere)
	JWTUIDClaim       string        // JWT_UID_CLAIM (sub): the claim naming the account
	JWKSURL           string        // JWKS_URL: the identity provider's key set (AUTH_MODE=jwt)
	JWTIssuer         string        // JWT_ISSUER: the tokens' required iss
	JWTAudience       string        // JWT_AUDIENCE: the tokens' required aud
	JWKSRefresh       time.Duration // JWKS_REFRESH_SECONDS (3600): how often the key set is fetched again
	DevIssuer         bool          // DEV_ISSUER: the local server starts a local issuer and verifies its tokens
	DevIssuerPort     int           // DEV_ISSUER_PORT (3001): the local issuer's port
	AdminAuth         string        // ADMIN_AUTH: token (default) or iam
	AdminToken        string        // ADMIN_TOKEN: the admin bearer token (ADMIN_AUTH=token); empty disables admin
	LogUID            string        // LOG_UID: hashed (default) or plain: how uids appear in logs
	LogUIDKey         string        // LOG_UID_KEY: HMAC key of the uid hash; random per process when empty
	LogSampleRate     float64       // LOG_SAMPLE_RATE (0.01): share of successful requests logged; errors, refusals and revocations always are
	LogFormat         string        // LOG_FORMAT: json (default) or text (one readable line per record)
	Metrics           bool          // METRICS: emf (default: CloudWatch EMF lines) or off
	MetricsNamespace  string        // METRICS_NAMESPACE (streamlimit)
	MetricsFlush      time.Duration // METRICS_FLUSH_SECONDS (60): the interval the EMF metrics are aggregated over
	XRaySampleRate    float64       // XRAY_SAMPLE_RATE (0.01): share of requests the long-running server traces beyond the reservoir
	XRayReservoir     int           // XRAY_RESERVOIR (1): requests per second the long-running server traces before the rate applies
	XRayDaemon        string        // AWS_XRAY_DAEMON_ADDRESS: X-Ray tracing on when set
	Lambda            bool          // AWS_LAMBDA_FUNCTION_NAME set: trace under the function's segment
	Admission         Admission     // ADMISSION, ACCOUNT_QUEUE, ...: overload protection (admission.go)
}

// Load reads the configuration; a malformed value is an error naming
// the variable.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Stage:          or(getenv("STAGE"), "dev"),
		Store:          or(getenv("STORE"), "dynamodb"),
		DynamoEndpoint: getenv("DYNAMODB_ENDPOINT"),
		Region:         getenv("AWS_REGION"),
		TableName:      or(getenv("TABLE_NAME"), DefaultTable),
		RoutePrefix:    strings.TrimSuffix(getenv("ROUTE_PREFIX"), "/"),
		AllowedOrigins: splitList(or(getenv("ALLOWED_ORIGINS"), "*")),
	}
	e := &env{getenv: getenv}
	c.Port = e.num("PORT", 3000)
	c.MaxStreams = e.num("MAX_STREAMS", lease.DefaultMaxStreams)
	c.LeaseTTL = time.Duration(e.num("LEASE_TTL_SECONDS", int(lease.DefaultLeaseTTL/time.Second))) * time.Second
	c.HeartbeatInterval = time.Duration(e.num("HEARTBEAT_INTERVAL_SECONDS", int(lease.DefaultHeartbeatInterval/time.Second))) * time.Second
	c.StoreTimeout = time.Duration(e.num("STORE_TIMEOUT_MS", 1500)) * time.Millisecond
	c.loadAdmission(e)
	c.loadControls(e)
	c.loadObserve(e)
	c.loadIdentity(e)
	e.retired()
	c.loadOutage(e)
	c.loadHeartbeat(e)
	c.CreateTable = e.flag("CREATE_TABLE")
	if c.Store != "dynamodb" && c.Store != "memory" {
		e.bad("STORE=%q is not dynamodb or memory", c.Store)
	}
	if len(e.errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(e.errs, "; "))
	}
	return c, nil
}

// Prefix is the route prefix, decided by one rule for every binary:
// ROUTE_PREFIX when set; otherwise none in Lambda (an HTTP API's $default
// stage puts no stage in the path); otherwise /STAGE (the local server:
// /dev by default).
func (c Config) Prefix() string {
	switch {
	case c.RoutePrefix != "":
		return c.RoutePrefix
	case c.Lambda || c.Stage == "":
		return ""
	}
	return "/" + c.Stage
}

// LeaseOptions are the lease.Service options the configuration asks for;
// every binary that builds a lease.Service uses them, so they cannot drift.
func (c Config) LeaseOptions() []lease.Option {
	return append([]lease.Option{
		lease.WithMaxStreams(c.MaxStreams),
		lease.WithLeaseTTL(c.LeaseTTL),
		lease.WithHeartbeatInterval(c.HeartbeatInterval),
		lease.WithPolicy(c.policy()),
		lease.WithEvictCooldown(c.EvictCooldown),
		lease.WithFailOpen(c.FailOpen),
	}, append(c.heartbeatOptions(), c.overloadOptions()...)...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
