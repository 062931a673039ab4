package wire

import (
	"fmt"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/config"
)

// Gateway reads, from a request's context, what API Gateway verified before
// the function ran. cmd/api fills it from the payload 2.0 event.
type Gateway struct {
	// JWTClaims returns the claims of the route's JWT authorizer.
	JWTClaims auth.ClaimsFunc
	// IAMCaller returns the IAM principal of an IAM-authorized route.
	IAMCaller auth.CallerFunc
}

// Access returns the identity check and the admin check a configuration
// asks for; gw reads what API Gateway verified (nil outside Lambda).
func Access(c config.Config, gw *Gateway) (auth.Identity, auth.AdminAuth, error) {
	var g Gateway
	if gw != nil {
		g = *gw
	}
	var id auth.Identity
	switch {
	case c.AuthMode != config.AuthJWT:
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
	if c.AdminAuth == config.AdminByIAM {
		if g.IAMCaller == nil {
			return nil, nil, fmt.Errorf("configuration: ADMIN_AUTH=iam: %w; use ADMIN_AUTH=token with ADMIN_TOKEN", auth.ErrNoGateway)
		}
		return id, auth.GatewayIAM(g.IAMCaller), nil
	}
	return id, auth.AdminToken(c.AdminToken), nil
}
