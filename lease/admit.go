package lease

import (
	"context"
	"time"
)

// Admitter admits the store work of one call: the Service asks it before
// each store operation of a call whose context carries it
// (ContextWithAdmitter), and an error fails the call as it is, before the
// store is touched. The HTTP API passes package admission's per-request
// admission, so only calls that reach the store take a slot: a heartbeat
// answered from its renewal token, or a canStream refused from what the
// account queue already knew, never does. An Admitter answers every call
// after the first as it answered the first.
type Admitter interface {
	Admit(ctx context.Context) error
}

type admitterKey struct{}

// ContextWithAdmitter returns ctx carrying a: the Service's store work
// under it is admitted by a.
func ContextWithAdmitter(ctx context.Context, a Admitter) context.Context {
	return context.WithValue(ctx, admitterKey{}, a)
}

// admit asks ctx's Admitter, if it carries one.
func admit(ctx context.Context) error {
	if a, ok := ctx.Value(admitterKey{}).(Admitter); ok {
		return a.Admit(ctx)
	}
	return nil
}

// admitted is the Store a Service calls through: each operation is first
// admitted (admit).
type admitted struct{ store Store }

var _ Store = admitted{}

func (a admitted) Load(ctx context.Context, uid string, consistent bool) (Account, error) {
	if err := admit(ctx); err != nil {
		return Account{}, err
	}
	return a.store.Load(ctx, uid, consistent)
}

func (a admitted) Commit(ctx context.Context, uid string, c Change) error {
	if err := admit(ctx); err != nil {
		return err
	}
	return a.store.Commit(ctx, uid, c)
}

func (a admitted) Reclaim(ctx context.Context, uid string, leases []Lease) error {
	if err := admit(ctx); err != nil {
		return err
	}
	return a.store.Reclaim(ctx, uid, leases)
}

func (a admitted) Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (Lease, error) {
	if err := admit(ctx); err != nil {
		return Lease{}, err
	}
	return a.store.Renew(ctx, uid, leaseID, now, expiresAt)
}

func (a admitted) Release(ctx context.Context, uid, leaseID string, now time.Time) (bool, error) {
	if err := admit(ctx); err != nil {
		return false, err
	}
	return a.store.Release(ctx, uid, leaseID, now)
}

func (a admitted) Revoke(ctx context.Context, uid string, rs []Revocation) error {
	if err := admit(ctx); err != nil {
		return err
	}
	return a.store.Revoke(ctx, uid, rs)
}

func (a admitted) SetLimit(ctx context.Context, uid string, limit int) error {
	if err := admit(ctx); err != nil {
		return err
	}
	return a.store.SetLimit(ctx, uid, limit)
}

func (a admitted) SetPolicy(ctx context.Context, uid string, p Policy) error {
	if err := admit(ctx); err != nil {
		return err
	}
	return a.store.SetPolicy(ctx, uid, p)
}

func (a admitted) Ping(ctx context.Context) error {
	if err := admit(ctx); err != nil {
		return err
	}
	return a.store.Ping(ctx)
}
