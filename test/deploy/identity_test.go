package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/test/deploy"
)

// The identity providers scripts/sls-package.sh packages with (keep both
// in step).
var (
	defaultIdentity = deploy.IdentityEnv{AuthMode: "jwt", JWKSURL: "https://idp.example.com/.well-known/jwks.json",
		Issuer: "https://idp.example.com/", Audience: "streamlimit", UIDClaim: "sub"}
	paramsIdentity = deploy.IdentityEnv{AuthMode: "jwt", JWKSURL: "https://login.example.org/keys",
		Issuer: "https://login.example.org", Audience: "api://streamlimit", UIDClaim: "uid"}
	insecureIdentity = deploy.IdentityEnv{AuthMode: "none", UIDClaim: "sub"}
)

// serviceFunctions are the functions that must carry the identity.
var serviceFunctions = []string{"ApiLambdaFunction", "WsLambdaFunction"}

// TestPackagedIdentity: the packaged templates verify player tokens in both
// functions with the provider the deployer named, and the opt-out template
// (insecureNoAuth=true) turns identity off in both, explicitly.
func TestPackagedIdentity(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dir  string
		want deploy.IdentityEnv
	}{
		{"", defaultIdentity},
		{"with-params", paramsIdentity},
		{"insecure-no-auth", insecureIdentity},
	} {
		path := filepath.Join(repoRoot, ".serverless", c.dir, "cloudformation-template-update-stack.json")
		b := readPackaged(t, path)
		fns, err := deploy.ServiceFunctions(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range serviceFunctions {
			if got, ok := fns[id]; !ok || got != c.want {
				t.Errorf("%s: function %s identity %+v, want %+v", path, id, got, c.want)
			}
		}
		p := deploy.CheckIdentity(b)
		if c.want.AuthMode == "jwt" && len(p) > 0 {
			t.Errorf("%s:\n%s", path, strings.Join(p, "\n"))
		}
		if c.want.AuthMode == "none" && len(p) != len(serviceFunctions) {
			t.Errorf("%s: CheckIdentity found %q; want one AUTH_MODE problem per function", path, p)
		}
		// Turning identity off changes nothing else.
		if problems := deploy.CheckTemplate(b); c.dir == "insecure-no-auth" && len(problems) > 0 {
			t.Errorf("%s:\n%s", path, strings.Join(problems, "\n"))
		}
	}
}

// TestPackagingNeedsIdentity: `serverless package` without the identity
// provider and without insecureNoAuth=true fails, saying what to set.
func TestPackagingNeedsIdentity(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot, ".serverless", "no-identity")
	status := strings.TrimSpace(string(readPackaged(t, filepath.Join(dir, "exit-status"))))
	log := string(readPackaged(t, filepath.Join(dir, "package.log")))
	if n, err := strconv.Atoi(status); err != nil || n == 0 {
		t.Errorf("serverless package without identity exited %q; want a failure. Its output:\n%s", status, log)
	}
	for _, want := range []string{"identity is required", `--param="jwksUrl=..."`, `--param="jwtIssuer=..."`, `--param="jwtAudience=..."`, `--param="insecureNoAuth=true"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the failure's output does not say %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "package", "cloudformation-template-update-stack.json")); err == nil {
		t.Error("a template was written anyway")
	}
}

// TestCheckIdentityDefects: one defect at a time in the packaged default
// template's identity, each reported.
func TestCheckIdentityDefects(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json")
	b := readPackaged(t, path)
	for _, c := range []struct {
		name   string
		fn     string
		change func(env map[string]any)
		want   string
	}{
		{"identity off", "ApiLambdaFunction", func(e map[string]any) { e["AUTH_MODE"] = "none" }, `AUTH_MODE is "none"`},
		{"no AUTH_MODE", "WsLambdaFunction", func(e map[string]any) { delete(e, "AUTH_MODE") }, `AUTH_MODE is ""`},
		{"plain-http key set", "WsLambdaFunction", func(e map[string]any) { e["JWKS_URL"] = "http://idp.example.com/jwks.json" }, "not an https URL"},
		{"no issuer", "ApiLambdaFunction", func(e map[string]any) { e["JWT_ISSUER"] = "" }, "want all three"},
		{"no audience", "ApiLambdaFunction", func(e map[string]any) { delete(e, "JWT_AUDIENCE") }, "want all three"},
		{"functions disagree", "WsLambdaFunction", func(e map[string]any) { e["JWT_AUDIENCE"] = "other" }, "differs from"},
	} {
		tpl := decode(t, b)
		c.change(envOf(t, tpl, c.fn))
		p := deploy.CheckIdentity(marshal(t, tpl))
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s: problems %q, want one containing %q", c.name, p, c.want)
		}
	}
	tpl := decode(t, b)
	delete(tpl["Resources"].(map[string]any), "WsLambdaFunction")
	if p := deploy.CheckIdentity(marshal(t, tpl)); len(p) == 0 {
		t.Error("a template without the ws function passed")
	}
}
