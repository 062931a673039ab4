package config_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/config"
)

// TestREADMEConfigurationTable: the README's configuration table (section
// "Configuration") documents every variable config.Load reads, and none
// that it refuses as retired. A merge once put back the table of an older
// identity design (JWT_HS256_SECRET, which the start refuses; no
// JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, JWKS_REFRESH_SECONDS, DEV_ISSUER):
// users who followed it could not start the server.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	documented := readmeVariables(t)
	read := map[string]bool{}
	for _, env := range []map[string]string{nil, {"AWS_LAMBDA_FUNCTION_NAME": "api"}, {"DEV_ISSUER": "true"}} {
		_, _ = config.Load(func(k string) string { read[k] = true; return env[k] })
	}
	// Set by the platform, not by whoever deploys.
	platform := map[string]bool{"AWS_LAMBDA_FUNCTION_NAME": true, "AWS_XRAY_DAEMON_ADDRESS": true}
	retired := map[string]bool{}
	for _, r := range config.Retired {
		retired[r.Name] = true
		if documented[r.Name] {
			t.Errorf("the README documents %s, which the start refuses (%s)", r.Name, r.Instead)
		}
	}
	var missing []string
	for k := range read {
		if !documented[k] && !platform[k] && !retired[k] {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("config.Load reads %v, which the README's configuration table does not document", missing)
	}
	if len(read) < 30 {
		t.Fatalf("recorded only %d variables read by config.Load: the recording is broken", len(read))
	}
}

// readmeVariables returns the variables named in the first column of the
// README's configuration table.
func readmeVariables(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Configuration\n")
	if start < 0 {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	names := map[string]bool{}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			names[m[1]] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d variables in the README's configuration table", len(names))
	}
	return names
}
