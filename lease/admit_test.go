package lease_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// admitter counts its Admits and answers err.
type admitter struct {
	calls atomic.Int64
	err   error
}

func (a *admitter) Admit(context.Context) error {
	a.calls.Add(1)
	return a.err
}

// The Admitter a call's context carries is asked before each store
// operation: a refusal fails the call as it is, before the store is
// touched; a call answered without the store (a heartbeat with its renewal
// token) never asks it.
func TestAdmitterAskedBeforeTheStore(t *testing.T) {
	t.Parallel()
	store := leasetest.NewCounter(memstore.New())
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock)
	uid := leasetest.UID(t, "u")

	yes := &admitter{}
	d, err := svc.CanStream(lease.ContextWithAdmitter(context.Background(), yes), uid, lease.Request{DeviceID: "a"})
	if err != nil || !d.Granted {
		t.Fatalf("CanStream: %+v, %v", d, err)
	}
	if n, calls := yes.calls.Load(), store.Calls(); n != calls {
		t.Fatalf("%d Admits for %d store calls; want one before each", n, calls)
	}

	refused := errors.New("refused")
	no := &admitter{err: refused}
	ctx := lease.ContextWithAdmitter(context.Background(), no)
	before := store.Calls()
	if _, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "b"}); !errors.Is(err, refused) {
		t.Fatalf("CanStream refused admission: %v; want the Admitter's error", err)
	}
	if _, err := svc.Heartbeat(ctx, uid, d.Lease.ID, lease.HeartbeatRequest{}); !errors.Is(err, refused) {
		t.Fatalf("Heartbeat (a renewal) refused admission: %v; want the Admitter's error", err)
	}
	if n := store.Calls() - before; n != 0 {
		t.Fatalf("refused calls made %d store calls; want none", n)
	}
	asked := no.calls.Load()
	clock.Advance(svc.HeartbeatInterval() / 3)
	if rn, err := svc.Heartbeat(ctx, uid, d.Lease.ID, lease.HeartbeatRequest{Token: d.Token}); err != nil || !rn.Skipped {
		t.Fatalf("Heartbeat with its token: %+v, %v; want answered from the token", rn, err)
	}
	if no.calls.Load() != asked {
		t.Fatal("a heartbeat answered from its token asked for admission")
	}
}
