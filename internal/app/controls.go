package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
)

// Identity and admin modes.
const (
	AuthNone     = "none"  // AUTH_MODE: anyone who knows a uid acts for it
	AuthJWT      = "jwt"   // AUTH_MODE: the uid must be the JWT's claim
	AdminByToken = "token" // ADMIN_AUTH: Authorization: Bearer $ADMIN_TOKEN
	AdminByIAM   = "iam"   // ADMIN_AUTH: API Gateway IAM authorization (Lambda)
)

// MinAdminTokenLen is the shortest ADMIN_TOKEN accepted.
const MinAdminTokenLen = 16

// Gateway reads, from a request's context, what API Gateway verified before
// the function ran. cmd/api fills it from the payload 2.0 event.
type Gateway struct {
	// JWTClaims returns the claims of the route's JWT authorizer.
	JWTClaims auth.ClaimsFunc
	// IAMCaller returns the IAM principal of an IAM-authorized route.
	IAMCaller auth.CallerFunc
}

// loadControls reads the account-control and identity settings; it returns
// one message per malformed variable.
func (c *Config) loadControls(getenv func(string) string, num func(string, int) int) []string {
	var errs []string
	c.Policy = lease.Policy(or(getenv("AT_LIMIT_POLICY"), string(lease.PolicyBlockNew)))
	if !c.Policy.Valid() {
		errs = append(errs, fmt.Sprintf("AT_LIMIT_POLICY=%q is not block_new or evict_oldest", c.Policy))
	}
	c.EvictCooldown = time.Duration(num("EVICT_COOLDOWN_SECONDS", int(lease.DefaultEvictCooldown/time.Second))) * time.Second
	c.AuthMode = strings.ToLower(or(getenv("AUTH_MODE"), AuthNone))
	if c.AuthMode != AuthNone && c.AuthMode != AuthJWT {
		errs = append(errs, fmt.Sprintf("AUTH_MODE=%q is not none or jwt", c.AuthMode))
	}
	c.JWTUIDClaim = or(getenv("JWT_UID_CLAIM"), "sub")
	c.JWTSecret = getenv("JWT_HS256_SECRET")
	if c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretBytes {
		errs = append(errs, fmt.Sprintf("JWT_HS256_SECRET has %d bytes; want at least %d", len(c.JWTSecret), auth.MinSecretBytes))
	}
	c.AdminAuth = strings.ToLower(or(getenv("ADMIN_AUTH"), AdminByToken))
	if c.AdminAuth != AdminByToken && c.AdminAuth != AdminByIAM {
		errs = append(errs, fmt.Sprintf("ADMIN_AUTH=%q is not token or iam", c.AdminAuth))
	}
	c.AdminToken = getenv("ADMIN_TOKEN")
	if c.AdminToken != "" && len(c.AdminToken) < MinAdminTokenLen {
		errs = append(errs, fmt.Sprintf("ADMIN_TOKEN has %d characters; want at least %d", len(c.AdminToken), MinAdminTokenLen))
	}
	return errs
}

// policy is the default at-limit policy (block_new when unset).
func (c Config) policy() lease.Policy {
	if c.Policy == "" {
		return lease.PolicyBlockNew
	}
	return c.Policy
}

// access returns the identity check and the admin check of the HTTP API.
func (c Config) access() (auth.Identity, auth.AdminAuth, error) {
	var g Gateway
	if c.Gateway != nil {
		g = *c.Gateway
	}
	var id auth.Identity
	switch {
	case c.AuthMode != AuthJWT:
	case c.JWTSecret != "":
		var err error
		if id, err = auth.HS256([]byte(c.JWTSecret), c.JWTUIDClaim, nil); err != nil {
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
	case g.JWTClaims != nil:
		id = auth.GatewayClaims(c.JWTUIDClaim, g.JWTClaims)
	default:
		return nil, nil, fmt.Errorf("configuration: AUTH_MODE=jwt needs JWT_HS256_SECRET outside Lambda (%w)", auth.ErrNoGateway)
	}
	if c.AdminAuth == AdminByIAM {
		if g.IAMCaller == nil {
			return nil, nil, fmt.Errorf("configuration: ADMIN_AUTH=iam: %w; use ADMIN_AUTH=token with ADMIN_TOKEN", auth.ErrNoGateway)
		}
		return id, auth.GatewayIAM(g.IAMCaller), nil
	}
	return id, auth.AdminToken(c.AdminToken), nil
}
