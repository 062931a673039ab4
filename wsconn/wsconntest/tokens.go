package wsconntest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/wsconn"
)

// countedConns counts the Lookups that reach a ConnStore.
type countedConns struct {
	wsconn.ConnStore
	lookups atomic.Int64
}

func (c *countedConns) Lookup(ctx context.Context, connID string, now time.Time) (wsconn.Binding, error) {
	c.lookups.Add(1)
	return c.ConnStore.Lookup(ctx, connID, now)
}

// testTokenHeartbeats: at the default settings (TTL 100 s, interval 30 s)
// a connection's first heartbeat reads its binding and renews; from then
// on it sends back its renewal token, and every other heartbeat is
// answered from the token (no store call), the others renew with one write
// and no lookup. A token from another connection, or a tampered one, is
// read as no token. A connection whose lease another connection took over
// is told so at its first heartbeat that writes, within the threshold.
func testTokenHeartbeats(t *testing.T, h Harness) {
	ctx := context.Background()
	var leases *leasetest.Counter
	var conns *countedConns
	e := newEnv(t, Harness{New: func(t *testing.T) (lease.Store, wsconn.ConnStore) {
		ls, cs := h.New(t)
		leases, conns = leasetest.NewCounter(ls), &countedConns{ConnStore: cs}
		return leases, conns
	}}, lease.WithLeaseTTL(100*time.Second))
	if e.lsvc.RenewBelow() != 65*time.Second {
		t.Fatalf("renew-below %v; want the default 65 s", e.lsvc.RenewBelow())
	}
	uid := leasetest.UID(t, "u")
	a, b := connID("a"), connID("b")
	ca := e.mustGrant(t, wsconn.ConnectRequest{ConnID: a, UID: uid})
	e.mustGrant(t, wsconn.ConnectRequest{ConnID: b, UID: uid})
	// beat sends one heartbeat and returns its answer and the calls it made.
	beat := func(conn, token string) (wsconn.Binding, lease.Renewal, int64, int64, error) {
		l0, c0 := leases.Calls(), conns.lookups.Load()
		bd, rn, err := e.svc.Heartbeat(ctx, conn, token)
		return bd, rn, leases.Calls() - l0, conns.lookups.Load() - c0, err
	}

	e.clock.Advance(interval)
	bd, rn, lcalls, lookups, err := beat(a, "")
	if err != nil || rn.Skipped || rn.Token == "" || bd.LeaseID != ca.Lease.ID || lcalls != 1 || lookups != 1 {
		t.Fatalf("first heartbeat = %+v, %+v, %v after %d lease calls, %d lookups; want a lookup and a renewal with a token", bd, rn, err, lcalls, lookups)
	}
	token := rn.Token
	_, rnB, _, _, err := beat(b, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		e.clock.Advance(interval)
		bd, rn, lcalls, lookups, err := beat(a, token)
		skip := i%2 == 0 // 70 s left, then 40 s
		if err != nil || rn.Skipped != skip || bd.LeaseID != ca.Lease.ID || bd.UID != uid || lookups != 0 || (skip && lcalls != 0) || (!skip && lcalls != 1) {
			t.Fatalf("heartbeat %d with its token = %+v, %+v, %v after %d lease calls, %d lookups; want skipped %v, no lookup",
				i, bd, rn, err, lcalls, lookups, skip)
		}
		token = rn.Token
	}

	// Another connection's token, or a tampered one, is no token: the
	// heartbeat reads its own binding and renews its own lease.
	uidPart := strings.Split(token, ".")[1]
	for name, tk := range map[string]string{
		"b's token":      rnB.Token,
		"other lease id": strings.Replace(token, ca.Lease.ID, strings.Split(rnB.Token, ".")[0], 1),
		"other uid":      strings.Replace(token, "."+uidPart+".", ".dXNlcg.", 1),
		"no dots":        strings.ReplaceAll(token, ".", ""),
		"garbage":        "x.y.z",
	} {
		bd, rn, lcalls, lookups, err := beat(a, tk)
		if err != nil || rn.Skipped || bd.LeaseID != ca.Lease.ID || lookups != 1 || lcalls != 1 {
			t.Fatalf("%s on connection a = %+v, %+v, %v after %d lease calls, %d lookups; want a's own lease renewed after a lookup",
				name, bd, rn, err, lcalls, lookups)
		}
		token = rn.Token
	}

	// Connection c takes a's lease over. a keeps being answered from its
	// token while that shows 65 s or more, then its write tells it.
	_, rn, _, _, err = beat(a, token)
	if err != nil {
		t.Fatal(err)
	}
	token = rn.Token
	c := connID("c")
	cc := e.mustGrant(t, wsconn.ConnectRequest{ConnID: c, UID: uid, LeaseID: ca.Lease.ID})
	if !cc.Resumed {
		t.Fatalf("takeover = %+v; want resumed", cc)
	}
	for {
		e.clock.Advance(5 * time.Second)
		_, rn, _, _, err := beat(a, token)
		if err == nil && rn.Skipped {
			continue
		}
		var revoked *lease.RevokedError
		if !errors.As(err, &revoked) || revoked.Reason != lease.RevokedSuperseded {
			t.Fatalf("a's heartbeat after the takeover = %+v, %v; want superseded", rn, err)
		}
		break
	}
}
