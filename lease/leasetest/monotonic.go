package leasetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// testRenewalsNeverShorten: a renewal never moves a lease's stored expiry
// back. A player holds the token of its latest renewal and is answered
// from it without a store call; if a renewal computed from a slower clock
// (another instance, or a request held in flight) landed after it and
// lowered the stored expiry, the store would count the lease expired while
// its player was still promised the later one, and give the slot away at
// the limit. So the slower renewal writes nothing and answers the stored,
// later expiry with a token for it. Revoked and expired leases are still
// never renewed, whatever their stored expiry.
func testRenewalsNeverShorten(t *testing.T, h Harness) {
	t.Run("SlowerClockLandsSecond", func(t *testing.T) { testSlowerClockLandsSecond(t, h) })
	t.Run("DelayedRenewalLandsLast", func(t *testing.T) { testDelayedRenewalLandsLast(t, h) })
}

// testSlowerClockLandsSecond: two instances, one clock 3 s behind the
// other, one shared token key, limit 1. The fast instance renews, then the
// slow one (its clock reads 3 s earlier: it computes an expiry 3 s
// earlier). At the expiry the slow renewal computed, by the slow clock,
// the player is still promised 3 s: another device is refused.
func testSlowerClockLandsSecond(t *testing.T, h Harness) {
	ctx := context.Background()
	store := NewCounter(h.NewStore(t))
	slow := NewClock()
	fast := &Clock{now: slow.Now().Add(3 * time.Second)}
	key := bytes.Repeat([]byte("k"), lease.MinTokenKeyLen)
	slowSvc := NewService(t, store, slow, lease.WithMaxStreams(1), lease.WithTokenKeys(key))
	fastSvc := NewService(t, store, fast, lease.WithMaxStreams(1), lease.WithTokenKeys(key))
	uid := UID(t, "u")
	tv := grant(t, slowSvc, uid, lease.Request{DeviceID: "tv"})
	slow.Advance(40 * time.Second)
	fast.Advance(40 * time.Second)

	first, calls, err := beat(t, fastSvc, store, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: tv.Token})
	if err != nil || first.Skipped || calls != 1 {
		t.Fatalf("fast renewal = %+v, %v after %d calls; want one write", first, err, calls)
	}
	// The player sends its new token to the slow instance: by that clock
	// it shows more than a TTL left, so the heartbeat writes.
	slowWould := roundUp(slow.Now().Add(slowSvc.LeaseTTL()))
	second, calls, err := beat(t, slowSvc, store, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: first.Token})
	if err != nil || second.Skipped || calls != 1 {
		t.Fatalf("slow renewal after the fast one = %+v, %v after %d calls; want an answer from the store", second, err, calls)
	}
	if !slowWould.Before(first.Lease.ExpiresAt) {
		t.Fatalf("the slow instance would renew to %v, not before the fast one's %v: the test proves nothing", slowWould, first.Lease.ExpiresAt)
	}
	if got, _ := stored(t, store.Store, uid, tv.Lease.ID); !got.ExpiresAt.Equal(first.Lease.ExpiresAt) {
		t.Fatalf("a renewal from a clock 3 s behind moved the stored expiry from %v back to %v; the player holds a token for %v",
			first.Lease.ExpiresAt, got.ExpiresAt, first.Lease.ExpiresAt)
	}
	if !second.Lease.ExpiresAt.Equal(first.Lease.ExpiresAt) {
		t.Fatalf("the slow renewal answered expiry %v; want the stored %v", second.Lease.ExpiresAt, first.Lease.ExpiresAt)
	}
	// Its token carries the stored expiry: answered from it at once.
	if r, calls, err := beat(t, fastSvc, store, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: second.Token}); err != nil || !r.Skipped || calls != 0 || !r.Lease.ExpiresAt.Equal(first.Lease.ExpiresAt) {
		t.Fatalf("heartbeat with the slow renewal's token = %+v, %v after %d calls; want skipped with expiry %v", r, err, calls, first.Lease.ExpiresAt)
	}

	// The slow clock reaches the expiry it computed; the player's promise
	// runs 3 s more.
	d := slowWould.Sub(slow.Now())
	slow.Advance(d)
	fast.Advance(d)
	phone, err := slowSvc.CanStream(ctx, uid, lease.Request{DeviceID: "phone"})
	if err != nil || phone.Granted || phone.StreamCount != 1 {
		t.Fatalf("at %v, before the expiry %v the tv was promised, CanStream(phone) = granted %v, %d/%d live, %v; want refused at limit 1",
			slow.Now(), first.Lease.ExpiresAt, phone.Granted, phone.StreamCount, phone.MaxStreams, err)
	}

	// Fencing stays: a kicked lease, whose tombstone is kept longer than a
	// renewal would reach, is told so and left alone.
	l, err := slowSvc.List(ctx, uid)
	if err != nil || len(l.Sessions) != 1 {
		t.Fatalf("List = %+v, %v; want the tv", l, err)
	}
	if _, err := slowSvc.Kick(ctx, uid, l.Sessions[0].Handle, lease.RevokedKicked); err != nil {
		t.Fatal(err)
	}
	tomb, _ := stored(t, store.Store, uid, tv.Lease.ID)
	if !tomb.ExpiresAt.After(roundUp(slow.Now().Add(slowSvc.LeaseTTL()))) {
		t.Fatalf("tombstone kept until %v; the test needs it kept beyond a renewal's expiry", tomb.ExpiresAt)
	}
	if r, err := slowSvc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{}); revokedReason(err) != lease.RevokedKicked {
		t.Fatalf("heartbeat of the kicked lease = %+v, %v; want revoked (kicked)", r, err)
	}
	if after, _ := stored(t, store.Store, uid, tv.Lease.ID); after != tomb {
		t.Fatalf("a heartbeat changed the tombstone: %+v -> %+v", tomb, after)
	}
}

// testDelayedRenewalLandsLast: one instance, limit 1. A renewal is held in
// flight; the player retries and that renewal lands; the held one lands
// after it, twice (an SDK retry). The player, promised the later expiry,
// skips its next heartbeat and loses the one after (the renew-below
// threshold allows that): at the held renewal's expiry another device is
// refused, and the player's next heartbeat renews.
func testDelayedRenewalLandsLast(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	gate := NewGate(h.NewStore(t))
	svc := NewService(t, gate, clock, lease.WithMaxStreams(1))
	uid := UID(t, "u")
	tv := grant(t, svc, uid, lease.Request{DeviceID: "tv"})

	clock.Advance(40 * time.Second) // 60 s left: the heartbeat writes
	heldWould := roundUp(clock.Now().Add(svc.LeaseTTL()))
	gate.Hold(OpRenew)
	type answer struct {
		r   lease.Renewal
		err error
	}
	late := make(chan answer, 1)
	go func() {
		r, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: tv.Token})
		late <- answer{r, err}
	}()
	held := gate.MustHold(t, OpRenew)

	clock.Advance(30 * time.Second) // the player retries with the token it has
	retry, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: tv.Token})
	if err != nil || retry.Skipped {
		t.Fatalf("retried heartbeat = %+v, %v; want a renewal", retry, err)
	}
	held.Apply(2)
	a := <-late
	r, err := a.r, a.err
	if got, _ := stored(t, gate, uid, tv.Lease.ID); !got.ExpiresAt.Equal(retry.Lease.ExpiresAt) {
		t.Fatalf("a renewal held in flight 30 s moved the stored expiry from %v back to %v; the player holds a token for %v",
			retry.Lease.ExpiresAt, got.ExpiresAt, retry.Lease.ExpiresAt)
	}
	if err != nil || !r.Lease.ExpiresAt.Equal(retry.Lease.ExpiresAt) {
		t.Fatalf("the held renewal answered %+v, %v; want the stored expiry %v", r, err, retry.Lease.ExpiresAt)
	}
	if !svc.ValidToken(uid, tv.Lease.ID, lease.HeartbeatRequest{Token: r.Token}) {
		t.Fatalf("the held renewal answered token %q; want a token of the lease", r.Token)
	}

	clock.Advance(30 * time.Second) // 70 s left on the token: skipped
	if s, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: retry.Token}); err != nil || !s.Skipped {
		t.Fatalf("heartbeat with 70 s left on its token = %+v, %v; want skipped", s, err)
	}
	clock.Advance(heldWould.Sub(clock.Now())) // the next heartbeat was lost
	phone, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "phone"})
	if err != nil || phone.Granted || phone.StreamCount != 1 {
		t.Fatalf("at %v, before the expiry %v the tv was promised, CanStream(phone) = granted %v, %d/%d live, %v; want refused at limit 1",
			clock.Now(), retry.Lease.ExpiresAt, phone.Granted, phone.StreamCount, phone.MaxStreams, err)
	}
	clock.Advance(20 * time.Second) // 10 s left: the heartbeat writes
	if s, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{Token: retry.Token}); err != nil || s.Skipped {
		t.Fatalf("heartbeat with 10 s left on its token = %+v, %v; want a renewal", s, err)
	}

	// An expired lease is still never renewed, though the renewal would
	// move its expiry later.
	clock.Advance(svc.LeaseTTL() + time.Second)
	if _, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("heartbeat of an expired lease: %v; want ErrLeaseExpired", err)
	}
}

// roundUp rounds t up to a whole second, as the service rounds expiries.
func roundUp(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
