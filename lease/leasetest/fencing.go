package leasetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/lease"
)

// fencingTests are the cases of the suite where a write arrives late,
// twice, or races a write from an instance whose clock differs: the
// promise (one lease per slot, never more than the limit, a lease id held
// only by its player) must hold under delay and reordering, not only
// under races.
var fencingTests = []struct {
	name string
	fn   func(*testing.T, Harness)
}{
	{"LateRenewalAfterGrantCountedItExpired", testLateRenewal},
	{"DeviceIDIsNotACapability", testDeviceIDNotCapability},
	{"LateEndAfterDeviceAsksAgain", testLateEndAfterReuse},
	{"RevocationsLandDespiteRenewals", testRevocationsLand},
	{"TakeoverKeepsTheSession", testTakeoverKeepsTheSession},
	{"RenewalsNeverShortenTheExpiry", testRenewalsNeverShorten},
}

// lastID returns lease ids that sort after every seeded one (seedExpired
// uses ids beginning with zeros), so a store that reads in key order
// meets the live lease last.
func lastID() (string, error) {
	u, err := uuid.NewRandom()
	return "f" + u.String()[1:], err
}

// seedExpired stores n lease items of uid that expired a minute before
// clock's now (crash leftovers that real DynamoDB's TTL takes days to
// delete) and turns every third into a tombstone: every sixth one whose
// keep time is also past, the others still kept. It writes through the
// Store contract, so both stores hold the same thing.
func seedExpired(t *testing.T, s lease.Store, clock *Clock, uid string, n int) {
	t.Helper()
	ctx := context.Background()
	past := clock.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range n {
		acct, err := s.Load(ctx, uid, true)
		if err != nil {
			t.Fatal(err)
		}
		l := lease.Lease{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012x", i), UID: uid, DeviceID: fmt.Sprint("gone-", i),
			CreatedAt: past.Add(-time.Hour), RenewedAt: past.Add(-time.Minute), ExpiresAt: past,
			Handle: fmt.Sprintf("%016x", i),
		}
		if err := s.Commit(ctx, uid, lease.Change{Version: acct.Version, Grant: l}); err != nil {
			t.Fatalf("seeding lease %d: %v", i, err)
		}
		if i%3 == 0 {
			keep := clock.Now().Add(time.Hour).Truncate(time.Second)
			if i%6 == 0 {
				keep = past
			}
			r := lease.Revocation{Lease: l, Reason: lease.RevokedAdmin, At: past, KeepUntil: keep}
			if err := s.Revoke(ctx, uid, []lease.Revocation{r}); err != nil {
				t.Fatalf("seeding tombstone %d: %v", i, err)
			}
		}
	}
}

// testLateRenewal is invariant 7: a heartbeat sent just before its
// lease's expiry (the service read its clock then) reaches the store after
// a grant from another device counted that lease expired. The account
// holds 150 expired items and tombstones besides, more than one
// transaction can delete. At limit 1, at most one of the two leases may be
// renewable afterwards, and no expired item the grant counted may be left
// for a late renewal to revive.
func testLateRenewal(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	gate := NewGate(h.NewStore(t))
	svc := NewService(t, gate, clock, lease.WithMaxStreams(1), lease.WithIDGenerator(lastID))
	uid := UID(t, "u")
	seedExpired(t, gate, clock, uid, 150)
	tv := grant(t, svc, uid, lease.Request{DeviceID: "tv"})

	clock.Advance(tv.Lease.ExpiresAt.Sub(clock.Now()) - time.Second) // one second left
	gate.Hold(OpRenew)
	late := make(chan error, 1)
	go func() { _, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{}); late <- err }()
	renewal := gate.MustHold(t, OpRenew)

	clock.Advance(2 * time.Second) // the TV's lease has expired
	phone := grant(t, svc, uid, lease.Request{DeviceID: "phone"})
	acct, err := gate.Load(ctx, uid, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range acct.Leases {
		if l.Revoked == "" && !l.LiveAt(clock.Now()) {
			t.Fatalf("the grant left expired lease %s stored and renewable; every expired lease it counted must be fenced", l.ID)
		}
	}

	renewal.Apply(1) // the TV's renewal lands, one second late
	lateErr := <-late
	renewable := 0
	for _, id := range []string{tv.Lease.ID, phone.Lease.ID} {
		if _, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{}); err == nil {
			renewable++
		}
	}
	if renewable > 1 || listCount(t, svc, uid) > 1 {
		t.Fatalf("late renewal (answer %v): %d renewable leases, %d live; limit 1", lateErr, renewable, listCount(t, svc, uid))
	}
	if lateErr == nil {
		t.Fatal("the late renewal was answered as renewed, but the grant had counted its lease expired")
	}
}

// testDeviceIDNotCapability: a device id is a label other players see in
// listings and refusals, never a proof. A player that sends another
// player's device id must not be handed that player's lease, nor share
// its slot.
func testDeviceIDNotCapability(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock, lease.WithMaxStreams(1))
	uid := UID(t, "u")
	tv := grant(t, svc, uid, lease.Request{DeviceID: "tv-livingroom"})
	refused, err := svc.CanStream(ctx, uid, lease.Request{})
	if err != nil || refused.Granted || len(refused.Sessions) != 1 {
		t.Fatalf("second player = %+v, %v; want refused with the TV listed", refused, err)
	}
	seen := refused.Sessions[0].DeviceID // what a refusal shows
	for range 3 {
		d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: seen})
		if err != nil {
			t.Fatal(err)
		}
		if d.Lease.ID == tv.Lease.ID {
			t.Fatalf("a player that only knew the device id %q was handed the TV's lease id", seen)
		}
		if d.Granted {
			t.Fatalf("a player with a borrowed device id got a stream on a full account: %+v", d)
		}
	}
	if _, err := svc.Heartbeat(ctx, uid, tv.Lease.ID, lease.HeartbeatRequest{}); err != nil {
		t.Fatalf("the TV lost its lease to a borrowed device id: %v", err)
	}
}

// testLateEndAfterReuse: the player ends its stream, the end's write is
// delayed, and the same device asks to stream again before it lands (the
// browser client's stop() timed out, start() followed). The late end must
// not end what the device was given afterwards.
func testLateEndAfterReuse(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	gate := NewGate(h.NewStore(t))
	svc := NewService(t, gate, clock, lease.WithMaxStreams(2))
	uid := UID(t, "u")
	first := grant(t, svc, uid, lease.Request{DeviceID: "tv"})

	gate.Hold(OpRelease)
	ended := make(chan error, 1)
	go func() { _, err := svc.EndStream(ctx, uid, first.Lease.ID); ended <- err }()
	end := gate.MustHold(t, OpRelease)
	again := grant(t, svc, uid, lease.Request{DeviceID: "tv"})
	end.Apply(2) // lands late, and twice
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Heartbeat(ctx, uid, again.Lease.ID, lease.HeartbeatRequest{}); err != nil {
		t.Fatalf("the late end of %s ended %s, granted to the device after it: %v", first.Lease.ID, again.Lease.ID, err)
	}
}

// renewFirst makes a renewal from a second instance, whose clock runs a
// few seconds ahead and moves on each time, land between each revocation's
// read and its write.
type renewFirst struct {
	lease.Store
	clock *Clock
}

func (r renewFirst) renewAll(ctx context.Context, uid string, rs []lease.Revocation) {
	r.clock.Advance(time.Second)
	now := r.clock.Now()
	for _, x := range rs {
		_, _ = r.Store.Renew(ctx, uid, x.Lease.ID, now, now.Add(90*time.Second).Truncate(time.Second))
	}
}

func (r renewFirst) Revoke(ctx context.Context, uid string, rs []lease.Revocation) error {
	r.renewAll(ctx, uid, rs)
	return r.Store.Revoke(ctx, uid, rs)
}

func (r renewFirst) Commit(ctx context.Context, uid string, c lease.Change) error {
	r.renewAll(ctx, uid, c.Revoke)
	return r.Store.Commit(ctx, uid, c)
}

// testRevocationsLand: kicks, end-all and evictions must land while their
// victims keep heartbeating from servers whose clocks differ by seconds:
// a renewal racing a revocation must not make it give up.
func testRevocationsLand(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	other := NewClock()
	other.Advance(3 * time.Second)
	store := renewFirst{Store: h.NewStore(t), clock: other}
	svc := NewService(t, store, clock, lease.WithRetry(4, time.Millisecond, 2*time.Millisecond))
	uid := UID(t, "u")
	for _, dev := range []string{"a", "b", "c"} {
		grant(t, svc, uid, lease.Request{DeviceID: dev})
		clock.Advance(time.Second)
	}
	l, err := svc.List(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := svc.Kick(ctx, uid, l.Sessions[0].Handle, lease.RevokedKicked); err != nil || !rel.Removed {
		t.Fatalf("kick while the victim heartbeats = %+v, %v; want removed", rel, err)
	}
	if err := svc.SetPolicy(ctx, uid, lease.PolicyEvictOldest); err != nil {
		t.Fatal(err)
	}
	grant(t, svc, uid, lease.Request{DeviceID: "d"})
	d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "e"})
	if err != nil || !d.Granted || len(d.Evicted) != 1 {
		t.Fatalf("evicting while the oldest heartbeats = %+v, %v; want granted with one eviction", d, err)
	}
	if rel, err := svc.EndAll(ctx, uid, lease.RevokedAdmin); err != nil || !rel.Removed || rel.StreamCount != 0 {
		t.Fatalf("end-all while everyone heartbeats = %+v, %v; want all removed", rel, err)
	}
	if n := listCount(t, svc, uid); n != 0 {
		t.Fatalf("%d live after end-all", n)
	}
}

// testTakeoverKeepsTheSession: a takeover keeps the session (handle,
// creation time, the description the request does not replace) and moves
// its expiry; only the lease id changes.
func testTakeoverKeepsTheSession(t *testing.T, h Harness) {
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock)
	uid := UID(t, "u")
	req := lease.Request{DeviceID: "tv", DeviceSecret: "tv-secret-0123456789", Client: lease.Client{UserAgent: "TV/1", Title: "Movie"}}
	first := grant(t, svc, uid, req)
	clock.Advance(10 * time.Second)
	req.Client = lease.Client{UserAgent: "TV/2"} // a restarted player sends its user agent only
	again := grant(t, svc, uid, req)
	l := again.Lease
	if !again.Resumed || l.ID == first.Lease.ID || l.Handle != first.Lease.Handle || !l.CreatedAt.Equal(first.Lease.CreatedAt) ||
		l.Client != (lease.Client{UserAgent: "TV/2", Title: "Movie"}) || !l.ExpiresAt.After(first.Lease.ExpiresAt) || again.StreamCount != 1 {
		t.Fatalf("takeover = %+v; want the session of %+v under a new id, UA TV/2, title kept, later expiry", again, first.Lease)
	}
	listed, err := svc.List(context.Background(), uid)
	if err != nil || len(listed.Sessions) != 1 || listed.Sessions[0].Client.Title != "Movie" {
		t.Fatalf("List = %+v, %v; want one session still titled Movie", listed, err)
	}
}
