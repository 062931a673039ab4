package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// defaultFailOpenSeconds is FAIL_OPEN_SECONDS when FAIL_OPEN is on.
const defaultFailOpenSeconds = 60

// loadOutage reads the outage policy: FAIL_OPEN (false: fail closed, 503
// with Retry-After) and FAIL_OPEN_SECONDS (how long a degraded lease lasts,
// 1 to 3600).
func (c *Config) loadOutage(getenv func(string) string, num func(string, int) int) []string {
	var errs []string
	on := false
	switch v := strings.ToLower(getenv("FAIL_OPEN")); v {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		on = true
	default:
		errs = append(errs, fmt.Sprintf("FAIL_OPEN=%q is not true or false", v))
	}
	secs := num("FAIL_OPEN_SECONDS", defaultFailOpenSeconds)
	if d := time.Duration(secs) * time.Second; secs < 1 || d > lease.MaxFailOpen {
		errs = append(errs, fmt.Sprintf("FAIL_OPEN_SECONDS=%d is not between 1 and %d", secs, int(lease.MaxFailOpen/time.Second)))
	} else if on {
		c.FailOpen = d
	}
	return errs
}
