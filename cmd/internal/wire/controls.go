package wire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/config"
)

// Gateway reads, from a request's context, what API Gateway verified before
// the function ran. cmd/api fills it from the payload 2.0 event.
type Gateway struct {
	// IAMCaller returns the IAM principal of an IAM-authorized route.
	IAMCaller auth.CallerFunc
}

// Access returns the player identity check (nil with AUTH_MODE=none: a
// JWKS verifier otherwise, the same in Lambda and locally) and the admin
// check a configuration asks for; gw reads what API Gateway verified (nil
// outside Lambda). ctx ends the verifier's key set refreshes.
func Access(ctx context.Context, c config.Config, gw *Gateway, log *slog.Logger) (auth.Verifier, auth.AdminAuth, error) {
	id, err := auth.NewVerifier(ctx, c.JWKS(log))
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	if c.AdminAuth == config.AdminByIAM {
		if gw == nil || gw.IAMCaller == nil {
			return nil, nil, fmt.Errorf("configuration: ADMIN_AUTH=iam: %w; use ADMIN_AUTH=token with ADMIN_TOKEN", auth.ErrNoGateway)
		}
		return id, auth.GatewayIAM(gw.IAMCaller), nil
	}
	return id, auth.AdminToken(c.AdminToken), nil
}
