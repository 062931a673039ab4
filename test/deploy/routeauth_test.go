package deploy_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/test/deploy"
)

// routeTemplate is a template with one route per key, authorized as given.
func routeTemplate(tb testing.TB, routes map[string]string) []byte {
	tb.Helper()
	res := map[string]any{}
	i := 0
	for key, auth := range routes {
		props := map[string]any{"ApiId": map[string]any{"Ref": "HttpApi"}, "RouteKey": key}
		if auth != "" {
			props["AuthorizationType"] = auth
		}
		res["Route"+string(rune('A'+i))] = map[string]any{"Type": "AWS::ApiGatewayV2::Route", "Properties": props}
		i++
	}
	return marshal(tb, map[string]any{"Resources": res})
}

func TestCheckAdminRoutes(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"GET /streams/{uid}":              "",
		"POST /streams/{uid}/end":         "",
		"$default":                        "",
		"PUT /admin/accounts/{uid}/limit": "AWS_IAM",
		"POST /admin/accounts/{uid}/sessions/{session}/revoke": "AWS_IAM",
	}
	if p := deploy.CheckAdminRoutes(routeTemplate(t, good)); len(p) > 0 {
		t.Fatalf("good routes: %q", p)
	}
	cases := []struct {
		name   string
		change func(map[string]string)
		want   string
	}{
		{"admin route without authorization", func(m map[string]string) { m["PUT /admin/accounts/{uid}/limit"] = "" }, "AuthorizationType NONE, want AWS_IAM"},
		{"admin route with a JWT authorizer", func(m map[string]string) { m["PUT /admin/accounts/{uid}/limit"] = "JWT" }, "AuthorizationType JWT, want AWS_IAM"},
		{"IAM on a player route", func(m map[string]string) { m["GET /streams/{uid}"] = "AWS_IAM" }, "AWS_IAM on a player route"},
		{"no admin route", func(m map[string]string) {
			delete(m, "PUT /admin/accounts/{uid}/limit")
			delete(m, "POST /admin/accounts/{uid}/sessions/{session}/revoke")
		}, "no admin route"},
	}
	for _, c := range cases {
		routes := map[string]string{}
		for k, v := range good {
			routes[k] = v
		}
		c.change(routes)
		p := deploy.CheckAdminRoutes(routeTemplate(t, routes))
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s: problems %q, want one containing %q", c.name, p, c.want)
		}
	}
	if p := deploy.CheckAdminRoutes([]byte("{")); len(p) != 1 {
		t.Errorf("not JSON: %q", p)
	}
}

// TestPackagedAdminRoutes checks the admin routes of the template that
// scripts/sls-package.sh makes: every one IAM-authorized, as serverless.yml
// declares them.
func TestPackagedAdminRoutes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv("SLS_PACKAGED") == "1" {
			t.Fatalf("SLS_PACKAGED=1 but %s does not exist: run scripts/sls-package.sh", path)
		}
		t.Skipf("%s does not exist: run scripts/sls-package.sh (set SLS_PACKAGED=1 to require it)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	if p := deploy.CheckAdminRoutes(b); len(p) > 0 {
		t.Errorf("%s:\n%s", path, strings.Join(p, "\n"))
	}
	routes, err := deploy.RouteAuthorizations(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"PUT /admin/accounts/{uid}/limit", "DELETE /admin/accounts/{uid}/limit",
		"PUT /admin/accounts/{uid}/policy", "DELETE /admin/accounts/{uid}/policy",
		"POST /admin/accounts/{uid}/sessions/{session}/revoke"} {
		if routes[key] != "AWS_IAM" {
			t.Errorf("route %s: %q, want AWS_IAM", key, routes[key])
		}
	}
}
