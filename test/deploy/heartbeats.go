package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// MaxLeaseTTL is the longest lease TTL a deployment may have: a crashed
// player's slot must be free within it.
const MaxLeaseTTL = 100 * time.Second

// secretRef matches a CloudFormation dynamic reference to a whole Secrets
// Manager secret of the template, as render writes it.
var secretRef = regexp.MustCompile(`^\{\{resolve:secretsmanager:\{([A-Za-z0-9]+)\}\}\}$`)

// CheckHeartbeats checks what the service's functions (those with a
// TABLE_NAME) get for heartbeats:
//
//   - LEASE_TOKEN_KEY is a dynamic reference to an AWS::SecretsManager::Secret
//     of the template that generates at least lease.MinTokenKeyLen
//     characters (never a literal), the same for every function, so every
//     instance of both functions accepts the others' renewal tokens;
//   - their lease settings (config.Load, then lease.New) are valid: the
//     relation of TTL, interval and renew-below holds;
//   - the TTL is at most MaxLeaseTTL, and heartbeat skipping is on with at
//     least one skipped heartbeat per write (at most half write).
//
// Problems are returned in a stable order, each naming the resource.
func CheckHeartbeats(cfnJSON []byte) []string {
	var tpl struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(cfnJSON, &tpl); err != nil {
		return []string{fmt.Sprintf("template is not valid JSON: %v", err)}
	}
	c := &checker{}
	keys := map[string]bool{}
	functions := 0
	for _, id := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[id]
		vars := envVars(r.Properties)
		if r.Type != "AWS::Lambda::Function" || vars["TABLE_NAME"] == nil {
			continue
		}
		functions++
		key := render(vars["LEASE_TOKEN_KEY"])
		keys[key] = true
		m := secretRef.FindStringSubmatch(key)
		if m == nil {
			c.addf("function %s: LEASE_TOKEN_KEY is %s, want {{resolve:secretsmanager:<secret of this template>}}", id, key)
		} else {
			c.checkKeySecret(id, m[1], tpl.Resources[m[1]])
		}
		c.checkLeaseSettings(id, vars)
	}
	if functions == 0 {
		c.addf("no AWS::Lambda::Function with a TABLE_NAME")
	}
	if len(keys) > 1 {
		c.addf("the functions have %d different LEASE_TOKEN_KEYs, want one: %s", len(keys), strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
	}
	return c.problems
}

// checkKeySecret checks the secret a function's LEASE_TOKEN_KEY resolves.
func (c *checker) checkKeySecret(fn, id string, r resource) {
	if r.Type != "AWS::SecretsManager::Secret" {
		c.addf("function %s: LEASE_TOKEN_KEY resolves %s, which is no AWS::SecretsManager::Secret of the template", fn, id)
		return
	}
	if _, ok := r.Properties["SecretString"]; ok {
		c.addf("secret %s: a literal SecretString, want a generated one (GenerateSecretString)", id)
	}
	gen, _ := r.Properties["GenerateSecretString"].(map[string]any)
	n, _ := gen["PasswordLength"].(float64)
	switch {
	case gen == nil:
		c.addf("secret %s: no GenerateSecretString", id)
	case gen["GenerateStringKey"] != nil || gen["SecretStringTemplate"] != nil:
		c.addf("secret %s: generates a JSON document, want the key itself", id)
	case n < lease.MinTokenKeyLen:
		c.addf("secret %s: PasswordLength %v, want at least %d", id, gen["PasswordLength"], lease.MinTokenKeyLen)
	}
}

// checkLeaseSettings builds the lease service a function's environment
// asks for and checks its heartbeat settings.
func (c *checker) checkLeaseSettings(fn string, vars map[string]any) {
	env := map[string]string{"LEASE_TOKEN_KEY": strings.Repeat("k", lease.MinTokenKeyLen)}
	for k, v := range vars {
		if s, ok := v.(string); ok {
			env[k] = s
		}
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		c.addf("function %s: %v", fn, err)
		return
	}
	svc, err := lease.New(memstore.New(), cfg.LeaseOptions()...)
	if err != nil {
		c.addf("function %s: the service would not start: %v", fn, err)
		return
	}
	ttl, interval, below := svc.LeaseTTL(), svc.HeartbeatInterval(), svc.RenewBelow()
	if ttl > MaxLeaseTTL {
		c.addf("function %s: lease TTL %v, want at most %v (a crashed player's slot frees after it)", fn, ttl, MaxLeaseTTL)
	}
	if below == 0 || (ttl-below)/interval < 1 {
		c.addf("function %s: TTL %v, interval %v, renew-below %v skip no heartbeat's write; want at least one skipped per write", fn, ttl, interval, below)
	}
}
