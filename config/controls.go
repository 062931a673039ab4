package config

import (
	"fmt"
	"strings"
	"time"

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
	if c.JWTSecret != "" && len(c.JWTSecret) < MinJWTSecretBytes {
		errs = append(errs, fmt.Sprintf("JWT_HS256_SECRET has %d bytes; want at least %d", len(c.JWTSecret), MinJWTSecretBytes))
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
