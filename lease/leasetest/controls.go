package leasetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// controlTests are the account-control cases of the suite: kick, end-all,
// the evict_oldest policy and its cooldown.
var controlTests = []struct {
	name string
	fn   func(*testing.T, Harness)
}{
	{"Kick", testKick},
	{"EndAll", testEndAll},
	{"EvictOldest", testEvictOldest},
	{"EvictOldestUnderRace", testEvictRace},
	{"EvictCooldownStopsPingPong", testEvictCooldown},
	{"TombstonesAreCollected", testTombstones},
}

func revokedReason(err error) string {
	var r *lease.RevokedError
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

func testKick(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock)
	uid := UID(t, "u")
	a := grant(t, svc, uid, lease.Request{DeviceID: "tv"})
	clock.Advance(time.Second)
	grant(t, svc, uid, lease.Request{DeviceID: "phone"})
	clock.Advance(time.Second)
	grant(t, svc, uid, lease.Request{DeviceID: "laptop"})

	// B (the phone) reads the listing and kicks the TV by its handle.
	l, err := svc.List(ctx, uid)
	if err != nil || len(l.Sessions) != 3 {
		t.Fatalf("List = %+v, %v", l, err)
	}
	handle := l.Sessions[0].Handle
	if l.Sessions[0].DeviceID != "tv" || !lease.ValidHandle(handle) || handle == a.Lease.ID {
		t.Fatalf("first session %+v: want the TV with a handle that is not its lease id", l.Sessions[0])
	}
	rel, err := svc.Kick(ctx, uid, handle, lease.RevokedKicked)
	if err != nil || !rel.Removed || rel.StreamCount != 2 {
		t.Fatalf("Kick = %+v, %v; want removed, 2 left", rel, err)
	}
	// The slot is free at once.
	if d := grant(t, svc, uid, lease.Request{DeviceID: "tablet"}); d.StreamCount != 3 {
		t.Fatalf("grant after kick: count %d", d.StreamCount)
	}
	// The kicked player learns why, every time, and cannot come back with that lease.
	for range 2 {
		_, err := svc.Heartbeat(ctx, uid, a.Lease.ID, lease.HeartbeatRequest{})
		if !errors.Is(err, lease.ErrLeaseRevoked) || revokedReason(err) != lease.RevokedKicked {
			t.Fatalf("heartbeat of kicked lease: %v; want lease revoked (kicked)", err)
		}
	}
	if rel, err := svc.EndStream(ctx, uid, a.Lease.ID); err != nil || rel.Removed {
		t.Fatalf("EndStream of kicked lease = %+v, %v; want not removed", rel, err)
	}
	if _, err := svc.Kick(ctx, uid, handle, lease.RevokedKicked); !errors.Is(err, lease.ErrSessionNotFound) {
		t.Fatalf("second kick: %v; want ErrSessionNotFound", err)
	}
	if d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "tv"}); err != nil || d.Granted || d.Lease.ID == a.Lease.ID {
		t.Fatalf("kicked TV asks again on a full account = %+v, %v; want refused, never its old lease", d, err)
	}
	if _, err := svc.Kick(ctx, uid, "not-a-handle", lease.RevokedKicked); !errors.Is(err, lease.ErrInvalidHandle) {
		t.Fatalf("bad handle: %v", err)
	}
	// Another account's handle does not work here.
	other := UID(t, "other")
	grant(t, svc, other, lease.Request{})
	ol, _ := svc.List(ctx, other)
	if _, err := svc.Kick(ctx, uid, ol.Sessions[0].Handle, lease.RevokedKicked); !errors.Is(err, lease.ErrSessionNotFound) {
		t.Fatalf("kick with another account's handle: %v; want ErrSessionNotFound", err)
	}
}

func testEndAll(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock)
	uid := UID(t, "u")
	var ids []string
	for range 3 {
		ids = append(ids, grant(t, svc, uid, lease.Request{}).Lease.ID)
	}
	rel, err := svc.EndAll(ctx, uid, lease.RevokedAdmin)
	if err != nil || !rel.Removed || rel.StreamCount != 0 {
		t.Fatalf("EndAll = %+v, %v", rel, err)
	}
	for _, id := range ids {
		if _, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{}); revokedReason(err) != lease.RevokedAdmin {
			t.Fatalf("heartbeat after EndAll: %v; want revoked (admin)", err)
		}
	}
	if rel, err := svc.EndAll(ctx, uid, lease.RevokedKicked); err != nil || rel.Removed {
		t.Fatalf("EndAll on an empty account = %+v, %v; want nothing removed, no error", rel, err)
	}
	for i := 1; i <= 3; i++ {
		if d := grant(t, svc, uid, lease.Request{}); d.StreamCount != i {
			t.Fatalf("grant %d after EndAll: count %d", i, d.StreamCount)
		}
	}
}

func testEvictOldest(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock) // default block_new
	uid := UID(t, "u")
	if err := svc.SetPolicy(ctx, uid, lease.PolicyEvictOldest); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, dev := range []string{"a", "b", "c"} {
		ids = append(ids, grant(t, svc, uid, lease.Request{DeviceID: dev}).Lease.ID)
		clock.Advance(time.Second)
	}
	d := grant(t, svc, uid, lease.Request{DeviceID: "d"})
	if d.StreamCount != 3 || len(d.Evicted) != 1 || d.Evicted[0].DeviceID != "a" {
		t.Fatalf("newcomer = %+v; want granted, count 3, the oldest (a) evicted", d)
	}
	if _, err := svc.Heartbeat(ctx, uid, ids[0], lease.HeartbeatRequest{}); revokedReason(err) != lease.RevokedEvictedOldest {
		t.Fatalf("evicted heartbeat: %v; want revoked (evicted_oldest)", err)
	}
	if l, err := svc.List(ctx, uid); err != nil || l.StreamCount != 3 || l.Policy != lease.PolicyEvictOldest {
		t.Fatalf("List = %+v, %v", l, err)
	}
	// Clearing the override restores the default: refuse the newcomer.
	if err := svc.ClearPolicy(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "e"}); err != nil || d.Granted {
		t.Fatalf("after ClearPolicy = %+v, %v; want refused", d, err)
	}
	if err := svc.SetPolicy(ctx, uid, "lottery"); !errors.Is(err, lease.ErrInvalidPolicy) {
		t.Fatalf("SetPolicy(lottery): %v", err)
	}
}

// testEvictRace: 50 concurrent newcomers on a full evict_oldest account
// never leave more than the limit live, sampled while they race.
func testEvictRace(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock, lease.WithPolicy(lease.PolicyEvictOldest))
	uid := UID(t, "u")
	for range 3 {
		grant(t, svc, uid, lease.Request{})
	}
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	var done atomic.Bool
	var worst atomic.Int64
	var sampleErr error
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		for !done.Load() {
			l, err := svc.List(ctx, uid)
			if err != nil {
				sampleErr = err
				return
			}
			if int64(l.StreamCount) > worst.Load() {
				worst.Store(int64(l.StreamCount))
			}
		}
	}()
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = svc.CanStream(ctx, uid, lease.Request{})
		})
	}
	close(start)
	wg.Wait()
	done.Store(true)
	<-sampler
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	granted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			granted++
		case errors.Is(err, lease.ErrContention): // retryable, documented
		default:
			t.Fatalf("newcomer: %v", err)
		}
	}
	if w := worst.Load(); w > 3 {
		t.Fatalf("a sample saw %d live; limit 3", w)
	}
	if c := listCount(t, svc, uid); c != 3 {
		t.Fatalf("final count %d; want 3", c)
	}
	if granted < n/2 {
		t.Fatalf("only %d of %d newcomers got in", granted, n)
	}
	t.Logf("%d of %d newcomers granted, the rest contended", granted, n)
}

// testEvictCooldown: two devices on a one-stream plan cannot evict each
// other in a loop.
func testEvictCooldown(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock,
		lease.WithPolicy(lease.PolicyEvictOldest), lease.WithEvictCooldown(2*time.Minute))
	uid := UID(t, "u")
	if err := svc.SetLimit(ctx, uid, 1); err != nil {
		t.Fatal(err)
	}
	a := grant(t, svc, uid, lease.Request{DeviceID: "a"})
	clock.Advance(5 * time.Second)
	b := grant(t, svc, uid, lease.Request{DeviceID: "b"})
	if len(b.Evicted) != 1 || b.Evicted[0].DeviceID != "a" {
		t.Fatalf("b = %+v; want a evicted", b)
	}
	clock.Advance(10 * time.Second)
	if _, err := svc.Heartbeat(ctx, uid, a.Lease.ID, lease.HeartbeatRequest{}); revokedReason(err) != lease.RevokedEvictedOldest {
		t.Fatalf("a's heartbeat: %v", err)
	}
	// a wants its stream back within the cooldown: refused, b keeps playing.
	back, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "a"})
	if err != nil || back.Granted || back.CooldownUntil.IsZero() || len(back.Sessions) != 1 || back.Sessions[0].DeviceID != "b" {
		t.Fatalf("a evicts back within the cooldown = %+v, %v; want refused with CooldownUntil", back, err)
	}
	if want := b.Lease.CreatedAt.Add(2 * time.Minute); !back.CooldownUntil.Equal(want) {
		t.Fatalf("CooldownUntil %v; want %v", back.CooldownUntil, want)
	}
	if _, err := svc.Heartbeat(ctx, uid, b.Lease.ID, lease.HeartbeatRequest{}); err != nil {
		t.Fatalf("b was disturbed: %v", err)
	}
	// A third device without a cooldown may still evict.
	clock.Advance(5 * time.Second)
	c := grant(t, svc, uid, lease.Request{DeviceID: "c"})
	if len(c.Evicted) != 1 || c.Evicted[0].DeviceID != "b" {
		t.Fatalf("c = %+v; want b evicted", c)
	}
	// After the cooldown, a may evict again.
	for range 2 {
		clock.Advance(time.Minute)
		if _, err := svc.Heartbeat(ctx, uid, c.Lease.ID, lease.HeartbeatRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if d := grant(t, svc, uid, lease.Request{DeviceID: "a"}); len(d.Evicted) != 1 || d.Evicted[0].DeviceID != "c" {
		t.Fatalf("a after the cooldown = %+v; want c evicted", d)
	}
}

func testTombstones(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	store := h.NewStore(t)
	svc := NewService(t, store, clock, lease.WithEvictCooldown(time.Minute))
	uid := UID(t, "u")
	d := grant(t, svc, uid, lease.Request{})
	if _, err := svc.EndAll(ctx, uid, lease.RevokedKicked); err != nil {
		t.Fatal(err)
	}
	if _, ok := stored(t, store, uid, d.Lease.ID); !ok {
		t.Fatal("the tombstone is gone at once; the player could not learn why")
	}
	clock.Advance(svc.LeaseTTL() + time.Second) // past max(TTL, cooldown)
	if _, err := svc.Heartbeat(ctx, uid, d.Lease.ID, lease.HeartbeatRequest{}); err == nil {
		t.Fatal("a collected tombstone was renewed")
	}
	grant(t, svc, uid, lease.Request{})
	if _, ok := stored(t, store, uid, d.Lease.ID); ok {
		t.Fatal("the grant did not reclaim the expired tombstone")
	}
}
