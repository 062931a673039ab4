package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/test/deploy"
)

// deployerPolicy is the deployer's IAM policy that docs/DEPLOY.md gives.
var deployerPolicy = filepath.Join(repoRoot, "docs", "deployer-policy.json")

// TestDeployerPolicyCoversPackagedTemplates: the deployer's policy allows
// what CloudFormation and Serverless need for every resource type of both
// packaged templates (required under SLS_PACKAGED=1).
func TestDeployerPolicyCoversPackagedTemplates(t *testing.T) {
	t.Parallel()
	policy, err := os.ReadFile(deployerPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var templates [][]byte
	for _, p := range []string{
		filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json"),
		filepath.Join(repoRoot, ".serverless", "with-params", "cloudformation-template-update-stack.json"),
		filepath.Join(repoRoot, ".serverless", "url", "cloudformation-template-update-stack.json"),
	} {
		templates = append(templates, readPackaged(t, p))
	}
	if problems := deploy.CheckDeployerPolicy(policy, templates...); len(problems) > 0 {
		t.Errorf("%s:\n%s", deployerPolicy, strings.Join(problems, "\n"))
	}
}

// TestCheckDeployerPolicyDefects: a resource type of a service the policy
// does not cover, a type not in the table, an action removed, a wildcard
// and table deletion are each reported.
func TestCheckDeployerPolicyDefects(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(deployerPolicy)
	if err != nil {
		t.Fatal(err)
	}
	template := func(types ...string) []byte {
		tpl := map[string]any{"Resources": map[string]any{}}
		for i, ty := range types {
			tpl["Resources"].(map[string]any)["R"+string(rune('a'+i))] = map[string]any{"Type": ty}
		}
		return marshal(t, tpl)
	}
	base := []string{"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::S3::Bucket"}
	if p := deploy.CheckDeployerPolicy(good, template(base...)); len(p) > 0 {
		t.Fatalf("good policy: %v", p)
	}
	for _, tc := range []struct {
		name   string
		policy string
		types  []string
		want   string
	}{
		{"an SNS topic in the stack", string(good), append(slices.Clone(base), "AWS::SNS::Topic"), "resource type AWS::SNS::Topic: a service deploy.serviceOf does not know"},
		{"an unknown Lambda resource in the stack", string(good), append(slices.Clone(base), "AWS::Lambda::LayerVersion"), "resource type AWS::Lambda::LayerVersion: not in deploy.ResourceTypeActions"},
		{"no UpdateTimeToLive", strings.Replace(string(good), `"dynamodb:UpdateTimeToLive"`, `"dynamodb:DescribeTable"`, 1), base, "the policy does not allow dynamodb:UpdateTimeToLive"},
		{"no change sets", strings.Replace(string(good), `"cloudformation:ExecuteChangeSet",`, ``, 1), base, "the policy does not allow cloudformation:ExecuteChangeSet"},
		{"lambda wildcard", strings.Replace(string(good), `"lambda:AddPermission",`, `"lambda:*",`, 1), base, `action "lambda:*" allows a whole service`},
		{"table deletion", strings.Replace(string(good), `"dynamodb:CreateTable",`, `"dynamodb:CreateTable", "dynamodb:DeleteTable",`, 1), base, "allows dynamodb:DeleteTable"},
		{"no lambda actions", strings.ReplaceAll(string(good), `"lambda:`, `"lambdax:`), base, "resource type AWS::Lambda::Function: the policy grants no action of its service (lambda)"},
	} {
		problems := deploy.CheckDeployerPolicy([]byte(tc.policy), template(tc.types...))
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, problems, tc.want)
		}
	}
}
