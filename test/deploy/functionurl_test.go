package deploy_test

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/internal/cost"
	"github.com/streamlimit/streamlimit/test/deploy"
)

// TestPackagedFunctionURL checks the template scripts/sls-package.sh makes
// with --param="gateway=url": the api function behind a Lambda Function URL
// (AuthType NONE, CORS on the URL, buffered) and behind no HTTP API; the
// admin routes behind a second function whose URL is AuthType AWS_IAM and
// never public; both with the same environment as the HTTP API shape
// (identity settings included), and every reference resolving.
func TestPackagedFunctionURL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, ".serverless", "url", "cloudformation-template-update-stack.json")
	b := readPackaged(t, path)
	if problems := deploy.CheckTemplate(b); len(problems) > 0 {
		t.Errorf("%s:\n%s", path, strings.Join(problems, "\n"))
	}
	tpl := decode(t, b)
	res := tpl["Resources"].(map[string]any)

	// The public URL of the api function.
	urls := map[string]map[string]any{} // target function -> URL properties
	for id, r := range res {
		r := r.(map[string]any)
		if r["Type"] != "AWS::Lambda::Url" {
			continue
		}
		p := r["Properties"].(map[string]any)
		target, _ := json.Marshal(p["TargetFunctionArn"])
		var ref struct {
			GetAtt []string `json:"Fn::GetAtt"`
		}
		if json.Unmarshal(target, &ref) != nil || len(ref.GetAtt) != 2 || ref.GetAtt[1] != "Arn" {
			t.Fatalf("%s: %s targets %s, want Fn::GetAtt of a function's Arn", path, id, target)
		}
		urls[ref.GetAtt[0]] = p
	}
	api := urls[deploy.APIFunctionLogicalID]
	if api == nil {
		t.Fatalf("%s: no AWS::Lambda::Url for %s (URLs: %v)", path, deploy.APIFunctionLogicalID, slices.Sorted(maps.Keys(urls)))
	}
	if api["AuthType"] != "NONE" || api["InvokeMode"] != "BUFFERED" {
		t.Errorf("%s: api URL AuthType %v, InvokeMode %v; want NONE, BUFFERED", path, api["AuthType"], api["InvokeMode"])
	}
	cors, _ := api["Cors"].(map[string]any)
	for key, want := range map[string][]string{
		"AllowOrigins": {"*"}, "AllowMethods": {"GET", "POST", "PUT", "DELETE"}, "AllowHeaders": {"Authorization", "Content-Type"},
	} {
		if got := strs(cors[key]); !slices.Equal(got, want) {
			t.Errorf("%s: api URL Cors.%s = %q, want %q", path, key, got, want)
		}
	}
	if !publicInvoke(res, deploy.APIFunctionLogicalID) {
		t.Errorf("%s: no lambda:InvokeFunctionUrl permission for everyone (FunctionUrlAuthType NONE) on the api function", path)
	}

	// No HTTP API: the only API Gateway API is the WebSocket one, and API
	// Gateway may not invoke the api function.
	for id, r := range res {
		r := r.(map[string]any)
		p, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::ApiGatewayV2::Api":
			if p["ProtocolType"] != "WEBSOCKET" {
				t.Errorf("%s: %s is a %v API; want no HTTP API", path, id, p["ProtocolType"])
			}
		case "AWS::ApiGatewayV2::Stage":
			if id == "HttpApiStage" {
				t.Errorf("%s: the HTTP API's stage is there", path)
			}
		case "AWS::Lambda::Permission":
			fn, _ := json.Marshal(p["FunctionName"])
			if strings.Contains(string(fn), deploy.APIFunctionLogicalID) && p["Principal"] == "apigateway.amazonaws.com" {
				t.Errorf("%s: %s lets API Gateway invoke the api function", path, id)
			}
		}
	}

	// The admin function: an AWS_IAM URL, nobody else may invoke it, and
	// it requires the IAM caller (ADMIN_AUTH=iam).
	var admin string
	for fn, u := range urls {
		if fn != deploy.APIFunctionLogicalID {
			if u["AuthType"] != "AWS_IAM" {
				t.Errorf("%s: %s's URL AuthType %v, want AWS_IAM", path, fn, u["AuthType"])
			}
			admin = fn
		}
	}
	if admin == "" || len(urls) != 2 {
		t.Fatalf("%s: URLs for %v; want the api function's and one admin function's", path, slices.Sorted(maps.Keys(urls)))
	}
	if publicInvoke(res, admin) {
		t.Errorf("%s: %s may be invoked by everyone", path, admin)
	}

	// Same environment as the HTTP API shape: identity (AUTH_MODE,
	// JWT_UID_CLAIM, and whatever the identity settings grow into) and the
	// admin check pass through unchanged, and the admin function has the
	// api function's.
	httpTpl := decode(t, readPackaged(t, filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json")))
	want := envOf(t, httpTpl, deploy.APIFunctionLogicalID)
	for _, fn := range []string{deploy.APIFunctionLogicalID, admin} {
		got := envOf(t, tpl, fn)
		if g, w := render(t, got), render(t, want); g != w {
			t.Errorf("%s: %s environment\n%s\nwant the HTTP API shape's\n%s", path, fn, g, w)
		}
		if got["AUTH_MODE"] == nil || got["JWT_UID_CLAIM"] == nil || got["ADMIN_AUTH"] != "iam" || got["ROUTE_PREFIX"] != "" {
			t.Errorf("%s: %s lacks the identity settings, ADMIN_AUTH=iam or the empty ROUTE_PREFIX: %v", path, fn, got)
		}
	}
	if lc := properties(t, tpl, admin)["LoggingConfig"]; lc == nil {
		t.Errorf("%s: %s has no LoggingConfig (JSON logs, system level WARN)", path, admin)
	}
	checkRetention(t, path, tpl, 30)

	// Every Ref, GetAtt and ${Name} of a Sub names something the template
	// has (no alarm or dashboard left pointing at the missing HttpApi).
	for _, name := range dangling(tpl) {
		t.Errorf("%s: refers to %q, which the template does not define", path, name)
	}
}

// TestDanglingCatchesHttpApi: the reference check finds a Ref and a Sub to
// a resource that is not there.
func TestDanglingCatchesHttpApi(t *testing.T) {
	t.Parallel()
	tpl := decode(t, []byte(`{"Parameters": {"P": {}}, "Resources": {
		"A": {"Type": "X", "Properties": {"Dim": {"Ref": "HttpApi"}, "B": {"Fn::GetAtt": ["B", "Arn"]}, "P": {"Ref": "P"}, "R": {"Ref": "AWS::Region"}}},
		"B": {"Type": "Y", "Properties": {"Body": {"Fn::Sub": "${AWS::Region} ${Gone} ${B.Arn} ${!Literal}"}}}}}`))
	if got := dangling(tpl); !slices.Equal(got, []string{"Gone", "HttpApi"}) {
		t.Errorf("dangling = %q, want [Gone HttpApi]", got)
	}
}

// publicInvoke reports whether the template lets everyone invoke fn's URL.
func publicInvoke(res map[string]any, fn string) bool {
	for _, r := range res {
		r := r.(map[string]any)
		p, _ := r["Properties"].(map[string]any)
		if r["Type"] != "AWS::Lambda::Permission" || p["Principal"] != "*" {
			continue
		}
		target, _ := json.Marshal(p["FunctionName"])
		if strings.Contains(string(target), `"`+fn+`"`) && p["FunctionUrlAuthType"] == "NONE" {
			return true
		}
	}
	return false
}

func strs(v any) []string {
	var out []string
	for _, x := range asAny(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func asAny(v any) []any {
	l, _ := v.([]any)
	return l
}

func render(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dangling returns the names that a template's Refs, GetAtts and Subs use
// but neither its resources nor its parameters define (pseudo parameters
// AWS::... aside), sorted.
func dangling(tpl map[string]any) []string {
	defined := map[string]bool{}
	for _, section := range []string{"Resources", "Parameters"} {
		m, _ := tpl[section].(map[string]any)
		for k := range m {
			defined[k] = true
		}
	}
	missing := map[string]bool{}
	use := func(name string) {
		name, _, _ = strings.Cut(name, ".")
		if !defined[name] && !strings.HasPrefix(name, "AWS::") {
			missing[name] = true
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				switch k {
				case "Ref":
					if s, ok := y.(string); ok {
						use(s)
					}
				case "Fn::GetAtt":
					if l := asAny(y); len(l) > 0 {
						s, _ := l[0].(string)
						use(s)
					}
				case "Fn::Sub":
					s, _ := y.(string)
					if l := asAny(y); len(l) > 0 {
						s, _ = l[0].(string) // [template, variables]: variables are local names
					}
					for _, part := range strings.Split(s, "${")[1:] {
						if name, _, ok := strings.Cut(part, "}"); ok && !strings.HasPrefix(name, "!") {
							use(name)
						}
					}
				}
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(tpl["Resources"])
	walk(tpl["Outputs"])
	return slices.Sorted(maps.Keys(missing))
}

// TestMemoryIsPriced: the functions' memory size in the packaged templates
// is the one the cost model prices by default (cost.DefaultMemoryMB), so the
// load tool's cost line and docs/BENCHMARKS.md describe what is deployed.
func TestMemoryIsPriced(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"", "url"} {
		path := filepath.Join(repoRoot, ".serverless", dir, "cloudformation-template-update-stack.json")
		tpl := decode(t, readPackaged(t, path))
		for id, r := range tpl["Resources"].(map[string]any) {
			r := r.(map[string]any)
			if r["Type"] != "AWS::Lambda::Function" {
				continue
			}
			if got := r["Properties"].(map[string]any)["MemorySize"]; got != float64(cost.DefaultMemoryMB) {
				t.Errorf("%s: %s MemorySize %v, want %d (cost.DefaultMemoryMB)", path, id, got, cost.DefaultMemoryMB)
			}
		}
	}
}
