// Package wsconntest is the conformance suite every wsconn.ConnStore runs,
// together with a lease store over the same backend: it checks the store's
// contract and the wsconn.Service behaviour built on it (acquire, resume,
// stale bindings, dropped connections).
package wsconntest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/wsconn"
)

// Harness tells the suite how to get the stores under test.
type Harness struct {
	// New returns a fresh lease store and connection store over the same
	// backend (one new table, for DynamoDB). It is called from parallel
	// tests.
	New func(t *testing.T) (lease.Store, wsconn.ConnStore)
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"StoreContract", testStoreContract},
		{"ConnectHeartbeatDisconnect", testLifecycle},
		{"LimitRefusesAndBindsNothing", testRefusal},
		{"ResumeByLeaseID", testResume},
		{"ResumeExpiredAcquiresAgain", testResumeExpired},
		{"ResumeRevokedIsRefused", testResumeRevoked},
		{"StaleBindingIsHarmless", testStale},
		{"DropKeepsTheLeaseUntilTTL", testDrop},
		{"BadInputWritesNothing", testBadInput},
		{"TokenHeartbeats", testTokenHeartbeats},
	}
	tests = append(tests, takeoverTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// env is one test's service and clock.
type env struct {
	conns wsconn.ConnStore
	lsvc  *lease.Service
	svc   *wsconn.Service
	clock *leasetest.Clock
}

const (
	ttl      = 90 * time.Second
	interval = 30 * time.Second
)

func newEnv(t *testing.T, h Harness, opts ...lease.Option) *env {
	t.Helper()
	ls, cs := h.New(t)
	clock := leasetest.NewClock()
	all := append([]lease.Option{lease.WithMaxStreams(3), lease.WithLeaseTTL(ttl), lease.WithHeartbeatInterval(interval)}, opts...)
	lsvc := leasetest.NewService(t, ls, clock, all...)
	svc, err := wsconn.New(lsvc, cs, wsconn.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("wsconn.New: %v", err)
	}
	return &env{conns: cs, lsvc: lsvc, svc: svc, clock: clock}
}

// connID returns a connection id unique to this run.
func connID(name string) string { return name + "-" + uuid.NewString() }

func (e *env) connect(t *testing.T, req wsconn.ConnectRequest) wsconn.Connected {
	t.Helper()
	c, err := e.svc.Connect(context.Background(), req)
	if err != nil {
		t.Fatalf("Connect(%+v): %v", req, err)
	}
	return c
}

func (e *env) mustGrant(t *testing.T, req wsconn.ConnectRequest) wsconn.Connected {
	t.Helper()
	c := e.connect(t, req)
	if !c.Granted {
		t.Fatalf("Connect(%+v) refused at %d/%d; want granted", req, c.StreamCount, c.MaxStreams)
	}
	return c
}

func (e *env) count(t *testing.T, uid string) int {
	t.Helper()
	l, err := e.lsvc.List(context.Background(), uid)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return l.StreamCount
}

func testStoreContract(t *testing.T, h Harness) {
	_, cs := h.New(t)
	ctx := context.Background()
	now := time.Now().Add(time.Hour).Truncate(time.Second)
	a, b := connID("a"), connID("b")
	leaseID := uuid.NewString()
	if _, err := cs.Lookup(ctx, a, now); !errors.Is(err, wsconn.ErrNotBound) {
		t.Fatalf("Lookup of an unknown connection: %v, want ErrNotBound", err)
	}
	ba := wsconn.Binding{ConnID: a, UID: "u1", LeaseID: leaseID, ExpiresAt: now.Add(time.Minute)}
	if err := cs.Bind(ctx, ba); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	got, err := cs.Lookup(ctx, a, now)
	if err != nil || got != ba {
		t.Fatalf("Lookup = %+v, %v; want %+v", got, err, ba)
	}
	if _, err := cs.Lookup(ctx, a, ba.ExpiresAt); !errors.Is(err, wsconn.ErrNotBound) {
		t.Fatalf("Lookup at the binding's expiry: %v, want ErrNotBound", err)
	}
	// Each connection has its own record: binding b leaves a alone.
	bb := wsconn.Binding{ConnID: b, UID: "u1", LeaseID: uuid.NewString(), ExpiresAt: now.Add(time.Minute)}
	if err := cs.Bind(ctx, bb); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if err := cs.Unbind(ctx, ba); err != nil {
		t.Fatalf("Unbind(a): %v", err)
	}
	if _, err := cs.Lookup(ctx, a, now); !errors.Is(err, wsconn.ErrNotBound) {
		t.Fatalf("Lookup after Unbind: %v, want ErrNotBound", err)
	}
	if got, err := cs.Lookup(ctx, b, now); err != nil || got != bb {
		t.Fatalf("Lookup(b) after a's Unbind = %+v, %v; want %+v", got, err, bb)
	}
	if err := cs.Unbind(ctx, ba); err != nil {
		t.Fatalf("Unbind(a) again: %v", err)
	}
}

func testLifecycle(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	id := connID("c")
	c := e.mustGrant(t, wsconn.ConnectRequest{ConnID: id, UID: uid, DeviceID: "tv"})
	if c.Resumed || c.StreamCount != 1 || c.Lease.DeviceID != "tv" {
		t.Fatalf("Connect = %+v", c)
	}
	e.clock.Advance(ttl - time.Second)
	b, rn, err := e.svc.Heartbeat(ctx, id, "")
	if err != nil || b.LeaseID != c.Lease.ID || b.UID != uid || !rn.Lease.ExpiresAt.After(c.Lease.ExpiresAt) {
		t.Fatalf("Heartbeat = %+v, %+v, %v", b, rn, err)
	}
	e.clock.Advance(ttl - time.Second) // alive only thanks to the heartbeat
	if n := e.count(t, uid); n != 1 {
		t.Fatalf("count after a heartbeat and almost a TTL = %d, want 1", n)
	}
	cl, err := e.svc.Disconnect(ctx, id)
	if err != nil || !cl.Bound || !cl.Release.Removed || cl.Release.StreamCount != 0 {
		t.Fatalf("Disconnect = %+v, %v; want the lease ended", cl, err)
	}
	if n := e.count(t, uid); n != 0 {
		t.Fatalf("count after Disconnect = %d, want 0", n)
	}
	if _, _, err := e.svc.Heartbeat(ctx, id, ""); !errors.Is(err, wsconn.ErrNotBound) || !errors.Is(err, lease.ErrLeaseExpired) {
		t.Fatalf("Heartbeat after Disconnect: %v, want ErrNotBound (lease expired)", err)
	}
	if cl, err := e.svc.Disconnect(ctx, id); err != nil || cl.Bound {
		t.Fatalf("second Disconnect = %+v, %v; want nothing bound", cl, err)
	}
}

func testRefusal(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	var first string
	for i := range 3 {
		id := connID("c")
		if i == 0 {
			first = id
		}
		e.mustGrant(t, wsconn.ConnectRequest{ConnID: id, UID: uid})
	}
	fourth := connID("c4")
	c := e.connect(t, wsconn.ConnectRequest{ConnID: fourth, UID: uid})
	if c.Granted || c.StreamCount != 3 || c.MaxStreams != 3 {
		t.Fatalf("fourth Connect = %+v, want refused at 3/3", c)
	}
	if _, err := e.conns.Lookup(ctx, fourth, e.clock.Now()); !errors.Is(err, wsconn.ErrNotBound) {
		t.Fatalf("refused connection is bound: %v", err)
	}
	// Closing one frees the slot at once.
	if cl, err := e.svc.Disconnect(ctx, first); err != nil || !cl.Release.Removed {
		t.Fatalf("Disconnect = %+v, %v", cl, err)
	}
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: fourth, UID: uid})
}

func testResume(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("a"), UID: uid})
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("x"), UID: uid})
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("y"), UID: uid})
	// The player's connection is lost ($disconnect never came); it
	// reconnects with its lease id, at the limit.
	e.clock.Advance(ttl / 2)
	b := connID("b")
	c := e.mustGrant(t, wsconn.ConnectRequest{ConnID: b, UID: uid, LeaseID: a.Lease.ID})
	if !c.Resumed || c.Lease.ID == a.Lease.ID || c.Lease.Handle != a.Lease.Handle || c.StreamCount != 3 || !c.Lease.ExpiresAt.After(a.Lease.ExpiresAt) {
		t.Fatalf("resume = %+v; want session %s taken over under a new lease id, renewed, streamCount 3", c, a.Lease.Handle)
	}
	if n := e.count(t, uid); n != 3 {
		t.Fatalf("count after resume = %d, want 3", n)
	}
	if bd, _, err := e.svc.Heartbeat(ctx, b, ""); err != nil || bd.LeaseID != c.Lease.ID {
		t.Fatalf("Heartbeat on the new connection = %+v, %v", bd, err)
	}
	// Another account cannot take the lease over with its id.
	other := leasetest.UID(t, "other")
	o := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("o"), UID: other, LeaseID: c.Lease.ID})
	if o.Resumed || o.Lease.Handle == c.Lease.Handle {
		t.Fatalf("another uid resumed lease %s: %+v", c.Lease.ID, o)
	}
	// The same device resumes with its device secret, never with its
	// device id alone.
	const secret = "tv-secret-0123456789"
	d := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("d1"), UID: other, DeviceID: "tv", DeviceSecret: secret})
	d2 := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("d2"), UID: other, DeviceID: "tv", DeviceSecret: secret})
	if !d2.Resumed || d2.Lease.Handle != d.Lease.Handle || d2.StreamCount != 2 {
		t.Fatalf("same-device reconnect = %+v; want session %s resumed, streamCount 2", d2, d.Lease.Handle)
	}
	d3 := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("d3"), UID: other, DeviceID: "tv"})
	if d3.Resumed || d3.StreamCount != 3 {
		t.Fatalf("reconnect with the device id alone = %+v; want a new lease of its own, streamCount 3", d3)
	}
}

func testResumeExpired(t *testing.T, h Harness) {
	e := newEnv(t, h)
	uid := leasetest.UID(t, "u")
	a := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("a"), UID: uid})
	e.clock.Advance(a.Lease.ExpiresAt.Sub(e.clock.Now()))
	c := e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("b"), UID: uid, LeaseID: a.Lease.ID})
	if c.Resumed || c.Lease.ID == a.Lease.ID || c.StreamCount != 1 {
		t.Fatalf("reconnect with an expired lease = %+v; want a new lease, streamCount 1", c)
	}
	// Unknown lease ids are treated alike.
	c = e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("c"), UID: uid, LeaseID: uuid.NewString()})
	if c.Resumed || c.StreamCount != 2 {
		t.Fatalf("connect with an unknown lease id = %+v; want a new lease", c)
	}
}

func testResumeRevoked(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	aID := connID("a")
	a := e.mustGrant(t, wsconn.ConnectRequest{ConnID: aID, UID: uid})
	if _, err := e.lsvc.Kick(ctx, uid, a.Lease.Handle, lease.RevokedKicked); err != nil {
		t.Fatalf("Kick: %v", err)
	}
	b := connID("b")
	_, err := e.svc.Connect(ctx, wsconn.ConnectRequest{ConnID: b, UID: uid, LeaseID: a.Lease.ID})
	var revoked *lease.RevokedError
	if !errors.As(err, &revoked) || revoked.Reason != lease.RevokedKicked {
		t.Fatalf("resume of a kicked lease: %v, want RevokedError(kicked)", err)
	}
	if n := e.count(t, uid); n != 0 {
		t.Fatalf("count = %d after a refused resume, want 0", n)
	}
	if _, err := e.conns.Lookup(ctx, b, e.clock.Now()); !errors.Is(err, wsconn.ErrNotBound) {
		t.Fatalf("refused resume is bound: %v", err)
	}
	// The kicked connection learns it on its next heartbeat.
	if _, _, err := e.svc.Heartbeat(ctx, aID, ""); !errors.As(err, &revoked) {
		t.Fatalf("heartbeat of the kicked connection: %v, want RevokedError", err)
	}
}

func testStale(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a := connID("a")
	ca := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("x"), UID: uid})
	// Make-before-break: b resumes the lease while a is still open.
	b := connID("b")
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: b, UID: uid, LeaseID: ca.Lease.ID})
	// a's (late) $disconnect is stale: the lease stays with b.
	cl, err := e.svc.Disconnect(ctx, a)
	if err != nil || !cl.Bound || cl.Release.Removed {
		t.Fatalf("stale Disconnect = %+v, %v; want bound, nothing ended", cl, err)
	}
	if n := e.count(t, uid); n != 2 {
		t.Fatalf("count after a stale disconnect = %d, want 2", n)
	}
	if _, _, err := e.svc.Heartbeat(ctx, b, ""); err != nil {
		t.Fatalf("Heartbeat on b after a's disconnect: %v", err)
	}
	// b's own close ends it.
	cl, err = e.svc.Disconnect(ctx, b)
	if err != nil || !cl.Release.Removed || cl.Release.StreamCount != 1 {
		t.Fatalf("Disconnect(b) = %+v, %v; want the lease ended", cl, err)
	}
	// A binding whose lease already ended or expired is harmless.
	c := connID("c")
	cc := e.mustGrant(t, wsconn.ConnectRequest{ConnID: c, UID: uid})
	if _, err := e.lsvc.EndStream(ctx, uid, cc.Lease.ID); err != nil {
		t.Fatal(err)
	}
	cl, err = e.svc.Disconnect(ctx, c)
	if err != nil || !cl.Bound || cl.Release.Removed || cl.Release.StreamCount != 1 {
		t.Fatalf("Disconnect with an ended lease = %+v, %v; want removed false, streamCount 1", cl, err)
	}
}

func testDrop(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a := connID("a")
	ca := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})
	cl, err := e.svc.Drop(ctx, a)
	if err != nil || !cl.Bound || cl.Release.Removed {
		t.Fatalf("Drop = %+v, %v; want the binding forgotten, the lease kept", cl, err)
	}
	e.clock.Advance(ca.Lease.ExpiresAt.Sub(e.clock.Now()) - time.Millisecond)
	if n := e.count(t, uid); n != 1 {
		t.Fatalf("count just before the TTL after a drop = %d, want 1", n)
	}
	e.clock.Advance(time.Millisecond)
	if n := e.count(t, uid); n != 0 {
		t.Fatalf("count at the TTL after a drop = %d, want 0", n)
	}
}

func testBadInput(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	cases := []struct {
		req  wsconn.ConnectRequest
		want error
	}{
		{wsconn.ConnectRequest{ConnID: "", UID: uid}, wsconn.ErrInvalidConnID},
		{wsconn.ConnectRequest{ConnID: "bad#id", UID: uid}, wsconn.ErrInvalidConnID},
		{wsconn.ConnectRequest{ConnID: connID("c"), UID: "bad uid"}, lease.ErrInvalidUID},
		{wsconn.ConnectRequest{ConnID: connID("c"), UID: ""}, lease.ErrInvalidUID},
		{wsconn.ConnectRequest{ConnID: connID("c"), UID: uid, DeviceID: "bad device"}, lease.ErrInvalidDeviceID},
		{wsconn.ConnectRequest{ConnID: connID("c"), UID: uid, LeaseID: "not-a-uuid"}, lease.ErrInvalidLeaseID},
		{wsconn.ConnectRequest{ConnID: connID("c"), UID: "bad uid", LeaseID: uuid.NewString()}, lease.ErrInvalidUID},
	}
	for _, tc := range cases {
		if _, err := e.svc.Connect(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("Connect(%+v): %v, want %v", tc.req, err, tc.want)
		}
		if tc.req.ConnID != "" && wsconn.ValidConnID(tc.req.ConnID) {
			if _, err := e.conns.Lookup(ctx, tc.req.ConnID, e.clock.Now()); !errors.Is(err, wsconn.ErrNotBound) {
				t.Errorf("Connect(%+v) bound the connection: %v", tc.req, err)
			}
		}
	}
	if _, _, err := e.svc.Heartbeat(ctx, "bad#id", ""); !errors.Is(err, wsconn.ErrInvalidConnID) {
		t.Errorf("Heartbeat(bad id): %v", err)
	}
	if n := e.count(t, uid); n != 0 {
		t.Errorf("count after bad input = %d, want 0", n)
	}
}
