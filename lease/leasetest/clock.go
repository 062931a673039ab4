// Package leasetest is the conformance suite every lease.Store runs, plus
// helpers for tests that drive a lease.Service.
package leasetest

import (
	"sync"
	"time"
)

// Clock is a manual clock for lease.WithClock. It starts at the real time of
// its creation and only moves forward when told to, so against DynamoDB Local
// it is never behind real time: DynamoDB Local's TTL sweeper (which deletes
// items whose expiresAt is behind real time) can then only remove leases the
// service already treats as expired.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to the current time.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
