package wsconntest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/wsconn"
)

// takeoverTests are the cases where connections take a lease over from
// each other and the gateway's events arrive late, twice, or interleaved:
// one lease, one socket, whatever the order.
var takeoverTests = []struct {
	name string
	fn   func(*testing.T, Harness)
}{
	{"ThreeConnectionsResumeOneLease", testThreeResume},
	{"LateDisconnectInterleavedWithResume", testLateDisconnect},
	{"DelayedBindingWrite", testDelayedBind},
	{"DuplicatedConnect", testDuplicatedConnect},
	{"KickWhileTwoConnectionsClaimTheLease", testKickTwoClaims},
}

// gatedEnv is an env whose lease store is a leasetest.Gate and whose
// connection store can hold back its next Bind.
type gatedEnv struct {
	*env
	gate  *leasetest.Gate
	binds *heldBinds
}

func newGatedEnv(t *testing.T, h Harness, opts ...lease.Option) *gatedEnv {
	t.Helper()
	var gate *leasetest.Gate
	var binds *heldBinds
	wrapped := Harness{New: func(t *testing.T) (lease.Store, wsconn.ConnStore) {
		ls, cs := h.New(t)
		gate, binds = leasetest.NewGate(ls), &heldBinds{ConnStore: cs}
		return gate, binds
	}}
	return &gatedEnv{env: newEnv(t, wrapped, opts...), gate: gate, binds: binds}
}

// heldBinds holds back the next Bind until released (a write that lands
// after its caller gave up).
type heldBinds struct {
	wsconn.ConnStore
	mu      sync.Mutex
	hold    chan struct{} // non-nil: the next Bind waits for it to close
	reached chan struct{}
}

func (h *heldBinds) holdNext() (reached <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold, h.reached = make(chan struct{}), make(chan struct{})
	hold := h.hold
	return h.reached, func() { close(hold) }
}

func (h *heldBinds) Bind(ctx context.Context, b wsconn.Binding) error {
	h.mu.Lock()
	hold, reached := h.hold, h.reached
	h.hold, h.reached = nil, nil
	h.mu.Unlock()
	if hold != nil {
		close(reached)
		<-hold
	}
	return h.ConnStore.Bind(ctx, b)
}

// alive reports which of conns may heartbeat now.
func (e *env) alive(t *testing.T, conns ...string) []string {
	t.Helper()
	var ok []string
	for _, c := range conns {
		_, _, err := e.svc.Heartbeat(context.Background(), c, "")
		switch {
		case err == nil:
			ok = append(ok, c)
		case errors.Is(err, lease.ErrLeaseExpired) || errors.Is(err, lease.ErrLeaseRevoked):
		default:
			t.Fatalf("Heartbeat(%s): %v", c, err)
		}
	}
	return ok
}

// testThreeResume: three players share one login at limit 1. Each
// connects with the lease id the others pass around (the newest one they
// learned), over two minutes of heartbeats. At every moment at most one
// socket may heartbeat, and a socket taken over is told it was
// superseded.
func testThreeResume(t *testing.T, h Harness) {
	e := newEnv(t, h, lease.WithMaxStreams(1))
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	conns := []string{connID("a"), connID("b"), connID("c")}
	first := e.mustGrant(t, wsconn.ConnectRequest{ConnID: conns[0], UID: uid})
	shared := first.Lease.ID // what the sharers pass around
	holder := 0
	for round := range 12 {
		me := (round + 1) % 3
		c, err := e.svc.Connect(ctx, wsconn.ConnectRequest{ConnID: conns[me], UID: uid, LeaseID: shared})
		if err != nil || !c.Granted || !c.Resumed {
			t.Fatalf("round %d: resume = %+v, %v; want the lease taken over", round, c, err)
		}
		shared, holder = c.Lease.ID, me
		e.clock.Advance(10 * time.Second)
		if ok := e.alive(t, conns...); len(ok) > 1 {
			t.Fatalf("round %d: %d sockets heartbeat on one lease at limit 1: %v", round, len(ok), ok)
		}
	}
	if n := e.count(t, uid); n != 1 {
		t.Fatalf("count %d; want 1", n)
	}
	// The sockets taken over are told why.
	_, _, err := e.svc.Heartbeat(ctx, conns[(holder+1)%3], "")
	var revoked *lease.RevokedError
	if !errors.As(err, &revoked) || revoked.Reason != lease.RevokedSuperseded {
		t.Fatalf("heartbeat of a taken-over socket: %v; want revoked (superseded)", err)
	}
}

// testLateDisconnect: A's $disconnect has read that A holds the lease and
// its end is in flight when the player resumes the lease on B; the end
// lands afterwards. B must keep streaming. And a $disconnect of A that
// arrives after the resume ends nothing.
func testLateDisconnect(t *testing.T, h Harness) {
	e := newGatedEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a, b := connID("a"), connID("b")
	ca := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})

	e.gate.Hold(leasetest.OpRelease)
	closed := make(chan error, 1)
	go func() { _, err := e.svc.Disconnect(ctx, a); closed <- err }()
	end := e.gate.MustHold(t, leasetest.OpRelease)
	cb := e.mustGrant(t, wsconn.ConnectRequest{ConnID: b, UID: uid, LeaseID: ca.Lease.ID})
	end.Apply(1)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if ok := e.alive(t, a, b); len(ok) != 1 || ok[0] != b {
		t.Fatalf("after A's late $disconnect, %v may heartbeat; want only B", ok)
	}
	// A second, later copy of A's $disconnect changes nothing either.
	if _, err := e.svc.Disconnect(ctx, a); err != nil {
		t.Fatal(err)
	}
	if ok := e.alive(t, b); len(ok) != 1 || e.count(t, uid) != 1 {
		t.Fatalf("B lost its lease (%s) to a repeated $disconnect of A", cb.Lease.ID)
	}
	// B's own close ends it at once.
	if cl, err := e.svc.Disconnect(ctx, b); err != nil || !cl.Release.Removed || e.count(t, uid) != 0 {
		t.Fatalf("Disconnect(B) = %+v, %v; want the lease ended", cl, err)
	}
}

// testDelayedBindingWrite: A's connect wrote its lease but its binding
// lands late, after the player gave up on A and connected again as B with
// its device secret. Whatever order the writes land in, only B streams,
// and B's clean close frees the slot at once.
func testDelayedBind(t *testing.T, h Harness) {
	e := newGatedEnv(t, h, lease.WithMaxStreams(1))
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a, b := connID("a"), connID("b")
	req := wsconn.ConnectRequest{UID: uid, DeviceID: "tv", DeviceSecret: "tv-secret-0123456789"}

	reached, release := e.binds.holdNext()
	ra := req
	ra.ConnID = a
	connected := make(chan error, 1)
	go func() { _, err := e.svc.Connect(ctx, ra); connected <- err }()
	<-reached
	rb := req
	rb.ConnID = b
	cb := e.mustGrant(t, rb)
	if !cb.Resumed {
		t.Fatalf("B's connect = %+v; want A's lease taken over with the device secret", cb)
	}
	release()
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	if ok := e.alive(t, a, b); len(ok) != 1 || ok[0] != b {
		t.Fatalf("after A's late binding, %v may heartbeat; want only B", ok)
	}
	if cl, err := e.svc.Disconnect(ctx, b); err != nil || !cl.Release.Removed {
		t.Fatalf("Disconnect(B) = %+v, %v; want the lease ended", cl, err)
	}
	if _, err := e.svc.Disconnect(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, uid); n != 0 {
		t.Fatalf("count %d after both closed; want 0 (the slot must not wait for the TTL)", n)
	}
}

// testDuplicatedConnect: the gateway delivers one $connect twice (a retried
// invocation). The connection holds one lease and uses one slot.
func testDuplicatedConnect(t *testing.T, h Harness) {
	e := newEnv(t, h)
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a := connID("a")
	first := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})
	again := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})
	if n := e.count(t, uid); n != 1 {
		t.Fatalf("a duplicated $connect holds %d slots; want 1", n)
	}
	if again.Lease.ID != first.Lease.ID {
		t.Fatalf("duplicated $connect answered lease %s, first %s; want the same", again.Lease.ID, first.Lease.ID)
	}
	if ok := e.alive(t, a); len(ok) != 1 {
		t.Fatal("the connection cannot heartbeat after a duplicated $connect")
	}
	if cl, err := e.svc.Disconnect(ctx, a); err != nil || !cl.Release.Removed || e.count(t, uid) != 0 {
		t.Fatalf("Disconnect = %+v, %v; want the one lease ended", cl, err)
	}
}

// testKickTwoClaims: A holds the lease, B resumed it; the account holder
// kicks the session. Neither socket may heartbeat, neither may come back
// with the lease ids it knew, and the slot is free at once.
func testKickTwoClaims(t *testing.T, h Harness) {
	e := newEnv(t, h, lease.WithMaxStreams(1))
	ctx := context.Background()
	uid := leasetest.UID(t, "u")
	a, b := connID("a"), connID("b")
	ca := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})
	cb := e.mustGrant(t, wsconn.ConnectRequest{ConnID: b, UID: uid, LeaseID: ca.Lease.ID})
	l, err := e.lsvc.List(ctx, uid)
	if err != nil || len(l.Sessions) != 1 {
		t.Fatalf("List = %+v, %v; want one session", l, err)
	}
	if _, err := e.lsvc.Kick(ctx, uid, l.Sessions[0].Handle, lease.RevokedKicked); err != nil {
		t.Fatal(err)
	}
	if ok := e.alive(t, a, b); len(ok) != 0 {
		t.Fatalf("%v still heartbeat after the kick", ok)
	}
	for _, id := range []string{ca.Lease.ID, cb.Lease.ID} {
		if _, err := e.svc.Connect(ctx, wsconn.ConnectRequest{ConnID: connID("back"), UID: uid, LeaseID: id}); !errors.Is(err, lease.ErrLeaseRevoked) {
			t.Fatalf("coming back with %s after the kick: %v; want revoked", id, err)
		}
	}
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: connID("new"), UID: uid})
}
