package lease_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// flakyStore fails every call with ErrUnavailable while down is set, and
// every Commit with ErrConflict while conflict is set.
type flakyStore struct {
	lease.Store
	down, conflict atomic.Bool
}

func (f *flakyStore) fail() error {
	if f.down.Load() {
		return fmt.Errorf("%w: injected outage", lease.ErrUnavailable)
	}
	return nil
}

func (f *flakyStore) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	if err := f.fail(); err != nil {
		return lease.Account{}, err
	}
	return f.Store.Load(ctx, uid, consistent)
}

func (f *flakyStore) Commit(ctx context.Context, uid string, c lease.Change) error {
	if err := f.fail(); err != nil {
		return err
	}
	if f.conflict.Load() {
		return lease.ErrConflict
	}
	return f.Store.Commit(ctx, uid, c)
}

func (f *flakyStore) Renew(ctx context.Context, uid, id string, now, exp time.Time) (lease.Lease, error) {
	if err := f.fail(); err != nil {
		return lease.Lease{}, err
	}
	return f.Store.Renew(ctx, uid, id, now, exp)
}

func (f *flakyStore) Release(ctx context.Context, uid, id string, now time.Time) (bool, error) {
	if err := f.fail(); err != nil {
		return false, err
	}
	return f.Store.Release(ctx, uid, id, now)
}

func TestFailClosedByDefault(t *testing.T) {
	t.Parallel()
	store := &flakyStore{Store: memstore.New()}
	svc, err := lease.New(store)
	if err != nil {
		t.Fatal(err)
	}
	if svc.FailOpen() != 0 {
		t.Fatalf("FailOpen() = %v by default, want 0", svc.FailOpen())
	}
	store.down.Store(true)
	d, err := svc.CanStream(t.Context(), "alice", lease.Request{DeviceID: "tv"})
	if !errors.Is(err, lease.ErrUnavailable) || d.Granted {
		t.Fatalf("store down, fail closed: got %+v, %v; want ErrUnavailable and no grant", d, err)
	}
}

func TestFailOpenGrantsDegradedLease(t *testing.T) {
	t.Parallel()
	clock := leasetest.NewClock()
	store := &flakyStore{Store: memstore.New()}
	svc, err := lease.New(store, lease.WithClock(clock.Now), lease.WithMaxStreams(1), lease.WithFailOpen(45*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The account is at its limit before the outage.
	held, err := svc.CanStream(ctx, "alice", lease.Request{DeviceID: "tv"})
	if err != nil || !held.Granted || held.Degraded {
		t.Fatalf("normal grant: %+v, %v", held, err)
	}

	store.down.Store(true)
	now := clock.Now()
	d, err := svc.CanStream(ctx, "alice", lease.Request{DeviceID: "phone"})
	if err != nil {
		t.Fatalf("store down, fail open: %v", err)
	}
	if !d.Granted || !d.Degraded || !lease.ValidLeaseID(d.Lease.ID) || d.Lease.DeviceID != "phone" {
		t.Fatalf("degraded grant: %+v", d)
	}
	if exp := d.Lease.ExpiresAt.Sub(now); exp < 45*time.Second || exp > 46*time.Second {
		t.Fatalf("degraded lease lives %v, want the fail-open duration (45s)", exp)
	}
	// Validation still comes first: bad input is never granted.
	if _, err := svc.CanStream(ctx, "a/b", lease.Request{}); !errors.Is(err, lease.ErrInvalidUID) {
		t.Fatalf("bad uid while failing open: %v", err)
	}
	// While the store is down its heartbeat and end fail like any other.
	if _, err := svc.Heartbeat(ctx, "alice", d.Lease.ID, lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("heartbeat of a degraded lease, store down: %v", err)
	}

	// Back up: the store never saw the degraded lease.
	store.down.Store(false)
	l, err := svc.List(ctx, "alice")
	if err != nil || l.StreamCount != 1 {
		t.Fatalf("after the outage: %+v, %v; want only the real lease", l, err)
	}
	if _, err := svc.Heartbeat(ctx, "alice", d.Lease.ID, lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("heartbeat of a degraded lease after the outage: %v, want ErrLeaseExpired", err)
	}
	if rel, err := svc.EndStream(ctx, "alice", d.Lease.ID); err != nil || rel.Removed {
		t.Fatalf("end of a degraded lease after the outage: %+v, %v", rel, err)
	}
	// And the limit applies again.
	if d, err := svc.CanStream(ctx, "alice", lease.Request{DeviceID: "phone"}); err != nil || d.Granted || d.Degraded {
		t.Fatalf("canStream after the outage at the limit: %+v, %v; want a refusal", d, err)
	}
}

func TestFailOpenNeverCoversContention(t *testing.T) {
	t.Parallel()
	store := &flakyStore{Store: memstore.New()}
	svc, err := lease.New(store, lease.WithFailOpen(time.Minute), lease.WithRetry(2, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store.conflict.Store(true)
	d, err := svc.CanStream(t.Context(), "alice", lease.Request{})
	if !errors.Is(err, lease.ErrContention) || d.Granted {
		t.Fatalf("contention with fail-open on: %+v, %v; want ErrContention, no grant", d, err)
	}
}

// TestFailOpenNeverCoversADeadlineInContention: the request's deadline
// runs out while CanStream backs off from conflicts (a healthy store under
// many concurrent grants of one account). The store answered every call,
// so this is contention: never a degraded grant, never labelled
// unavailable.
func TestFailOpenNeverCoversADeadlineInContention(t *testing.T) {
	t.Parallel()
	store := &flakyStore{Store: memstore.New()}
	svc, err := lease.New(store, lease.WithFailOpen(time.Minute), lease.WithRetry(1000, 5*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store.conflict.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	d, err := svc.CanStream(ctx, "alice", lease.Request{})
	if d.Granted || d.Degraded || !errors.Is(err, lease.ErrContention) || errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("deadline while contending, fail-open on: %+v, %v; want ErrContention (not unavailable), no grant", d, err)
	}
}

// slowAfterConflict answers the first Commit with a conflict and then
// lets every call wait for the request's deadline (a store that answered,
// then slowed down).
type slowAfterConflict struct {
	lease.Store
	conflicted atomic.Bool
}

func (s *slowAfterConflict) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	if s.conflicted.Load() {
		<-ctx.Done()
		return lease.Account{}, fmt.Errorf("%w: %w", lease.ErrUnavailable, ctx.Err())
	}
	return s.Store.Load(ctx, uid, consistent)
}

func (s *slowAfterConflict) Commit(context.Context, string, lease.Change) error {
	s.conflicted.Store(true)
	return lease.ErrConflict
}

// TestFailOpenOnlyWhenTheStoreNeverAnswered: a store that answered (a
// read, a conflict) and then timed out may have committed the grant it
// was sent; failing open on top of it would exceed the limit.
func TestFailOpenOnlyWhenTheStoreNeverAnswered(t *testing.T) {
	t.Parallel()
	svc, err := lease.New(&slowAfterConflict{Store: memstore.New()}, lease.WithFailOpen(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	d, err := svc.CanStream(ctx, "alice", lease.Request{})
	if d.Granted || d.Degraded || !errors.Is(err, lease.ErrContention) {
		t.Fatalf("timeout after a conflict, fail-open on: %+v, %v; want ErrContention, no grant", d, err)
	}
}

func TestFailOpenValidated(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{-time.Second, lease.MaxFailOpen + time.Second} {
		if _, err := lease.New(memstore.New(), lease.WithFailOpen(d)); err == nil {
			t.Errorf("New accepted fail-open %v", d)
		}
	}
}
