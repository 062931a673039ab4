package leasetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// Op names a Store write a Gate can hold back.
type Op string

// The writes a Gate can hold: each is called by the Service after it has
// read its clock, so holding one is a write that arrives late.
const (
	OpRenew   Op = "Renew"
	OpRelease Op = "Release"
	OpCommit  Op = "Commit"
	OpRevoke  Op = "Revoke"
)

// Gate wraps a lease.Store and holds back chosen writes: after Hold(op),
// the next call of op stops before it reaches the store and is handed to
// the test as a Pending, which lets it through later (a delayed write:
// slow network, GC pause) and, if asked, twice (an SDK retry after a lost
// answer). Calls not held pass straight through. Safe for concurrent use.
type Gate struct {
	lease.Store
	mu       sync.Mutex
	armed    map[Op]int
	captured chan *Pending
}

// Pending is one held write.
type Pending struct {
	// Op and UID say which write is held.
	Op  Op
	UID string
	run chan int
	// done is closed once the write has reached the store.
	done chan struct{}
}

// Apply lets the held write through, times times in a row (2: duplicated),
// and waits until it has reached the store. The caller's answer is the
// last application's.
func (p *Pending) Apply(times int) {
	p.run <- times
	<-p.done
}

// NewGate wraps s.
func NewGate(s lease.Store) *Gate {
	return &Gate{Store: s, armed: map[Op]int{}, captured: make(chan *Pending, 64)}
}

// Hold makes the next call of op wait for Pending.Apply.
func (g *Gate) Hold(op Op) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed[op]++
}

// Disarm cancels holds that no call has taken yet.
func (g *Gate) Disarm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.armed)
}

// Held returns the next held write, waiting for it at most wait; nil if
// none arrived.
func (g *Gate) Held(wait time.Duration) *Pending {
	select {
	case p := <-g.captured:
		return p
	case <-time.After(wait):
		return nil
	}
}

// Captured delivers each held write as it is held.
func (g *Gate) Captured() <-chan *Pending { return g.captured }

// MustHold returns the next held write or fails the test.
func (g *Gate) MustHold(tb testing.TB, op Op) *Pending {
	tb.Helper()
	p := g.Held(10 * time.Second)
	if p == nil || p.Op != op {
		tb.Fatalf("no %s was held (got %+v)", op, p)
	}
	return p
}

func (g *Gate) capture(op Op, uid string) *Pending {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.armed[op] == 0 {
		return nil
	}
	g.armed[op]--
	p := &Pending{Op: op, UID: uid, run: make(chan int), done: make(chan struct{})}
	g.captured <- p
	return p
}

// through runs call once, or as often as the test's Apply says when the
// call is held.
func through[T any](g *Gate, op Op, uid string, call func() (T, error)) (T, error) {
	p := g.capture(op, uid)
	if p == nil {
		return call()
	}
	n := <-p.run
	defer close(p.done)
	var v T
	var err error
	for range max(n, 1) {
		v, err = call()
	}
	return v, err
}

// Renew implements lease.Store.
func (g *Gate) Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (lease.Lease, error) {
	return through(g, OpRenew, uid, func() (lease.Lease, error) { return g.Store.Renew(ctx, uid, leaseID, now, expiresAt) })
}

// Release implements lease.Store.
func (g *Gate) Release(ctx context.Context, uid, leaseID string, now time.Time) (bool, error) {
	return through(g, OpRelease, uid, func() (bool, error) { return g.Store.Release(ctx, uid, leaseID, now) })
}

// Commit implements lease.Store.
func (g *Gate) Commit(ctx context.Context, uid string, c lease.Change) error {
	_, err := through(g, OpCommit, uid, func() (struct{}, error) { return struct{}{}, g.Store.Commit(ctx, uid, c) })
	return err
}

// Revoke implements lease.Store.
func (g *Gate) Revoke(ctx context.Context, uid string, rs []lease.Revocation) error {
	_, err := through(g, OpRevoke, uid, func() (struct{}, error) { return struct{}{}, g.Store.Revoke(ctx, uid, rs) })
	return err
}
