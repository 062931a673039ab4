package leasetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// tokenTests are the renewal-token cases of the suite: a heartbeat that
// brings back a valid token with enough time left touches the store not at
// all, and nothing else ever skips the write.
var tokenTests = []struct {
	name string
	fn   func(*testing.T, Harness)
}{
	{"TokenSkipsEveryOtherWrite", testTokenSkips},
	{"TamperedTokensNeverSkip", testTamperedTokens},
	{"SkipIsBoundedByTheToken", testSkipBounded},
	{"TokenKeyRotation", testTokenKeyRotation},
}

// Counter wraps a lease.Store and counts the calls that reach it. Safe for
// concurrent use.
type Counter struct {
	lease.Store
	calls, renews atomic.Int64
}

// NewCounter wraps s.
func NewCounter(s lease.Store) *Counter { return &Counter{Store: s} }

// Calls returns how many calls reached the store.
func (c *Counter) Calls() int64 { return c.calls.Load() }

// Renews returns how many Renew calls reached the store.
func (c *Counter) Renews() int64 { return c.renews.Load() }

// Load implements lease.Store.
func (c *Counter) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	c.calls.Add(1)
	return c.Store.Load(ctx, uid, consistent)
}

// Commit implements lease.Store.
func (c *Counter) Commit(ctx context.Context, uid string, ch lease.Change) error {
	c.calls.Add(1)
	return c.Store.Commit(ctx, uid, ch)
}

// Reclaim implements lease.Store.
func (c *Counter) Reclaim(ctx context.Context, uid string, leases []lease.Lease) error {
	c.calls.Add(1)
	return c.Store.Reclaim(ctx, uid, leases)
}

// Renew implements lease.Store.
func (c *Counter) Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (lease.Lease, error) {
	c.calls.Add(1)
	c.renews.Add(1)
	return c.Store.Renew(ctx, uid, leaseID, now, expiresAt)
}

// Release implements lease.Store.
func (c *Counter) Release(ctx context.Context, uid, leaseID string, now time.Time) (bool, error) {
	c.calls.Add(1)
	return c.Store.Release(ctx, uid, leaseID, now)
}

// Revoke implements lease.Store.
func (c *Counter) Revoke(ctx context.Context, uid string, rs []lease.Revocation) error {
	c.calls.Add(1)
	return c.Store.Revoke(ctx, uid, rs)
}

// SetLimit implements lease.Store.
func (c *Counter) SetLimit(ctx context.Context, uid string, limit int) error {
	c.calls.Add(1)
	return c.Store.SetLimit(ctx, uid, limit)
}

// SetPolicy implements lease.Store.
func (c *Counter) SetPolicy(ctx context.Context, uid string, p lease.Policy) error {
	c.calls.Add(1)
	return c.Store.SetPolicy(ctx, uid, p)
}

// Ping implements lease.Store.
func (c *Counter) Ping(ctx context.Context) error {
	c.calls.Add(1)
	return c.Store.Ping(ctx)
}

// beat sends one heartbeat of id with token and reports what it answered
// and how many store calls it made.
func beat(t *testing.T, svc *lease.Service, c *Counter, uid, id string, req lease.HeartbeatRequest) (lease.Renewal, int64, error) {
	t.Helper()
	before := c.Calls()
	r, err := svc.Heartbeat(context.Background(), uid, id, req)
	return r, c.Calls() - before, err
}

// testTokenSkips: at the default settings (TTL 100 s, interval 30 s,
// renew-below 65 s) a player that sends back its tokens writes on every
// other heartbeat; the skipped ones touch the store not at all and change
// nothing in it. Without a token, or with skipping off, every heartbeat
// writes.
func testTokenSkips(t *testing.T, h Harness) {
	clock := NewClock()
	store := NewCounter(h.NewStore(t))
	svc := NewService(t, store, clock)
	if svc.LeaseTTL() != 100*time.Second || svc.HeartbeatInterval() != 30*time.Second || svc.RenewBelow() != 65*time.Second {
		t.Fatalf("defaults: TTL %v, interval %v, renew-below %v; want 100 s, 30 s, 65 s", svc.LeaseTTL(), svc.HeartbeatInterval(), svc.RenewBelow())
	}
	uid := UID(t, "u")
	d := grant(t, svc, uid, lease.Request{})
	if d.Token == "" {
		t.Fatal("a grant issued no renewal token")
	}
	token, exp := d.Token, d.Lease.ExpiresAt
	const beats = 20
	writes := int64(0)
	for i := 1; i <= beats; i++ {
		clock.Advance(svc.HeartbeatInterval())
		before, _ := stored(t, store.Store, uid, d.Lease.ID)
		r, calls, err := beat(t, svc, store, uid, d.Lease.ID, lease.HeartbeatRequest{Token: token})
		after, _ := stored(t, store.Store, uid, d.Lease.ID)
		switch {
		case err != nil:
			t.Fatalf("heartbeat %d: %v", i, err)
		case i%2 == 1: // 70 s left: answered from the token
			if !r.Skipped || calls != 0 || !r.Lease.ExpiresAt.Equal(exp) || r.Token != token || r.Lease.ID != d.Lease.ID {
				t.Fatalf("heartbeat %d with %v left = %+v after %d store calls; want skipped, no call, expiry %v, same token",
					i, exp.Sub(clock.Now()), r, calls, exp)
			}
			if after != before {
				t.Fatalf("heartbeat %d was skipped but the item changed: %+v -> %+v", i, before, after)
			}
		default: // 40 s left: renewed with one write
			want := clock.Now().Add(svc.LeaseTTL())
			if r.Skipped || calls != 1 || r.Lease.ExpiresAt.Before(want) || r.Token == "" || r.Token == token {
				t.Fatalf("heartbeat %d with %v left = %+v after %d store calls; want one write to ≥ %v and a new token",
					i, exp.Sub(clock.Now()), r, calls, want)
			}
			if !after.ExpiresAt.Equal(r.Lease.ExpiresAt) {
				t.Fatalf("heartbeat %d answered expiry %v, stored %v", i, r.Lease.ExpiresAt, after.ExpiresAt)
			}
			writes += calls
			token, exp = r.Token, r.Lease.ExpiresAt
		}
	}
	if writes*2 > beats {
		t.Fatalf("%d writes for %d heartbeats; want at most one in two", writes, beats)
	}

	// Without a token, every heartbeat writes.
	for range 3 {
		clock.Advance(time.Second)
		if r, calls, err := beat(t, svc, store, uid, d.Lease.ID, lease.HeartbeatRequest{}); err != nil || r.Skipped || calls != 1 {
			t.Fatalf("heartbeat without a token = %+v, %v after %d calls; want one write", r, err, calls)
		}
	}
	// Renew-below 0: every heartbeat writes, token or not.
	off := NewService(t, store, clock, lease.WithRenewBelow(0))
	e := grant(t, off, uid, lease.Request{})
	clock.Advance(time.Second)
	if r, calls, err := beat(t, off, store, uid, e.Lease.ID, lease.HeartbeatRequest{Token: e.Token}); err != nil || r.Skipped || calls != 1 {
		t.Fatalf("heartbeat with renew-below 0 = %+v, %v after %d calls; want one write", r, err, calls)
	}
}

// testTamperedTokens: a token changed in any byte, issued for another
// lease, uid or scope, or under another key, or not a token at all, never
// skips the write.
func testTamperedTokens(t *testing.T, h Harness) {
	clock := NewClock()
	store := NewCounter(h.NewStore(t))
	key := bytes.Repeat([]byte("s"), lease.MinTokenKeyLen)
	svc := NewService(t, store, clock, lease.WithTokenKeys(key))
	// One lease id for two accounts (twin shares svc's key): a token of
	// (uid, id) must not serve (other, id).
	const fixed = "5f0c7d3e-8a41-4b6e-9c2d-7e1f0a3b4c5d"
	twin := NewService(t, store, clock, lease.WithTokenKeys(key), lease.WithIDGenerator(func() (string, error) { return fixed, nil }))
	uid, other := UID(t, "u"), UID(t, "other")
	a := grant(t, twin, uid, lease.Request{})
	o := grant(t, twin, other, lease.Request{})
	b := grant(t, svc, uid, lease.Request{})
	foreign := grant(t, NewService(t, store, clock), uid, lease.Request{}) // another (random) key
	// A token issued for connection c1 (the WebSocket scope).
	scoped, err := svc.Heartbeat(context.Background(), uid, a.Lease.ID, lease.HeartbeatRequest{Scope: "c1"})
	if err != nil || scoped.Token == "" || scoped.Token == a.Token {
		t.Fatalf("heartbeat in scope c1 = %+v, %v; want a new token", scoped, err)
	}
	// Every token above shows 95 s left: a genuine one would skip.
	clock.Advance(5 * time.Second)

	raw, err := base64.RawURLEncoding.DecodeString(a.Token)
	if err != nil {
		t.Fatalf("token %q is not base64url: %v", a.Token, err)
	}
	type attempt struct {
		name    string
		uid, id string
		req     lease.HeartbeatRequest
	}
	var attempts []attempt
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			m := bytes.Clone(raw)
			m[i] ^= bit
			attempts = append(attempts, attempt{"byte changed", uid, a.Lease.ID, lease.HeartbeatRequest{Token: base64.RawURLEncoding.EncodeToString(m)}})
		}
	}
	attempts = append(attempts,
		attempt{"truncated", uid, a.Lease.ID, lease.HeartbeatRequest{Token: a.Token[:len(a.Token)-1]}},
		attempt{"extended", uid, a.Lease.ID, lease.HeartbeatRequest{Token: a.Token + "A"}},
		attempt{"padded", uid, a.Lease.ID, lease.HeartbeatRequest{Token: a.Token + "=="}},
		attempt{"not base64", uid, a.Lease.ID, lease.HeartbeatRequest{Token: "!" + a.Token[1:]}},
		attempt{"long", uid, a.Lease.ID, lease.HeartbeatRequest{Token: strings.Repeat(a.Token, 40)}},
		attempt{"other lease's token", uid, a.Lease.ID, lease.HeartbeatRequest{Token: b.Token}},
		attempt{"token for another uid", other, o.Lease.ID, lease.HeartbeatRequest{Token: a.Token}},
		attempt{"another key", uid, foreign.Lease.ID, lease.HeartbeatRequest{Token: foreign.Token}},
		attempt{"scope c1 used over HTTP", uid, a.Lease.ID, lease.HeartbeatRequest{Token: scoped.Token}},
		attempt{"scope c1 used on c2", uid, a.Lease.ID, lease.HeartbeatRequest{Token: scoped.Token, Scope: "c2"}},
		attempt{"HTTP token on c1", uid, a.Lease.ID, lease.HeartbeatRequest{Token: a.Token, Scope: "c1"}},
	)
	for _, at := range attempts {
		r, calls, err := beat(t, svc, store, at.uid, at.id, at.req)
		if r.Skipped || calls != 1 {
			t.Fatalf("%s (%q): %+v, %v after %d store calls; want the write path", at.name, at.req.Token, r, err, calls)
		}
		if err != nil {
			t.Fatalf("%s: %v; want a renewal of the live lease", at.name, err)
		}
	}
	// The genuine tokens still skip.
	for _, at := range []attempt{
		{"genuine", uid, a.Lease.ID, lease.HeartbeatRequest{Token: a.Token}},
		{"genuine, scope c1", uid, a.Lease.ID, lease.HeartbeatRequest{Token: scoped.Token, Scope: "c1"}},
		{"genuine, other uid", other, o.Lease.ID, lease.HeartbeatRequest{Token: o.Token}},
	} {
		if r, calls, err := beat(t, svc, store, at.uid, at.id, at.req); err != nil || !r.Skipped || calls != 0 {
			t.Fatalf("%s: %+v, %v after %d calls; want skipped", at.name, r, err, calls)
		}
	}
	if svc.ValidToken(uid, a.Lease.ID, lease.HeartbeatRequest{Token: b.Token}) || !svc.ValidToken(uid, a.Lease.ID, lease.HeartbeatRequest{Token: a.Token}) {
		t.Fatal("ValidToken disagrees with Heartbeat")
	}
}

// testSkipIsBoundedByTheToken: a lease kicked, ended or taken over after
// its token was issued is still answered from the token while the token
// shows at least the threshold left (the documented delay), never after:
// the next heartbeat writes and tells the player. A token past its expiry
// never revives the lease. A skip never changes the store.
func testSkipBounded(t *testing.T, h Harness) {
	ctx := context.Background()
	clock := NewClock()
	store := NewCounter(h.NewStore(t))
	svc := NewService(t, store, clock)
	uid := UID(t, "u")
	kicked := grant(t, svc, uid, lease.Request{DeviceID: "kicked"})
	ended := grant(t, svc, uid, lease.Request{DeviceID: "ended"})
	taken := grant(t, svc, uid, lease.Request{DeviceID: "tv", DeviceSecret: "tv-secret-0123456789"})
	if _, err := svc.EndStream(ctx, uid, ended.Lease.ID); err != nil {
		t.Fatal(err)
	}
	l, err := svc.List(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Sessions {
		if s.DeviceID == "kicked" {
			if _, err := svc.Kick(ctx, uid, s.Handle, lease.RevokedKicked); err != nil {
				t.Fatal(err)
			}
		}
	}
	again := grant(t, svc, uid, lease.Request{DeviceID: "tv", DeviceSecret: "tv-secret-0123456789"})
	if !again.Resumed {
		t.Fatalf("takeover = %+v; want resumed", again)
	}
	cases := []struct {
		name string
		d    lease.Decision
		want func(error) bool
	}{
		{"kicked", kicked, func(err error) bool { return revokedReason(err) == lease.RevokedKicked }},
		{"ended", ended, func(err error) bool { return errors.Is(err, lease.ErrLeaseExpired) }},
		{"taken over", taken, func(err error) bool { return revokedReason(err) == lease.RevokedSuperseded }},
	}
	acct, err := store.Store.Load(ctx, uid, true)
	if err != nil {
		t.Fatal(err)
	}
	// Second by second until the threshold: skipped, with the token's
	// expiry; from then on the write tells the player.
	for left := kicked.Lease.ExpiresAt.Sub(clock.Now()); left > svc.RenewBelow()-3*time.Second; left = kicked.Lease.ExpiresAt.Sub(clock.Now()) {
		for _, c := range cases {
			r, calls, err := beat(t, svc, store, uid, c.d.Lease.ID, lease.HeartbeatRequest{Token: c.d.Token})
			tokenLeft := c.d.Lease.ExpiresAt.Sub(clock.Now())
			if tokenLeft >= svc.RenewBelow() {
				if err != nil || !r.Skipped || calls != 0 || !r.Lease.ExpiresAt.Equal(c.d.Lease.ExpiresAt) {
					t.Fatalf("%s, token shows %v left: %+v, %v after %d calls; want skipped with the token's expiry", c.name, tokenLeft, r, err, calls)
				}
				continue
			}
			if err == nil || !c.want(err) || r.Skipped || calls != 1 {
				t.Fatalf("%s, token shows %v left (< %v): %+v, %v after %d calls; want the write to tell", c.name, tokenLeft, svc.RenewBelow(), r, err, calls)
			}
		}
		clock.Advance(time.Second)
	}
	after, err := store.Store.Load(ctx, uid, true)
	if err != nil {
		t.Fatal(err)
	}
	if !sameLeases(acct.Leases, after.Leases) {
		t.Fatalf("heartbeats of revoked and ended leases changed the store:\n%+v\n%+v", acct.Leases, after.Leases)
	}

	// A token past its lease's expiry: the write finds it expired, and the
	// item is left alone.
	fresh := grant(t, svc, uid, lease.Request{})
	before, _ := stored(t, store.Store, uid, fresh.Lease.ID)
	clock.Advance(svc.LeaseTTL() + time.Second)
	if r, calls, err := beat(t, svc, store, uid, fresh.Lease.ID, lease.HeartbeatRequest{Token: fresh.Token}); !errors.Is(err, lease.ErrLeaseExpired) || calls != 1 {
		t.Fatalf("heartbeat with an expired token = %+v, %v after %d calls; want ErrLeaseExpired from the write", r, err, calls)
	}
	if now, _ := stored(t, store.Store, uid, fresh.Lease.ID); now != before {
		t.Fatalf("a heartbeat of an expired lease changed it: %+v -> %+v", before, now)
	}
}

func sameLeases(a, b []lease.Lease) bool {
	if len(a) != len(b) {
		return false
	}
	byID := map[string]lease.Lease{}
	for _, l := range a {
		byID[l.ID] = l
	}
	for _, l := range b {
		if byID[l.ID] != l {
			return false
		}
	}
	return true
}

// testTokenKeyRotation: a service given a new key with the old one as
// previous accepts tokens of both and issues tokens under the new one; a
// service with only the new key writes for old tokens.
func testTokenKeyRotation(t *testing.T, h Harness) {
	clock := NewClock()
	store := NewCounter(h.NewStore(t))
	oldKey, newKey := bytes.Repeat([]byte("o"), lease.MinTokenKeyLen), bytes.Repeat([]byte("n"), lease.MinTokenKeyLen+8)
	before := NewService(t, store, clock, lease.WithTokenKeys(oldKey))
	during := NewService(t, store, clock, lease.WithTokenKeys(newKey, oldKey))
	after := NewService(t, store, clock, lease.WithTokenKeys(newKey))
	uid := UID(t, "u")
	d := grant(t, before, uid, lease.Request{})
	clock.Advance(10 * time.Second)
	if r, calls, err := beat(t, during, store, uid, d.Lease.ID, lease.HeartbeatRequest{Token: d.Token}); err != nil || !r.Skipped || calls != 0 {
		t.Fatalf("old token during the rotation = %+v, %v after %d calls; want skipped", r, err, calls)
	}
	if r, calls, err := beat(t, after, store, uid, d.Lease.ID, lease.HeartbeatRequest{Token: d.Token}); err != nil || r.Skipped || calls != 1 {
		t.Fatalf("old token after the rotation = %+v, %v after %d calls; want a write", r, err, calls)
	}
	e := grant(t, during, uid, lease.Request{})
	clock.Advance(10 * time.Second)
	if r, calls, err := beat(t, after, store, uid, e.Lease.ID, lease.HeartbeatRequest{Token: e.Token}); err != nil || !r.Skipped || calls != 0 {
		t.Fatalf("token issued during the rotation, after it = %+v, %v after %d calls; want skipped", r, err, calls)
	}
	if _, err := lease.New(store, lease.WithTokenKeys(newKey, []byte("short"))); err == nil {
		t.Fatal("a previous key of 5 bytes was accepted")
	}
	if _, err := lease.New(store, lease.WithTokenKeys(make([]byte, lease.MinTokenKeyLen-1))); err == nil {
		t.Fatalf("a key of %d bytes was accepted", lease.MinTokenKeyLen-1)
	}
}
