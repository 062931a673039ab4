package config

import (
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// defaultFailOpenSeconds is FAIL_OPEN_SECONDS when FAIL_OPEN is on.
const defaultFailOpenSeconds = 60

// loadOutage reads the outage policy: FAIL_OPEN (false: fail closed, 503
// with Retry-After) and FAIL_OPEN_SECONDS (how long a degraded lease lasts,
// 1 to 3600).
func (c *Config) loadOutage(e *env) {
	on := e.flag("FAIL_OPEN")
	secs := e.num("FAIL_OPEN_SECONDS", defaultFailOpenSeconds)
	if d := time.Duration(secs) * time.Second; secs < 1 || d > lease.MaxFailOpen {
		e.bad("FAIL_OPEN_SECONDS=%d is not between 1 and %d", secs, int(lease.MaxFailOpen/time.Second))
	} else if on {
		c.FailOpen = d
	}
}
