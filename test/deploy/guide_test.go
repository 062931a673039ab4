package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployGuideCoversTemplate: docs/DEPLOY.md has a row for every
// parameter of serverless.yml and names every alarm of the packaged
// template in its "Alarms" section (what it means, what to do).
func TestDeployGuideCoversTemplate(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile(filepath.Join(repoRoot, "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	yml, err := os.ReadFile(filepath.Join(repoRoot, "serverless.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var sls struct {
		Params map[string]map[string]any `yaml:"params"`
	}
	if err := yaml.Unmarshal(yml, &sls); err != nil {
		t.Fatal(err)
	}
	if len(sls.Params["default"]) == 0 {
		t.Fatal("serverless.yml has no params.default")
	}
	for name := range sls.Params["default"] {
		if !strings.Contains(string(guide), "\n| `"+name+"` |") {
			t.Errorf("docs/DEPLOY.md has no parameter row for %s", name)
		}
	}

	_, alarmsSection, ok := strings.Cut(string(guide), "\n## Alarms\n")
	if !ok {
		t.Fatal(`docs/DEPLOY.md has no "## Alarms" section`)
	}
	alarmsSection, _, _ = strings.Cut(alarmsSection, "\n## ")
	tpl := decode(t, readPackaged(t, filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json")))
	stage, _ := envOf(t, tpl, "ApiLambdaFunction")["STAGE"].(string)
	var names []string
	for id, r := range tpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		full, _ := r["Properties"].(map[string]any)["AlarmName"].(string)
		name, ok := strings.CutPrefix(full, "streamlimit-"+stage+"-")
		if !ok {
			t.Errorf("alarm %s: AlarmName %q is not streamlimit-%s-<name>", id, full, stage)
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		t.Fatal("the packaged template has no alarms")
	}
	slices.Sort(names)
	for _, name := range names {
		if !strings.Contains(alarmsSection, "| `"+name+"`") && !strings.Contains(alarmsSection, ", `"+name+"`") {
			t.Errorf("docs/DEPLOY.md, Alarms: no row for %s", name)
		}
	}
}
