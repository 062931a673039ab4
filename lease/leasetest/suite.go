package leasetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// Harness tells the suite how to get a store under test.
type Harness struct {
	// NewStore returns a fresh, empty store for one test (a new table, for
	// DynamoDB). It is called from parallel tests.
	NewStore func(t *testing.T) lease.Store
	// ItemCount returns how many items s holds in all, live or expired.
	ItemCount func(t *testing.T, s lease.Store) int
	// RaceRounds is how many times the bound race runs; each round races
	// 100 goroutines on each of RaceUIDs uids at once (defaults 1 and 20).
	RaceRounds, RaceUIDs int
	// ModelSeeds and ModelSteps size the model-based test (default 20 x 60).
	ModelSeeds, ModelSteps int
	// AdversarySeeds and AdversarySteps size the random test under delay
	// and reordering (default 10 x 80).
	AdversarySeeds, AdversarySteps int
}

// Run runs the conformance suite against h's store.
func Run(t *testing.T, h Harness) {
	if h.RaceRounds == 0 {
		h.RaceRounds = 1
	}
	if h.RaceUIDs == 0 {
		h.RaceUIDs = 20
	}
	if h.ModelSeeds == 0 {
		h.ModelSeeds, h.ModelSteps = 20, 60
	}
	if h.AdversarySeeds == 0 {
		h.AdversarySeeds, h.AdversarySteps = 10, 80
	}
	// The 100-goroutine race runs alone, before the rest run in
	// parallel: against one DynamoDB Local process, the other tests' load
	// would turn its lock waits into 500s (which real DynamoDB never
	// answers to this) and the race would measure the machine, not the
	// store.
	t.Run("BoundUnderRace", func(t *testing.T) { testBoundUnderRace(t, h) })
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Lifecycle", testLifecycle},
		{"ExpiryWithoutTTLDeletion", testExpiryWithoutDeletion},
		{"NoResurrection", testNoResurrection},
		{"HeartbeatRacesReclaim", testHeartbeatRacesReclaim},
		{"DeviceIdempotence", testDeviceIdempotence},
		{"EndIsIdempotent", testEnd},
		{"Limits", testLimits},
		{"LimitRacesGrant", testLimitRacesGrant},
		{"BadInputWritesNothing", testBadInput},
		{"Model", testModel},
		{"ModelUnderDelayAndReordering", testAdversary},
	}
	tests = append(tests, controlTests...)
	tests = append(tests, fencingTests...)
	tests = append(tests, tokenTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// NewService returns a service over s with the clock and options given; it
// fails the test on a configuration error.
func NewService(tb testing.TB, s lease.Store, clock *Clock, opts ...lease.Option) *lease.Service {
	tb.Helper()
	all := append([]lease.Option{lease.WithClock(clock.Now)}, opts...)
	svc, err := lease.New(s, all...)
	if err != nil {
		tb.Fatalf("lease.New: %v", err)
	}
	return svc
}

// UID returns a uid unique to this test and name.
func UID(tb testing.TB, name string) string {
	tb.Helper()
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '.'
	}, tb.Name())
	if len(base) > 80 {
		base = base[len(base)-80:]
	}
	return fmt.Sprintf("%s.%s.%08x", base, name, rand.Uint32())
}

func grant(t *testing.T, svc *lease.Service, uid string, req lease.Request) lease.Decision {
	t.Helper()
	d, err := svc.CanStream(context.Background(), uid, req)
	if err != nil {
		t.Fatalf("CanStream(%s): %v", uid, err)
	}
	if !d.Granted {
		t.Fatalf("CanStream(%s) refused with %d/%d live; want granted", uid, d.StreamCount, d.MaxStreams)
	}
	return d
}

func listCount(t *testing.T, svc *lease.Service, uid string) int {
	t.Helper()
	l, err := svc.List(context.Background(), uid)
	if err != nil {
		t.Fatalf("List(%s): %v", uid, err)
	}
	if len(l.Sessions) != l.StreamCount {
		t.Fatalf("List(%s): %d sessions but StreamCount %d", uid, len(l.Sessions), l.StreamCount)
	}
	return l.StreamCount
}

func stored(t *testing.T, s lease.Store, uid, leaseID string) (lease.Lease, bool) {
	t.Helper()
	acct, err := s.Load(context.Background(), uid, true)
	if err != nil {
		t.Fatalf("Load(%s): %v", uid, err)
	}
	for _, l := range acct.Leases {
		if l.ID == leaseID {
			return l, true
		}
	}
	return lease.Lease{}, false
}

func testLifecycle(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock)
	uid := UID(t, "u")

	var ids []string
	for i := 1; i <= 3; i++ {
		d := grant(t, svc, uid, lease.Request{DeviceID: fmt.Sprint("dev", i), Client: lease.Client{Title: "Movie"}})
		if d.StreamCount != i || d.MaxStreams != 3 || d.HeartbeatInterval != 30*time.Second {
			t.Fatalf("grant %d: count %d max %d interval %v", i, d.StreamCount, d.MaxStreams, d.HeartbeatInterval)
		}
		if !lease.ValidLeaseID(d.Lease.ID) {
			t.Fatalf("grant %d: lease id %q is not a canonical UUID", i, d.Lease.ID)
		}
		if want := clock.Now().Add(svc.LeaseTTL()); d.Lease.ExpiresAt.Before(want) || d.Lease.ExpiresAt.After(want.Add(time.Second)) {
			t.Fatalf("grant %d: expiresAt %v, want within a second after %v", i, d.Lease.ExpiresAt, want)
		}
		ids = append(ids, d.Lease.ID)
		clock.Advance(time.Second)
	}
	refused, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "dev4"})
	if err != nil || refused.Granted || refused.StreamCount != 3 || len(refused.Sessions) != 3 {
		t.Fatalf("4th CanStream = %+v, %v; want refused with 3 sessions", refused, err)
	}
	for i, s := range refused.Sessions {
		if s.DeviceID != fmt.Sprint("dev", i+1) || s.Client.Title != "Movie" {
			t.Fatalf("session %d = %+v; want dev%d watching Movie, oldest first", i, s, i+1)
		}
	}

	clock.Advance(20 * time.Second)
	r, err := svc.Heartbeat(ctx, uid, ids[0], lease.HeartbeatRequest{})
	if err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if want := clock.Now().Add(svc.LeaseTTL()); r.Lease.ExpiresAt.Before(want) || r.Skipped || r.Token == "" || r.Lease.ID != ids[0] {
		t.Fatalf("Heartbeat = %+v; want a renewal to ≥ %v with a token", r, want)
	}

	rel, err := svc.EndStream(ctx, uid, ids[1])
	if err != nil || !rel.Removed || rel.StreamCount != 2 {
		t.Fatalf("EndStream = %+v, %v; want removed, count 2", rel, err)
	}
	rel, err = svc.EndStream(ctx, uid, ids[1])
	if err != nil || rel.Removed || rel.StreamCount != 2 {
		t.Fatalf("second EndStream = %+v, %v; want not removed, count 2", rel, err)
	}
	if _, err := svc.Heartbeat(ctx, uid, ids[1], lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("Heartbeat of ended lease: %v; want ErrLeaseExpired", err)
	}
	d := grant(t, svc, uid, lease.Request{DeviceID: "dev4"})
	if d.StreamCount != 3 {
		t.Fatalf("grant after end: count %d; want 3", d.StreamCount)
	}
}

func testBoundUnderRace(t *testing.T, h Harness) {
	const racers, limit = 100, 3
	uids := h.RaceUIDs
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock, lease.WithMaxStreams(limit))
	for round := range h.RaceRounds {
		type result struct {
			granted bool
			id      string
			err     error
		}
		results := make([][]result, uids)
		names := make([]string, uids)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for u := range uids {
			names[u] = UID(t, fmt.Sprintf("r%du%d", round, u))
			results[u] = make([]result, racers)
			for r := range racers {
				wg.Go(func() {
					<-start
					d, err := svc.CanStream(context.Background(), names[u], lease.Request{})
					results[u][r] = result{d.Granted, d.Lease.ID, err}
				})
			}
		}
		close(start)
		wg.Wait()
		for u := range uids {
			granted := map[string]bool{}
			for _, r := range results[u] {
				if r.err != nil {
					t.Fatalf("round %d uid %d: CanStream error %v; want grant or refusal", round, u, r.err)
				}
				if r.granted {
					granted[r.id] = true
				}
			}
			if len(granted) != limit {
				t.Fatalf("round %d uid %d: %d leases granted; want exactly %d", round, u, len(granted), limit)
			}
			if n := listCount(t, svc, names[u]); n != limit {
				t.Fatalf("round %d uid %d: List shows %d; want %d", round, u, n, limit)
			}
		}
	}
}

func testExpiryWithoutDeletion(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	store := h.NewStore(t)
	svc := NewService(t, store, clock)
	uid := UID(t, "u")
	var ids []string
	for range 3 {
		ids = append(ids, grant(t, svc, uid, lease.Request{}).Lease.ID)
	}
	clock.Advance(svc.LeaseTTL() + time.Second)
	for _, id := range ids {
		if _, ok := stored(t, store, uid, id); !ok {
			t.Fatalf("lease %s vanished from the store; this test needs it stored but expired", id)
		}
	}
	l, err := svc.List(ctx, uid)
	if err != nil || l.StreamCount != 0 || len(l.Sessions) != 0 {
		t.Fatalf("List after expiry = %+v, %v; want nothing live", l, err)
	}
	for i := 1; i <= 3; i++ {
		if d := grant(t, svc, uid, lease.Request{}); d.StreamCount != i {
			t.Fatalf("grant %d after expiry: count %d", i, d.StreamCount)
		}
	}
	if d, err := svc.CanStream(ctx, uid, lease.Request{}); err != nil || d.Granted {
		t.Fatalf("4th grant after expiry = %+v, %v; want refused", d, err)
	}
	for _, id := range ids {
		if _, ok := stored(t, store, uid, id); ok {
			t.Fatalf("expired lease %s was not reclaimed by the grants", id)
		}
	}
}

func testNoResurrection(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	store := h.NewStore(t)
	svc := NewService(t, store, clock)
	uid := UID(t, "u")
	id := grant(t, svc, uid, lease.Request{}).Lease.ID
	before, _ := stored(t, store, uid, id)

	clock.Advance(svc.LeaseTTL() + time.Second) // past expiresAt
	if _, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("Heartbeat after expiry: %v; want ErrLeaseExpired", err)
	}
	after, ok := stored(t, store, uid, id)
	if !ok || !after.ExpiresAt.Equal(before.ExpiresAt) || !after.RenewedAt.Equal(before.RenewedAt) {
		t.Fatalf("failed heartbeat changed the item: before %+v after %+v (stored %v)", before, after, ok)
	}
	if rel, err := svc.EndStream(ctx, uid, id); err != nil || rel.Removed {
		t.Fatalf("EndStream of expired lease = %+v, %v; want not removed", rel, err)
	}
	if n := listCount(t, svc, uid); n != 0 {
		t.Fatalf("List after failed heartbeat: %d live; want 0", n)
	}
}

// testHeartbeatRacesReclaim races heartbeats from an instance with a slow
// clock (its leases look live) against grants from an instance with a fast
// clock (the same leases look expired and get reclaimed). Whatever wins, no
// clock may ever see more than the limit live.
func testHeartbeatRacesReclaim(t *testing.T, h Harness) {
	ctx := context.Background()
	store := h.NewStore(t)
	slow := NewClock()
	fast := NewClock()
	a := NewService(t, store, slow)
	b := NewService(t, store, fast)
	fast.Advance(a.LeaseTTL() + 5*time.Second)
	for round := range 5 {
		uid := UID(t, fmt.Sprint("r", round))
		var ids []string
		for range 3 {
			ids = append(ids, grant(t, a, uid, lease.Request{}).Lease.ID)
		}
		var wg sync.WaitGroup
		hbErrs := make([]error, 3*len(ids))
		grants := make([]lease.Decision, 3)
		grantErrs := make([]error, 3)
		for i := range hbErrs {
			wg.Go(func() { _, hbErrs[i] = a.Heartbeat(ctx, uid, ids[i%len(ids)], lease.HeartbeatRequest{}) })
		}
		for i := range grants {
			wg.Go(func() { grants[i], grantErrs[i] = b.CanStream(ctx, uid, lease.Request{}) })
		}
		wg.Wait()
		for i, err := range hbErrs {
			if err != nil && !errors.Is(err, lease.ErrLeaseExpired) {
				t.Fatalf("heartbeat %d: %v", i, err)
			}
		}
		for i, err := range grantErrs {
			if err != nil {
				t.Fatalf("grant %d: %v", i, err)
			}
		}
		for _, svc := range []*lease.Service{a, b} {
			if n := listCount(t, svc, uid); n > 3 {
				t.Fatalf("round %d: %d live leases; limit 3", round, n)
			}
		}
		// From the slow clock's view, leases it still holds plus leases
		// the fast instance granted must fit in the limit.
		acct, err := store.Load(ctx, uid, true)
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, l := range acct.Leases {
			if l.LiveAt(slow.Now()) {
				live++
			}
		}
		if live > 3 {
			t.Fatalf("round %d: %d stored leases live by the slow clock; limit 3", round, live)
		}
	}
}

// testDeviceIdempotence: CanStream retried by a player that proves it
// holds its lease (here, its device secret) never uses a second slot, even
// when the calls race; each answer is a fresh lease id and only the last
// one committed is renewable. A device id without the secret proves
// nothing: players that share it do not share a slot.
func testDeviceIdempotence(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock)
	uid := UID(t, "u")
	const n = 20
	decisions := make([]lease.Decision, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	req := lease.Request{DeviceID: "tv-livingroom", DeviceSecret: "c2VjcmV0LW9mLXRoZS10dg"}
	for i := range n {
		wg.Go(func() {
			<-start
			decisions[i], errs[i] = svc.CanStream(ctx, uid, req)
		})
	}
	close(start)
	wg.Wait()
	ids := map[string]bool{}
	for i := range n {
		if errs[i] != nil || !decisions[i].Granted {
			t.Fatalf("call %d = %+v, %v; want granted", i, decisions[i], errs[i])
		}
		if ids[decisions[i].Lease.ID] {
			t.Fatalf("lease id %s handed out twice", decisions[i].Lease.ID)
		}
		ids[decisions[i].Lease.ID] = true
	}
	if c := listCount(t, svc, uid); c != 1 {
		t.Fatalf("count %d; want 1", c)
	}
	renewable := 0
	for id := range ids {
		_, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{})
		switch {
		case err == nil:
			renewable++
		case revokedReason(err) != lease.RevokedSuperseded:
			t.Fatalf("heartbeat of a taken-over lease: %v; want revoked (superseded)", err)
		}
	}
	if renewable != 1 {
		t.Fatalf("%d of the device's lease ids renewable; want exactly 1", renewable)
	}
	// A different device still gets its own slot.
	if d := grant(t, svc, uid, lease.Request{DeviceID: "phone"}); d.StreamCount != 2 || d.Resumed {
		t.Fatalf("other device: %+v; want a new lease, count 2", d)
	}
	// Players that only share a device id race for the one slot left.
	shared := UID(t, "shared")
	granted := map[string]bool{}
	for i := range n {
		wg.Go(func() { decisions[i], errs[i] = svc.CanStream(ctx, shared, lease.Request{DeviceID: "tv-livingroom"}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("shared device id call %d: %v", i, errs[i])
		}
		if decisions[i].Granted {
			granted[decisions[i].Lease.ID] = true
		}
	}
	if len(granted) != 3 || listCount(t, svc, shared) != 3 {
		t.Fatalf("%d players sharing one device id got %d distinct leases; want one slot each, 3 in all", n, len(granted))
	}
}

func testEnd(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	store := h.NewStore(t)
	svc := NewService(t, store, clock)
	alice, bob := UID(t, "alice"), UID(t, "bob")
	aliceLease := grant(t, svc, alice, lease.Request{}).Lease.ID
	grant(t, svc, bob, lease.Request{})

	rel, err := svc.EndStream(ctx, bob, aliceLease)
	if err != nil || rel.Removed || rel.StreamCount != 1 {
		t.Fatalf("bob ends alice's lease: %+v, %v; want not removed, bob's count 1", rel, err)
	}
	if _, ok := stored(t, store, alice, aliceLease); !ok {
		t.Fatal("alice's lease was deleted by bob's EndStream")
	}
	if _, err := svc.Heartbeat(ctx, bob, aliceLease, lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("bob heartbeats alice's lease: %v; want ErrLeaseExpired", err)
	}
	if _, err := svc.Heartbeat(ctx, alice, aliceLease, lease.HeartbeatRequest{}); err != nil {
		t.Fatalf("alice's own heartbeat: %v", err)
	}
	unknown := "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a"
	if rel, err := svc.EndStream(ctx, alice, unknown); err != nil || rel.Removed {
		t.Fatalf("EndStream unknown = %+v, %v", rel, err)
	}
	for i, want := range []bool{true, false, false} {
		rel, err := svc.EndStream(ctx, alice, aliceLease)
		if err != nil || rel.Removed != want || rel.StreamCount != 0 {
			t.Fatalf("EndStream #%d = %+v, %v; want removed=%v count 0", i+1, rel, err, want)
		}
	}
}

func testLimits(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock)
	uid := UID(t, "u")
	if err := svc.SetLimit(ctx, uid, 1); err != nil {
		t.Fatal(err)
	}
	d := grant(t, svc, uid, lease.Request{})
	if d.MaxStreams != 1 {
		t.Fatalf("MaxStreams %d; want 1", d.MaxStreams)
	}
	if d2, err := svc.CanStream(ctx, uid, lease.Request{}); err != nil || d2.Granted || d2.MaxStreams != 1 {
		t.Fatalf("second grant under limit 1 = %+v, %v; want refused", d2, err)
	}

	// Raise to 4, fill, then lower to 2: nobody is evicted, all renewable.
	if err := svc.SetLimit(ctx, uid, 4); err != nil {
		t.Fatal(err)
	}
	ids := []string{d.Lease.ID}
	for range 3 {
		ids = append(ids, grant(t, svc, uid, lease.Request{}).Lease.ID)
	}
	if err := svc.SetLimit(ctx, uid, 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(60 * time.Second)
	for _, id := range ids {
		if _, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{}); err != nil {
			t.Fatalf("heartbeat after lowering the limit: %v", err)
		}
	}
	l, err := svc.List(ctx, uid)
	if err != nil || l.StreamCount != 4 || l.MaxStreams != 2 {
		t.Fatalf("List = %+v, %v; want 4 live under limit 2", l, err)
	}
	if d, err := svc.CanStream(ctx, uid, lease.Request{}); err != nil || d.Granted {
		t.Fatalf("grant over lowered limit = %+v, %v; want refused", d, err)
	}
	for _, id := range ids[:3] {
		if _, err := svc.EndStream(ctx, uid, id); err != nil {
			t.Fatal(err)
		}
	}
	grant(t, svc, uid, lease.Request{}) // 1 live < 2
	if err := svc.ClearLimit(ctx, uid); err != nil {
		t.Fatal(err)
	}
	d = grant(t, svc, uid, lease.Request{})
	if d.MaxStreams != 3 || d.StreamCount != 3 {
		t.Fatalf("after ClearLimit: %+v; want default limit 3 and count 3", d)
	}
}

// testLimitRacesGrant lowers a limit while grants race: once SetLimit has
// returned, no grant decided under the old limit may still commit.
func testLimitRacesGrant(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	svc := NewService(t, h.NewStore(t), clock, lease.WithMaxStreams(10))
	for round := range 5 {
		uid := UID(t, fmt.Sprint("r", round))
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Go(func() { _, errs[i] = svc.CanStream(ctx, uid, lease.Request{}) })
		}
		var setErr error
		wg.Go(func() { setErr = svc.SetLimit(ctx, uid, 1) })
		wg.Wait()
		if setErr != nil {
			t.Fatal(setErr)
		}
		for _, err := range errs {
			if err != nil {
				t.Fatalf("CanStream: %v", err)
			}
		}
		before := listCount(t, svc, uid)
		d, err := svc.CanStream(ctx, uid, lease.Request{})
		if err != nil || (d.Granted && before >= 1) {
			t.Fatalf("after SetLimit(1) with %d live: grant = %+v, %v; want refused", before, d, err)
		}
	}
}

func testBadInput(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	store := h.NewStore(t)
	svc := NewService(t, store, clock)
	uid := UID(t, "u")
	id := grant(t, svc, uid, lease.Request{DeviceID: "d"}).Lease.ID
	items := h.ItemCount(t, store)

	good := "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a"
	badUIDs := []string{"", strings.Repeat("a", 129), "a b", "a/b", "a#b", "ünï", "a\x00", "lease#x", "a?b", ".", "..", "..."}
	badLeases := []string{"", "x", strings.ToUpper(good), "{" + good + "}", "urn:uuid:" + good, good[:35], good + "0", strings.ReplaceAll(good, "-", "")}
	type call struct {
		name string
		err  error
		want error
	}
	var calls []call
	for _, u := range badUIDs {
		_, e1 := svc.CanStream(ctx, u, lease.Request{})
		_, e2 := svc.Heartbeat(ctx, u, good, lease.HeartbeatRequest{})
		_, e3 := svc.EndStream(ctx, u, good)
		_, e4 := svc.List(ctx, u)
		e5 := svc.SetLimit(ctx, u, 2)
		e6 := svc.ClearLimit(ctx, u)
		for i, e := range []error{e1, e2, e3, e4, e5, e6} {
			calls = append(calls, call{fmt.Sprintf("uid %q op %d", u, i), e, lease.ErrInvalidUID})
		}
	}
	for _, l := range badLeases {
		_, e1 := svc.Heartbeat(ctx, uid, l, lease.HeartbeatRequest{})
		_, e2 := svc.EndStream(ctx, uid, l)
		calls = append(calls, call{fmt.Sprintf("heartbeat %q", l), e1, lease.ErrInvalidLeaseID},
			call{fmt.Sprintf("end %q", l), e2, lease.ErrInvalidLeaseID})
	}
	for _, dev := range []string{strings.Repeat("d", 129), "tv 1", "tv/1", "d\n", ".", ".."} {
		_, e := svc.CanStream(ctx, uid, lease.Request{DeviceID: dev})
		calls = append(calls, call{fmt.Sprintf("device %q", dev), e, lease.ErrInvalidDeviceID})
	}
	for _, c := range []lease.Client{{UserAgent: strings.Repeat("u", 513)}, {UserAgent: strings.Repeat("u", 300), Title: strings.Repeat("t", 213)}, {Title: "\xff\xfe"}} {
		_, e := svc.CanStream(ctx, uid, lease.Request{Client: c})
		calls = append(calls, call{fmt.Sprintf("client %d bytes", len(c.UserAgent)+len(c.Title)), e, lease.ErrInvalidClient})
	}
	for _, n := range []int{0, -1, lease.MaxLimit + 1} {
		calls = append(calls, call{fmt.Sprintf("limit %d", n), svc.SetLimit(ctx, uid, n), lease.ErrInvalidLimit})
	}
	for _, c := range calls {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: error %v; want %v", c.name, c.err, c.want)
		}
	}
	if got := h.ItemCount(t, store); got != items {
		t.Fatalf("bad input changed the store: %d items, had %d", got, items)
	}
	if l, ok := stored(t, store, uid, id); !ok || l.DeviceID != "d" {
		t.Fatalf("the valid lease changed: %+v %v", l, ok)
	}
	// The largest valid inputs are accepted.
	maxUID := strings.Repeat("Az09-_.:@+=", 12)[:128]
	grant(t, svc, maxUID, lease.Request{DeviceID: maxUID, Client: lease.Client{UserAgent: strings.Repeat("u", 256), Title: strings.Repeat("t", 256)}})
}
