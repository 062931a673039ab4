package config

import (
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

// loadControls reads the account-control and admin settings (identity:
// loadIdentity).
func (c *Config) loadControls(e *env) {
	c.Policy = lease.Policy(or(e.getenv("AT_LIMIT_POLICY"), string(lease.PolicyBlockNew)))
	if !c.Policy.Valid() {
		e.bad("AT_LIMIT_POLICY=%q is not block_new or evict_oldest", c.Policy)
	}
	c.EvictCooldown = time.Duration(e.num("EVICT_COOLDOWN_SECONDS", int(lease.DefaultEvictCooldown/time.Second))) * time.Second
	c.AdminAuth = e.oneOf("ADMIN_AUTH", AdminByToken, AdminByToken, AdminByIAM)
	c.AdminToken = e.secret("ADMIN_TOKEN", MinAdminTokenLen, "characters")
}

// policy is the default at-limit policy (block_new when unset).
func (c Config) policy() lease.Policy {
	if c.Policy == "" {
		return lease.PolicyBlockNew
	}
	return c.Policy
}
