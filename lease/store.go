package lease

import (
	"context"
	"time"
)

// Store keeps the leases of every account. Implementations must make Commit
// atomic and version-guarded: that is what keeps the bound. Every method may
// return an error wrapping ErrUnavailable when the backend fails.
//
// Stores compare expiry at whole-second precision: a lease is live at now when
// ExpiresAt > now, and ExpiresAt is always a whole second.
type Store interface {
	// Load reads one account: its version, limit override and every lease
	// item still stored, live or expired. consistent asks for a strongly
	// consistent read (required before Commit). A missing account is the
	// zero Account, not an error.
	Load(ctx context.Context, uid string, consistent bool) (Account, error)

	// Commit atomically grants c.Grant, deletes each lease of c.Reclaim
	// unless it is stored with another ExpiresAt than the one read (gone
	// already is fine), applies c.Revoke, sets the account's count to
	// c.Count and moves its version past c.Version; all of it only if the
	// account's version is still c.Version and every condition holds.
	// Otherwise it writes nothing and returns ErrConflict.
	Commit(ctx context.Context, uid string, c Change) error

	// Reclaim deletes each of leases (expired, as read) unless it is
	// stored with another ExpiresAt than the one read; gone already is
	// fine. It does not move the version: the set of live leases does not
	// change. It returns ErrConflict when any lease was renewed since it
	// was read (the others may have been deleted). A grant calls it for the
	// expired items beyond MaxCommitReclaim before it commits.
	Reclaim(ctx context.Context, uid string, leases []Lease) error

	// Renew sets the lease's ExpiresAt to expiresAt and RenewedAt to now if
	// the lease exists and is live at now. A renewal never moves an expiry
	// back: if the live lease is stored with a later ExpiresAt already (a
	// renewal computed from a faster clock, or sent later, landed first),
	// it writes nothing and returns the lease as stored. Otherwise it writes
	// nothing and returns a *RevokedError for a revoked lease,
	// ErrLeaseExpired for any other. It does not change the account version.
	Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (Lease, error)

	// Release deletes the lease if it exists and is live at now, moves the
	// account version and decrements its count, and reports whether it did.
	// An expired or missing lease is left alone and reported as false. It
	// may return ErrConflict when a concurrent transaction interfered.
	Release(ctx context.Context, uid, leaseID string, now time.Time) (bool, error)

	// Revoke atomically turns each lease of rs into a tombstone (Revoked,
	// RevokedAt, ExpiresAt = KeepUntil), moves the account version and
	// lowers its count; all of it only if every lease is still stored and
	// unrevoked (a renewal since the read does not stop it). Otherwise it
	// writes nothing and returns ErrConflict.
	Revoke(ctx context.Context, uid string, rs []Revocation) error

	// SetLimit sets the account's limit override (0 clears it) and moves its
	// version, so that a grant decided under the old limit cannot commit.
	SetLimit(ctx context.Context, uid string, limit int) error

	// SetPolicy sets the account's at-limit policy override ("" clears it)
	// and moves its version.
	SetPolicy(ctx context.Context, uid string, p Policy) error

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// Account is one account as read from the store.
type Account struct {
	// Version moves on every change to the set of leases or the limit.
	// Zero means the account has never been written.
	Version int64
	// Count is the number of live leases as of the last write (informative).
	Count int
	// MaxStreams is the per-account limit override; 0 means the default.
	MaxStreams int
	// Policy is the per-account at-limit policy override; "" means the
	// default.
	Policy Policy
	// Leases holds every stored lease item, live or expired.
	Leases []Lease
}

// Change is one guarded write to an account, made by CanStream.
type Change struct {
	// Version is Account.Version as read; the change commits only if it is
	// unchanged.
	Version int64
	// Grant is the new lease.
	Grant Lease
	// Reclaim holds expired leases as read, to delete in the same write.
	Reclaim []Lease
	// Revoke holds live leases as read, to revoke in the same write
	// (PolicyEvictOldest, and the lease a Resumed grant supersedes).
	Revoke []Revocation
	// Count is the number of live leases after the change.
	Count int
}

// Revocation turns one lease, as read, into a tombstone.
type Revocation struct {
	// Lease is the lease as read; the revocation applies only if it is
	// still stored and not revoked yet.
	Lease Lease
	// Reason is one of the Revoked* reasons.
	Reason string
	// At is when the lease is revoked.
	At time.Time
	// KeepUntil is when the tombstone may be collected (its new ExpiresAt).
	KeepUntil time.Time
}
