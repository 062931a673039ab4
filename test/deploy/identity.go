package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// IdentityEnv is the player identity configuration of one function.
type IdentityEnv struct {
	AuthMode, JWKSURL, Issuer, Audience, UIDClaim string
}

// ServiceFunctions returns the identity configuration of every
// AWS::Lambda::Function that serves the API (it has TABLE_NAME in its
// environment: the api and ws functions), by logical id.
func ServiceFunctions(cfnJSON []byte) (map[string]IdentityEnv, error) {
	var tpl struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(cfnJSON, &tpl); err != nil {
		return nil, fmt.Errorf("template is not valid JSON: %w", err)
	}
	out := map[string]IdentityEnv{}
	for id, r := range tpl.Resources {
		env := envVars(r.Properties)
		if _, ok := env["TABLE_NAME"]; r.Type != "AWS::Lambda::Function" || !ok {
			continue
		}
		out[id] = IdentityEnv{
			AuthMode: str(env["AUTH_MODE"]), JWKSURL: str(env["JWKS_URL"]), Issuer: str(env["JWT_ISSUER"]),
			Audience: str(env["JWT_AUDIENCE"]), UIDClaim: str(env["JWT_UID_CLAIM"]),
		}
	}
	return out, nil
}

// CheckIdentity returns the problems with the player identity of a template
// deployed with identity on (the default): there must be service functions
// (api and ws), and each must verify tokens itself (AUTH_MODE=jwt) against
// an https key set, with an issuer, an audience and a uid claim, the same
// for all of them.
func CheckIdentity(cfnJSON []byte) []string {
	fns, err := ServiceFunctions(cfnJSON)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if len(fns) < 2 {
		problems = append(problems, fmt.Sprintf("%d service functions (with TABLE_NAME), want the api and ws functions", len(fns)))
	}
	ids := slices.Sorted(maps.Keys(fns))
	for _, id := range ids {
		e := fns[id]
		switch {
		case e.AuthMode != "jwt":
			problems = append(problems, fmt.Sprintf("function %s: AUTH_MODE is %q, want jwt (identity on)", id, e.AuthMode))
		case !strings.HasPrefix(e.JWKSURL, "https://"):
			problems = append(problems, fmt.Sprintf("function %s: JWKS_URL %q is not an https URL", id, e.JWKSURL))
		case e.Issuer == "" || e.Audience == "" || e.UIDClaim == "":
			problems = append(problems, fmt.Sprintf("function %s: JWT_ISSUER %q, JWT_AUDIENCE %q, JWT_UID_CLAIM %q: want all three", id, e.Issuer, e.Audience, e.UIDClaim))
		}
		if e != fns[ids[0]] {
			problems = append(problems, fmt.Sprintf("function %s: identity %+v differs from %s's %+v", id, e, ids[0], fns[ids[0]]))
		}
	}
	return problems
}
