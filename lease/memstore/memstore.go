// Package memstore is an in-memory lease.Store for a Java-free quick start
// and fast handler tests. It keeps every guarantee of the Store contract
// within one process; it is not shared between processes or Lambda
// instances, so it is never the store of a deployment.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// Store is an in-memory lease.Store. The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	accounts map[string]*account
}

type account struct {
	version    int64
	count      int
	maxStreams int
	policy     lease.Policy
	leases     map[string]lease.Lease
}

var _ lease.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{accounts: map[string]*account{}} }

func (s *Store) get(uid string) *account {
	a := s.accounts[uid]
	if a == nil {
		a = &account{leases: map[string]lease.Lease{}}
		s.accounts[uid] = a
	}
	return a
}

// locked runs f under the store's lock, unless ctx is done: every call.
func (s *Store) locked(ctx context.Context, f func() error) error {
	if err := alive(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return f()
}

// update runs f on uid's account (made if new) under the store's lock,
// unless ctx is done: every write that may create an account.
func (s *Store) update(ctx context.Context, uid string, f func(a *account) error) error {
	return s.locked(ctx, func() error { return f(s.get(uid)) })
}

// Load implements lease.Store.
func (s *Store) Load(ctx context.Context, uid string, _ bool) (out lease.Account, err error) {
	err = s.locked(ctx, func() error {
		a := s.accounts[uid]
		if a == nil {
			return nil
		}
		out = lease.Account{Version: a.version, Count: a.count, MaxStreams: a.maxStreams, Policy: a.policy}
		for _, id := range slices.Sorted(maps.Keys(a.leases)) {
			out.Leases = append(out.Leases, a.leases[id])
		}
		return nil
	})
	return out, err
}

// Commit implements lease.Store.
func (s *Store) Commit(ctx context.Context, uid string, c lease.Change) error {
	return s.update(ctx, uid, func(a *account) error {
		if a.version != c.Version {
			return lease.ErrConflict
		}
		if _, taken := a.leases[c.Grant.ID]; taken {
			return lease.ErrConflict
		}
		if !a.reclaimable(c.Reclaim) {
			return lease.ErrConflict
		}
		if !a.revocable(c.Revoke) {
			return lease.ErrConflict
		}
		for _, r := range c.Reclaim {
			delete(a.leases, r.ID)
		}
		a.revoke(c.Revoke)
		a.leases[c.Grant.ID] = c.Grant
		a.count = c.Count
		a.version++
		return nil
	})
}

// Reclaim implements lease.Store.
func (s *Store) Reclaim(ctx context.Context, uid string, leases []lease.Lease) error {
	return s.update(ctx, uid, func(a *account) error {
		conflict := false
		for _, l := range leases {
			if a.reclaimable([]lease.Lease{l}) {
				delete(a.leases, l.ID)
			} else {
				conflict = true
			}
		}
		if conflict {
			return lease.ErrConflict
		}
		return nil
	})
}

// reclaimable reports whether every lease of ls is gone or stored with the
// ExpiresAt read.
func (a *account) reclaimable(ls []lease.Lease) bool {
	for _, l := range ls {
		if cur, ok := a.leases[l.ID]; ok && !cur.ExpiresAt.Equal(l.ExpiresAt) {
			return false
		}
	}
	return true
}

// Renew implements lease.Store.
func (s *Store) Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (renewed lease.Lease, err error) {
	err = s.locked(ctx, func() error {
		l, ok := s.lease(uid, leaseID)
		if ok && l.Revoked != "" {
			return &lease.RevokedError{Reason: l.Revoked}
		}
		if !ok || !l.LiveAt(now) {
			return lease.ErrLeaseExpired
		}
		if l.ExpiresAt.After(expiresAt) {
			renewed = l // never moved back: a later renewal landed first
			return nil
		}
		l.RenewedAt, l.ExpiresAt = now, expiresAt
		s.accounts[uid].leases[leaseID] = l
		renewed = l
		return nil
	})
	return renewed, err
}

// Release implements lease.Store.
func (s *Store) Release(ctx context.Context, uid, leaseID string, now time.Time) (released bool, err error) {
	err = s.locked(ctx, func() error {
		if l, ok := s.lease(uid, leaseID); ok && l.LiveAt(now) {
			a := s.accounts[uid]
			delete(a.leases, leaseID)
			a.count--
			a.version++
			released = true
		}
		return nil
	})
	return released, err
}

// lease returns uid's stored lease leaseID, if any; s.mu is held.
func (s *Store) lease(uid, leaseID string) (lease.Lease, bool) {
	if a := s.accounts[uid]; a != nil {
		l, ok := a.leases[leaseID]
		return l, ok
	}
	return lease.Lease{}, false
}

// Revoke implements lease.Store.
func (s *Store) Revoke(ctx context.Context, uid string, rs []lease.Revocation) error {
	return s.update(ctx, uid, func(a *account) error {
		if !a.revocable(rs) {
			return lease.ErrConflict
		}
		a.revoke(rs)
		a.count -= len(rs)
		a.version++
		return nil
	})
}

// revocable reports whether every lease of rs is stored and unrevoked.
func (a *account) revocable(rs []lease.Revocation) bool {
	for _, r := range rs {
		cur, ok := a.leases[r.Lease.ID]
		if !ok || cur.Revoked != "" {
			return false
		}
	}
	return true
}

func (a *account) revoke(rs []lease.Revocation) {
	for _, r := range rs {
		l := a.leases[r.Lease.ID]
		l.Revoked, l.RevokedAt, l.ExpiresAt = r.Reason, r.At, r.KeepUntil
		a.leases[r.Lease.ID] = l
	}
}

// SetPolicy implements lease.Store.
func (s *Store) SetPolicy(ctx context.Context, uid string, p lease.Policy) error {
	return s.update(ctx, uid, func(a *account) error {
		a.policy = p
		a.version++
		return nil
	})
}

// SetLimit implements lease.Store.
func (s *Store) SetLimit(ctx context.Context, uid string, limit int) error {
	return s.update(ctx, uid, func(a *account) error {
		a.maxStreams = limit
		a.version++
		return nil
	})
}

// Ping implements lease.Store.
func (s *Store) Ping(ctx context.Context) error { return alive(ctx) }

// Len returns the number of items the store holds, counting one per account
// and one per stored lease, as a DynamoDB table would.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.accounts {
		n += 1 + len(a.leases)
	}
	return n
}

// alive reports a canceled or expired request as unavailability, as the
// DynamoDB store does.
func alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", lease.ErrUnavailable, err)
	}
	return nil
}
