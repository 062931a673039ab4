package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// WithAccountQueue makes the CanStream calls of one account in this process
// take turns instead of racing each other through the store: only one of
// them at a time reads and writes the account, so at most one transaction
// per account is in flight from this process, and none of them loses a
// race to another caller of the same process. A caller that waited reuses
// the account as the previous caller left it — the state its committed
// write produced, or the fresh read it made — instead of reading it again,
// when that state was read or written after the waiting caller arrived (so
// an answer based on it reflects a moment within the call, as a read of
// its own would). With 100 simultaneous calls for one account of limit 3,
// that is one read and three transactions in all; the other 97 are refused
// from memory in microseconds.
//
// The bound does not rest on it: every grant is still one version-guarded
// write, so callers in other processes (other Lambda instances, servers)
// race as before and a stale reuse only costs a conflict, after which the
// account is read again. A caller whose context ends while it waits for its
// turn fails with ErrContention without touching the store (never fail-open:
// the store did not fail, another call of the account is in progress).
func WithAccountQueue(on bool) Option { return func(s *Service) { s.queue.on = on } }

// WithCommitGuard keeps leases from standing behind failed answers, as
// far as the store allows:
//
//   - Before each grant's transaction, if the request's context has less
//     time left than this process's measured p99 for such a write (over
//     the writes answered in the last 2 s, at least 8 of them), the write
//     is not sent and CanStream fails with ErrContention. A write sent that
//     late would most likely land after the caller gave up: a lease nobody
//     was told about, holding a slot for a whole TTL. Nothing was written;
//     the caller retries.
//   - A plain grant's write (no lease revoked with it: not a takeover, not
//     an eviction) still in flight when the request runs out of time is
//     left to finish (for up to 5 s more) while CanStream fails; if it
//     commits, its lease is ended at once (Store.Release), so the slot of a
//     grant nobody was told about comes free now instead of after the TTL.
//     A retry that took the lease over first (same device secret) keeps it:
//     the release then finds it superseded and ends nothing.
func WithCommitGuard(on bool) Option { return func(s *Service) { s.guard.on = on } }

// accountQueue is the per-account turn-taking of WithAccountQueue.
type accountQueue struct {
	on       bool
	mu       sync.Mutex
	accounts map[string]*queuedAccount
}

// queuedAccount is one account's turn and what the last turn left.
type queuedAccount struct {
	// turn is held (one element) by the call whose turn it is.
	turn chan struct{}
	// users counts the holder and the waiters (under accountQueue.mu); at
	// zero the entry is dropped.
	users int
	// seq is bumped when a store call of the account starts; a waiter
	// notes it on arrival and may reuse a snapshot with a larger seq.
	seq atomic.Uint64
	// snap is the account as last read or written; only the holder of
	// turn reads or writes it.
	snap *snapshot
}

type snapshot struct {
	seq  uint64
	acct Account
}

// enter waits for uid's turn and returns the store view the call uses and
// the function that ends its turn.
func (q *accountQueue) enter(ctx context.Context, store Store, guard *commitGuard, uid string) (Store, func(), error) {
	if !q.on {
		if guard.on {
			return &grantView{Store: store, guard: guard}, func() {}, nil
		}
		return store, func() {}, nil
	}
	q.mu.Lock()
	if q.accounts == nil {
		q.accounts = map[string]*queuedAccount{}
	}
	a := q.accounts[uid]
	if a == nil {
		a = &queuedAccount{turn: make(chan struct{}, 1)}
		q.accounts[uid] = a
	}
	a.users++
	q.mu.Unlock()
	arrived := a.seq.Load()
	leave := func() {
		q.mu.Lock()
		if a.users--; a.users == 0 {
			delete(q.accounts, uid)
		}
		q.mu.Unlock()
	}
	select {
	case a.turn <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, nil, fmt.Errorf("%w: waited for this account's other request in this process until: %w", ErrContention, ctx.Err())
	}
	v := &grantView{Store: store, guard: guard, acct: a, arrived: arrived}
	return v, func() { <-a.turn; leave() }, nil
}

// grantView is the store as one CanStream sees it: with the account queue,
// loads may be answered from the account's snapshot and writes update it;
// with the commit guard, a grant's write is skipped when it cannot be
// answered in time.
type grantView struct {
	Store
	guard   *commitGuard
	acct    *queuedAccount // nil without the account queue
	arrived uint64
	loaded  Account // the account this call last loaded
}

// Load implements Store.
func (v *grantView) Load(ctx context.Context, uid string, consistent bool) (Account, error) {
	if v.acct == nil || !consistent {
		return v.Store.Load(ctx, uid, consistent)
	}
	if s := v.acct.snap; s != nil && s.seq > v.arrived {
		v.loaded = cloneAccount(s.acct)
		return cloneAccount(s.acct), nil
	}
	n := v.acct.seq.Add(1)
	acct, err := v.Store.Load(ctx, uid, consistent)
	if err != nil {
		v.acct.snap = nil
		return acct, err
	}
	v.acct.snap, v.loaded = &snapshot{seq: n, acct: cloneAccount(acct)}, cloneAccount(acct)
	return acct, nil
}

// Commit implements Store.
func (v *grantView) Commit(ctx context.Context, uid string, c Change) error {
	if err := v.guard.check(ctx); err != nil {
		return err
	}
	var n uint64
	if v.acct != nil {
		n = v.acct.seq.Add(1)
	}
	err := v.guard.send(ctx, v.Store, uid, c)
	if v.acct == nil {
		return err
	}
	if err != nil {
		// A conflict proves the snapshot stale; anything else leaves
		// the account unknown.
		v.acct.snap = nil
		return err
	}
	v.acct.snap = &snapshot{seq: n, acct: applyChange(v.loaded, c)}
	return nil
}

// Reclaim implements Store.
func (v *grantView) Reclaim(ctx context.Context, uid string, leases []Lease) error {
	err := v.Store.Reclaim(ctx, uid, leases)
	if v.acct != nil {
		if err != nil {
			v.acct.snap = nil
			return err
		}
		v.loaded.Leases = slices.DeleteFunc(v.loaded.Leases, func(l Lease) bool {
			return slices.ContainsFunc(leases, func(r Lease) bool { return r.ID == l.ID })
		})
	}
	return err
}

// applyChange is the account after c committed on acct, as the Store
// contract describes it: the grant added, the reclaimed leases gone, the
// revoked ones tombstones, the count set and the version moved (by one, as
// both stores do; a wrong guess only costs a conflict and a fresh read).
func applyChange(acct Account, c Change) Account {
	out := cloneAccount(acct)
	out.Version, out.Count = c.Version+1, c.Count
	out.Leases = slices.DeleteFunc(out.Leases, func(l Lease) bool {
		return slices.ContainsFunc(c.Reclaim, func(r Lease) bool { return r.ID == l.ID })
	})
	for _, r := range c.Revoke {
		for i := range out.Leases {
			if out.Leases[i].ID == r.Lease.ID {
				out.Leases[i].Revoked, out.Leases[i].RevokedAt, out.Leases[i].ExpiresAt = r.Reason, r.At, r.KeepUntil
			}
		}
	}
	out.Leases = append(out.Leases, c.Grant)
	return out
}

func cloneAccount(a Account) Account {
	a.Leases = slices.Clone(a.Leases)
	return a
}

// commitGuard is WithCommitGuard's measure of a grant write's duration:
// the p99 of the writes answered in the last guardWindow (at most
// guardSamples of them).
type commitGuard struct {
	on      bool
	mu      sync.Mutex
	samples []guardSample // ring, oldest overwritten
	next    int
	skipped atomic.Int64
	undone  atomic.Int64
}

type guardSample struct {
	at time.Time
	d  time.Duration
}

// The guard acts on at least guardMinSamples writes answered in the last
// guardWindow, the last guardSamples of them. Old measures expire soon, so
// a spell of slow writes (a burst) cannot make it skip the writes after it
// (a skipped write measures nothing): once they are gone it lets writes
// through and measures afresh. (With 10 s, the writes of a 480-call burst
// made it skip every grant of the next seconds.)
const (
	guardMinSamples = 8
	guardSamples    = 128
	guardWindow     = 2 * time.Second
)

// check returns an ErrContention error when ctx has less time left than a
// grant write is expected to take.
func (g *commitGuard) check(ctx context.Context) error {
	if !g.on {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	need, ok := g.expected(time.Now())
	if !ok {
		return nil
	}
	if left := time.Until(deadline); left < need {
		g.skipped.Add(1)
		return fmt.Errorf("%w: %v left, a grant's write takes up to %v here (p99): not sent", ErrContention, left.Round(time.Millisecond), need.Round(time.Millisecond))
	}
	return nil
}

// expected is the p99 (nearest rank) of the recent writes, once there are
// enough of them.
func (g *commitGuard) expected(now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	var recent []time.Duration
	for _, s := range g.samples {
		if now.Sub(s.at) <= guardWindow {
			recent = append(recent, s.d)
		}
	}
	g.mu.Unlock()
	if len(recent) < guardMinSamples {
		return 0, false
	}
	slices.Sort(recent)
	i := (len(recent)*99 + 99) / 100
	return recent[min(i, len(recent))-1], true
}

// measure feeds one write's duration: one the store answered (done or
// conflict), not one cut short by its context.
func (g *commitGuard) measure(d time.Duration, err error) {
	if !g.on || (err != nil && !isAnswer(err)) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := guardSample{at: time.Now(), d: d}
	if len(g.samples) < guardSamples {
		g.samples = append(g.samples, s)
		return
	}
	g.samples[g.next] = s
	g.next = (g.next + 1) % guardSamples
}

// isAnswer reports whether err is an answer of the store (a lost race or a
// throttle) rather than a failure to get one.
func isAnswer(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrThrottled)
}

// CommitsSkipped returns how many grant writes WithCommitGuard did not send.
func (s *Service) CommitsSkipped() int64 { return s.guard.skipped.Load() }

// GrantsUndone returns how many grants WithCommitGuard ended because their
// write committed after their request had failed.
func (s *Service) GrantsUndone() int64 { return s.guard.undone.Load() }

// abandonGrace is how long a grant's write may go on after its request
// ran out of time, for the guard to learn whether it committed.
const abandonGrace = 5 * time.Second

// send sends the grant's write c. Under the guard, a plain grant's write
// still in flight when ctx ends is left to finish and undone if it
// commits (see WithCommitGuard).
func (g *commitGuard) send(ctx context.Context, store Store, uid string, c Change) error {
	deadline, ok := ctx.Deadline()
	if !g.on || !ok || len(c.Revoke) > 0 {
		start := time.Now()
		err := store.Commit(ctx, uid, c)
		g.measure(time.Since(start), err)
		return err
	}
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(abandonGrace))
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		defer cancel()
		err := store.Commit(wctx, uid, c)
		g.measure(time.Since(start), err)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	go g.undo(store, uid, c, done)
	return fmt.Errorf("%w: the grant's write was still in flight when the request ran out of time (it is ended if it commits): %w", ErrUnavailable, ctx.Err())
}

// undo waits for an abandoned grant's write and ends its lease if it
// committed.
func (g *commitGuard) undo(store Store, uid string, c Change, done <-chan error) {
	if err := <-done; err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), abandonGrace)
	defer cancel()
	// The grant's own clock: its lease is live then, whatever this
	// process's clock says.
	if removed, err := store.Release(ctx, uid, c.Grant.ID, c.Grant.RenewedAt); err == nil && removed {
		g.undone.Add(1)
	}
}
