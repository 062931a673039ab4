package config

import (
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// loadHeartbeat reads the heartbeat-skipping settings: the renew-below
// threshold and the renewal-token keys.
func (c *Config) loadHeartbeat(e *env) {
	c.RenewBelow = -1 // lease.DefaultRenewBelow
	if e.getenv("RENEW_BELOW_SECONDS") != "" {
		c.RenewBelow = time.Duration(e.num("RENEW_BELOW_SECONDS", 0)) * time.Second
	}
	c.TokenKey = e.secret("LEASE_TOKEN_KEY", lease.MinTokenKeyLen, "bytes")
	c.PreviousTokenKey = e.secret("LEASE_TOKEN_KEY_PREVIOUS", lease.MinTokenKeyLen, "bytes")
	if c.PreviousTokenKey != "" && c.TokenKey == "" {
		e.bad("LEASE_TOKEN_KEY_PREVIOUS is set without LEASE_TOKEN_KEY")
	}
}

// heartbeatOptions are the lease options of loadHeartbeat's settings.
func (c Config) heartbeatOptions() []lease.Option {
	opts := []lease.Option{lease.WithRenewBelow(c.RenewBelow)}
	if c.TokenKey != "" {
		keys := [][]byte{}
		if c.PreviousTokenKey != "" {
			keys = append(keys, []byte(c.PreviousTokenKey))
		}
		opts = append(opts, lease.WithTokenKeys([]byte(c.TokenKey), keys...))
	}
	return opts
}

// RandomTokenKey reports that LEASE_TOKEN_KEY is not set: the lease
// service signs renewal tokens with a random key of its own process, so a
// token only skips a heartbeat's write on the instance that issued it
// (elsewhere the heartbeat writes: safe, but each costs a write). Binaries
// say so in their log at start.
func (c Config) RandomTokenKey() bool { return c.TokenKey == "" }

// RandomTokenKeyNote is what a binary logs when RandomTokenKey is true.
const RandomTokenKeyNote = "LEASE_TOKEN_KEY is not set: renewal tokens are signed with a random key of this process, " +
	"so instances that do not share it make every heartbeat they did not issue the token for a write"
