package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// A grant reports how many expired, never-ended leases it deleted (the
// LeasesExpired metric): ended leases and revoked tombstones do not count.
func TestDecisionReclaimedCountsOnlyVanishedPlayers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, memstore.New(), clock, lease.WithMaxStreams(5))
	uid := leasetest.UID(t, "reclaimed")
	must := func(d lease.Decision, err error) lease.Decision {
		t.Helper()
		if err != nil || !d.Granted {
			t.Fatalf("canStream: %+v, %v", d, err)
		}
		return d
	}

	crashed1 := must(svc.CanStream(ctx, uid, lease.Request{DeviceID: "crashed-1"}))
	must(svc.CanStream(ctx, uid, lease.Request{DeviceID: "crashed-2"}))
	ended := must(svc.CanStream(ctx, uid, lease.Request{DeviceID: "ended"}))
	kicked := must(svc.CanStream(ctx, uid, lease.Request{DeviceID: "kicked"}))
	if crashed1.Reclaimed != 0 {
		t.Fatalf("first grant reclaimed %d, want 0", crashed1.Reclaimed)
	}
	if _, err := svc.EndStream(ctx, uid, ended.Lease.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Kick(ctx, uid, kicked.Lease.Handle, lease.RevokedKicked); err != nil {
		t.Fatal(err)
	}
	// Past every lease's TTL and the tombstone's keep time: crashed-1 and
	// crashed-2 expired without an end; the kicked one is a tombstone.
	clock.Advance(lease.DefaultLeaseTTL + lease.DefaultEvictCooldown + time.Second)

	d := must(svc.CanStream(ctx, uid, lease.Request{DeviceID: "new"}))
	if d.Reclaimed != 2 {
		t.Fatalf("Reclaimed = %d, want 2 (two crashed players; not the ended lease nor the tombstone)", d.Reclaimed)
	}
	if d2 := must(svc.CanStream(ctx, uid, lease.Request{DeviceID: "newer"})); d2.Reclaimed != 0 {
		t.Fatalf("a second grant reclaimed %d again", d2.Reclaimed)
	}
}
