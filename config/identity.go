package config

import (
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/auth"
)

// DefaultDevIssuerPort is DEV_ISSUER_PORT's default.
const DefaultDevIssuerPort = 3001

// loadIdentity reads the player identity settings. AUTH_MODE defaults to
// jwt in Lambda (a deployed function verifies tokens unless told
// otherwise, AUTH_MODE=none) and to none elsewhere. With jwt the token's
// issuer (JWKS_URL: https, or http to localhost), JWT_ISSUER and
// JWT_AUDIENCE are required, unless DEV_ISSUER=true (local server only)
// starts a local issuer that provides them.
func (c *Config) loadIdentity(e *env) {
	def := AuthNone
	if c.Lambda {
		def = AuthJWT
	}
	c.AuthMode = e.oneOf("AUTH_MODE", def, AuthNone, AuthJWT)
	c.JWTUIDClaim = or(e.getenv("JWT_UID_CLAIM"), "sub")
	c.JWKSURL = e.getenv("JWKS_URL")
	c.JWTIssuer = e.getenv("JWT_ISSUER")
	c.JWTAudience = e.getenv("JWT_AUDIENCE")
	c.JWKSRefresh = time.Duration(e.num("JWKS_REFRESH_SECONDS", int(auth.DefaultRefreshInterval/time.Second))) * time.Second
	if c.JWKSRefresh <= 0 {
		e.bad("JWKS_REFRESH_SECONDS must be at least 1")
	}
	c.DevIssuer = e.flag("DEV_ISSUER")
	c.DevIssuerPort = e.num("DEV_ISSUER_PORT", DefaultDevIssuerPort)
	if c.DevIssuer {
		switch {
		case c.Lambda:
			e.bad("DEV_ISSUER=true is for the local server only")
		case e.getenv("AUTH_MODE") != "" && c.AuthMode != AuthJWT:
			e.bad("DEV_ISSUER=true needs AUTH_MODE=jwt (or unset)")
		case c.JWKSURL != "" || c.JWTIssuer != "" || c.JWTAudience != "":
			e.bad("DEV_ISSUER=true provides JWKS_URL, JWT_ISSUER and JWT_AUDIENCE itself: unset them")
		}
		c.AuthMode = AuthJWT
		return
	}
	if c.AuthMode != AuthJWT {
		return
	}
	var missing []string
	for name, v := range map[string]string{"JWKS_URL": c.JWKSURL, "JWT_ISSUER": c.JWTIssuer, "JWT_AUDIENCE": c.JWTAudience} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		why := "AUTH_MODE=jwt"
		if e.getenv("AUTH_MODE") == "" {
			why = "in Lambda AUTH_MODE defaults to jwt, which"
		}
		e.bad("%s needs %s (the identity provider's key set, issuer and audience); AUTH_MODE=none turns identity off", why, strings.Join(missing, ", "))
		return
	}
	if err := auth.CheckJWKSURL(c.JWKSURL); err != nil {
		e.bad("JWKS_URL: %v", strings.TrimPrefix(err.Error(), "auth: "))
	}
}

// JWKS returns the token verifier's configuration, or nil when identity is
// off (AUTH_MODE=none); log receives failed fetches of the key set.
func (c Config) JWKS(log *slog.Logger) *auth.JWKSConfig {
	if c.AuthMode != AuthJWT {
		return nil
	}
	return &auth.JWKSConfig{URL: c.JWKSURL, Issuer: c.JWTIssuer, Audience: c.JWTAudience, UIDClaim: c.JWTUIDClaim,
		RefreshInterval: c.JWKSRefresh, Logger: log}
}
