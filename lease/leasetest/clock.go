// Package leasetest is the conformance suite every lease.Store runs, plus
// helpers for tests that drive a lease.Service.
package leasetest

import (
	"sync"
	"time"
)

// Clock is a manual clock for lease.WithClock. It starts one hour ahead of
// real time and only moves forward when told to. DynamoDB Local's TTL
// sweeper deletes, within seconds, items whose expiresAt is behind real
// time; with the service's clock an hour ahead, it can only remove leases the
// service already treats as expired, and a test may run (or advance the
// clock past a lease's expiry) without DynamoDB Local deleting what the test
// still looks at, as long as the test lasts less than an hour.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set one hour after the current time.
func NewClock() *Clock { return &Clock{now: time.Now().Add(time.Hour)} }

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
