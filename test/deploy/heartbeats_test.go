package deploy_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/test/deploy"
)

// heartbeatTemplate is the part of a packaged template CheckHeartbeats
// reads: two service functions sharing one generated key.
func heartbeatTemplate() map[string]any {
	fn := func() map[string]any {
		return map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{"Environment": map[string]any{"Variables": map[string]any{
			"TABLE_NAME":                 map[string]any{"Ref": "ConcurrencyTable"},
			"LEASE_TTL_SECONDS":          "100",
			"HEARTBEAT_INTERVAL_SECONDS": "30",
			"LEASE_TOKEN_KEY":            map[string]any{"Fn::Join": []any{"", []any{"{{resolve:secretsmanager:", map[string]any{"Ref": "LeaseTokenKey"}, "}}"}}},
		}}}}
	}
	return map[string]any{"Resources": map[string]any{
		"ApiLambdaFunction": fn(),
		"WsLambdaFunction":  fn(),
		"LeaseTokenKey": map[string]any{"Type": "AWS::SecretsManager::Secret", "Properties": map[string]any{
			"GenerateSecretString": map[string]any{"PasswordLength": 64, "ExcludePunctuation": true},
		}},
	}}
}

func TestCheckHeartbeats(t *testing.T) {
	t.Parallel()
	if problems := deploy.CheckHeartbeats(marshal(t, heartbeatTemplate())); len(problems) > 0 {
		t.Fatalf("good template: %v", problems)
	}
	vars := func(tpl map[string]any, fn string) map[string]any {
		f := tpl["Resources"].(map[string]any)[fn].(map[string]any)
		return f["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
	}
	secret := func(tpl map[string]any) map[string]any {
		return tpl["Resources"].(map[string]any)["LeaseTokenKey"].(map[string]any)["Properties"].(map[string]any)
	}
	for name, tc := range map[string]struct {
		mutate func(map[string]any)
		want   string
	}{
		"no key":          {func(t map[string]any) { delete(vars(t, "WsLambdaFunction"), "LEASE_TOKEN_KEY") }, "WsLambdaFunction: LEASE_TOKEN_KEY"},
		"literal key":     {func(t map[string]any) { vars(t, "ApiLambdaFunction")["LEASE_TOKEN_KEY"] = strings.Repeat("k", 40) }, "ApiLambdaFunction: LEASE_TOKEN_KEY"},
		"short secret":    {func(t map[string]any) { secret(t)["GenerateSecretString"].(map[string]any)["PasswordLength"] = 16 }, "PasswordLength 16"},
		"literal secret":  {func(t map[string]any) { secret(t)["SecretString"] = "hunter2" }, "literal SecretString"},
		"json secret":     {func(t map[string]any) { secret(t)["GenerateSecretString"].(map[string]any)["GenerateStringKey"] = "k" }, "JSON document"},
		"long TTL":        {func(t map[string]any) { vars(t, "ApiLambdaFunction")["LEASE_TTL_SECONDS"] = "120" }, "at most 1m40s"},
		"skipping off":    {func(t map[string]any) { vars(t, "ApiLambdaFunction")["RENEW_BELOW_SECONDS"] = "0" }, "skip no heartbeat"},
		"TTL leaves none": {func(t map[string]any) { vars(t, "ApiLambdaFunction")["LEASE_TTL_SECONDS"] = "90" }, "skip no heartbeat"},
		"bad renew-below": {func(t map[string]any) { vars(t, "WsLambdaFunction")["RENEW_BELOW_SECONDS"] = "50" }, "would not start"},
		"no service":      {func(t map[string]any) { t["Resources"] = map[string]any{} }, "no AWS::Lambda::Function"},
		"another resource": {func(t map[string]any) {
			t["Resources"].(map[string]any)["LeaseTokenKey"].(map[string]any)["Type"] = "AWS::SSM::Parameter"
		}, "no AWS::SecretsManager::Secret"},
	} {
		tpl := heartbeatTemplate()
		tc.mutate(tpl)
		problems := deploy.CheckHeartbeats(marshal(t, tpl))
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s: problems %q; want one containing %q", name, problems, tc.want)
		}
	}
}

// TestPackagedHeartbeats checks both templates scripts/sls-package.sh makes.
func TestPackagedHeartbeats(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json"),
		filepath.Join(repoRoot, ".serverless", "with-params", "cloudformation-template-update-stack.json"),
	} {
		if problems := deploy.CheckHeartbeats(readPackaged(t, path)); len(problems) > 0 {
			t.Errorf("%s:\n%s", path, strings.Join(problems, "\n"))
		}
	}
}
