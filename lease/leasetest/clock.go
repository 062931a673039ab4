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

// NewClock returns a clock set one hour after the current time, at the
// millisecond precision the service reads clocks at (lease.Service truncates
// every reading to what stores keep). A finer clock made the suite's
// expectations (now+TTL, time left on a token) disagree with the service's by
// up to a millisecond: about one run in a thousand, when the reading fell just
// after a whole second, a grant's expiry rounded up to that second looked
// early.
func NewClock() *Clock { return &Clock{now: time.Now().Add(time.Hour).Truncate(time.Millisecond)} }

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
