package lease_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// With the account queue, 100 simultaneous calls for one account make
// exactly its limit of grants, with one Commit per grant and never two
// Commits of the account in flight at once; the rest are refused, none
// fails. Without it the same race has Commits in flight together and
// losing ones (the test's control).
func TestAccountQueueSerializesOneAccount(t *testing.T) {
	t.Parallel()
	for _, queued := range []bool{true, false} {
		store := leasetest.NewCounting(memstore.New())
		store.CommitDelay = 2 * time.Millisecond // a write takes a while: racers overlap
		svc := leasetest.NewService(t, store, leasetest.NewClock(), lease.WithAccountQueue(queued),
			lease.WithRetry(1000, time.Millisecond, 2*time.Millisecond))
		uid := leasetest.UID(t, "hot")
		res := leasetest.Race(context.Background(), []*lease.Service{svc}, []string{uid}, 100)
		loads, commits, failed, most := store.Counts()
		t.Logf("queued=%v: %d loads, %d commits (%d failed), at most %d in flight", queued, loads, commits, failed, most)
		if len(res.Errors) > 0 || res.Granted[uid] != 3 {
			t.Fatalf("queued=%v: granted %d, errors %v; want exactly 3 and none", queued, res.Granted[uid], res.Errors)
		}
		// Reads: one per wave of arrivals (a caller reuses a state
		// written or read after it arrived), not one per caller.
		if queued && (commits != 3 || failed != 0 || most != 1 || loads > 20) {
			t.Fatalf("queued: %d commits, %d failed, %d in flight at once, %d loads; want 3, 0, 1, a few", commits, failed, most, loads)
		}
		if !queued && most == 1 && failed == 0 {
			t.Fatalf("unqueued: commits never overlapped; the race did not race")
		}
	}
}

// Several accounts are queued apart: a slow write of one does not hold up
// the others, and each gets exactly its limit.
func TestAccountQueueKeepsAccountsApart(t *testing.T) {
	t.Parallel()
	store := leasetest.NewCounting(memstore.New())
	svc := leasetest.NewService(t, store, leasetest.NewClock(), lease.WithAccountQueue(true))
	uids := []string{leasetest.UID(t, "a"), leasetest.UID(t, "b"), leasetest.UID(t, "c"), leasetest.UID(t, "d")}
	res := leasetest.Race(context.Background(), []*lease.Service{svc}, uids, 25)
	for _, uid := range uids {
		if res.Granted[uid] != 3 {
			t.Errorf("%s: granted %d; want 3", uid, res.Granted[uid])
		}
	}
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	if _, commits, failed, _ := store.Counts(); commits != 12 || failed != 0 {
		t.Fatalf("%d commits, %d failed; want 12, 0", commits, failed)
	}
}

// Two services over one store stand for two processes: each queues its own
// calls, the version guard still decides between them, and the bound holds.
func TestAccountQueueAcrossProcesses(t *testing.T) {
	t.Parallel()
	store := leasetest.NewCounting(memstore.New())
	store.CommitDelay = time.Millisecond
	clock := leasetest.NewClock()
	var svcs []*lease.Service
	for range 2 {
		svcs = append(svcs, leasetest.NewService(t, store, clock, lease.WithAccountQueue(true),
			lease.WithRetry(1000, time.Millisecond, 2*time.Millisecond)))
	}
	uid := leasetest.UID(t, "two")
	res := leasetest.Race(context.Background(), svcs, []string{uid}, 100)
	if len(res.Errors) > 0 || res.Granted[uid] != 3 {
		t.Fatalf("granted %d, errors %v; want exactly 3 and none", res.Granted[uid], res.Errors)
	}
	if _, _, _, most := store.Counts(); most > 2 {
		t.Fatalf("%d commits of the account in flight at once; want at most one per process", most)
	}
}

// A call that waits behind another call of its account reuses what that
// call left (no read of its own) when it was left after the waiter
// arrived; a call that arrives later reads afresh and sees a change made
// meanwhile by another process.
func TestAccountQueueReusesOnlyFreshState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New()
	store := leasetest.NewCounting(mem)
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock, lease.WithAccountQueue(true))
	other := leasetest.NewService(t, mem, clock) // another process
	uid := leasetest.UID(t, "fresh")
	for _, dev := range []string{"d1", "d2"} {
		if d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: dev}); err != nil || !d.Granted {
			t.Fatalf("grant %s: %+v, %v", dev, d, err)
		}
	}
	// The third call's read holds until the waiter has arrived, so the
	// third's write starts after the waiter arrived.
	reading, arrived := make(chan struct{}), make(chan struct{})
	var loadsBefore int
	store.LoadHook = func() {
		store.LoadHook = nil
		loadsBefore, _, _, _ = store.Counts()
		close(reading)
		<-arrived
	}
	first := make(chan error, 1)
	go func() {
		_, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "third"})
		first <- err
	}()
	<-reading
	waiter := make(chan lease.Decision, 1)
	go func() {
		d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "fourth"})
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiter <- d
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter queue behind the third call
	close(arrived)
	if err := <-first; err != nil {
		t.Fatalf("third grant: %v", err)
	}
	d := <-waiter
	if loads, _, _, _ := store.Counts(); d.Granted || d.StreamCount != 3 || loads != loadsBefore {
		t.Fatalf("waiter: %+v after %d loads of its own; want refused at 3/3 from the third grant's state, no load", d, loads-loadsBefore)
	}

	// Another process ends every stream; the next call here arrives after
	// every state this process knows and must see that.
	if _, err := other.EndAll(ctx, uid, lease.RevokedAdmin); err != nil {
		t.Fatal(err)
	}
	if d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "fifth"}); err != nil || !d.Granted || d.StreamCount != 1 {
		t.Fatalf("after the other process ended every stream: %+v, %v; want granted as the only one", d, err)
	}
}

// A call whose context ends while it waits for its account's turn fails
// with ErrContention, without touching the store.
func TestAccountQueueWaiterTimesOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gate := leasetest.NewGate(memstore.New())
	store := leasetest.NewCounting(gate)
	svc := leasetest.NewService(t, store, leasetest.NewClock(), lease.WithAccountQueue(true))
	uid := leasetest.UID(t, "wait")
	gate.Hold(leasetest.OpCommit)
	first := make(chan error, 1)
	go func() {
		_, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "first"})
		first <- err
	}()
	held := gate.MustHold(t, leasetest.OpCommit)
	loads, commits, _, _ := store.Counts()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err := svc.CanStream(short, uid, lease.Request{DeviceID: "second"})
	if !errors.Is(err, lease.ErrContention) || errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("waiter: %v; want ErrContention (not unavailable: never fail open)", err)
	}
	if l, c, _, _ := store.Counts(); l != loads || c != commits {
		t.Fatalf("the waiter made %d loads and %d commits; want none", l-loads, c-commits)
	}
	held.Apply(1)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// The commit guard does not send a grant's write with less time left than
// such writes take here; nothing is written, the call fails with
// ErrContention. Without the guard the write is sent (the control).
func TestCommitGuardSkipsLateWrite(t *testing.T) {
	t.Parallel()
	for _, guarded := range []bool{true, false} {
		store := leasetest.NewCounting(memstore.New())
		store.CommitDelay = 60 * time.Millisecond
		svc := leasetest.NewService(t, store, leasetest.NewClock(), lease.WithCommitGuard(guarded), lease.WithMaxStreams(lease.MaxLimit))
		uid := leasetest.UID(t, "guard")
		for i := range 8 { // the guard's measurements
			if _, err := svc.CanStream(context.Background(), uid, lease.Request{DeviceID: "m" + string(rune('a'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		_, before, _, _ := store.Counts()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "late"})
		cancel()
		_, after, _, _ := store.Counts()
		switch {
		case guarded && (!errors.Is(err, lease.ErrContention) || after != before || svc.CommitsSkipped() != 1):
			t.Fatalf("guarded: %v, %d writes sent, %d skipped; want ErrContention, none sent, 1 skipped", err, after-before, svc.CommitsSkipped())
		case !guarded && after != before+1:
			t.Fatalf("unguarded: %d writes sent; want 1", after-before)
		}
		if l, err := svc.List(context.Background(), uid); err != nil || (guarded && l.StreamCount != 8) {
			t.Fatalf("after: %+v, %v; want the 8 measured grants only", l, err)
		}
	}
}

// lateLanding is a store whose grant writes land after delay whatever the
// caller's context says, as a write already sent to DynamoDB does; a
// caller whose context ends first gets the error the SDK gives it.
type lateLanding struct {
	lease.Store
	delay time.Duration
}

func (l lateLanding) Commit(ctx context.Context, uid string, c lease.Change) error {
	done := make(chan error, 1)
	go func() {
		time.Sleep(l.delay)
		done <- l.Store.Commit(context.WithoutCancel(ctx), uid, c)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", lease.ErrUnavailable, ctx.Err())
	}
}

// A grant whose write lands after its request failed is ended by the
// commit guard, so no lease stands behind the failed answer; without the
// guard it stays until its TTL (the control).
func TestCommitGuardUndoesAbandonedGrant(t *testing.T) {
	t.Parallel()
	for _, guarded := range []bool{true, false} {
		mem := memstore.New()
		svc := leasetest.NewService(t, lateLanding{Store: mem, delay: 400 * time.Millisecond}, leasetest.NewClock(), lease.WithCommitGuard(guarded))
		uid := leasetest.UID(t, "late")
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "tv"})
		cancel()
		if err == nil {
			t.Fatalf("guarded=%v: CanStream answered %+v after its deadline", guarded, d)
		}
		// Wait until the write has landed and, guarded, been undone.
		want := 1
		if guarded {
			want = 0
		}
		var n int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			acct, err := mem.Load(context.Background(), uid, true)
			if err != nil {
				t.Fatal(err)
			}
			n = 0
			for _, l := range acct.Leases {
				if l.Revoked == "" {
					n++
				}
			}
			if acct.Version > 0 && n == want && (!guarded || svc.GrantsUndone() == 1) {
				break
			}
		}
		if n != want {
			t.Fatalf("guarded=%v: %d leases stored behind the failed answer; want %d", guarded, n, want)
		}
	}
}
