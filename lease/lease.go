// Package lease is the domain of streamlimit: it caps how many streams one
// account (uid) may have open at once by handing out renewable leases.
//
// # Guarantees
//
//   - Bound: for every uid, the number of live leases never exceeds the
//     account's limit, however many callers race. Every grant is one atomic,
//     version-guarded write in the Store; a grant is never reported without
//     that write having committed.
//   - Expiry: a lease that is not renewed stops counting at ExpiresAt, whether
//     or not the store's TTL sweeper has removed it yet. Every count filters on
//     ExpiresAt > now; TTL deletion is garbage collection only.
//   - No resurrection: Heartbeat never renews a lease that has expired or was
//     ended; the player must call CanStream again and may be refused. A
//     heartbeat answered from its renewal token (Renewal.Skipped) writes
//     nothing and answers only the expiry the token carries, which the
//     store held when the token was issued.
//   - Idempotence: EndStream twice is harmless; CanStream retried by a
//     player that proves it holds a live lease (its lease id, or the device
//     secret it sent with the grant) takes that lease over instead of using
//     a second slot, even when the calls race.
//   - Capability: lease ids are random UUIDv4 values; a lease can only be
//     renewed or ended with its id and its own uid, and its id is only ever
//     returned to the caller that created it. A device id is a label, never
//     a proof: a player that knows another's device id gets nothing of it.
//     Taking a lease over (Resumed) issues a new lease id and turns the old
//     one into a tombstone (RevokedSuperseded), so a late heartbeat or end
//     of the old id touches nothing.
//   - Fencing: a grant never relies on a lease being expired or revoked
//     unless the lease's item is deleted (or already a tombstone) by the
//     time the grant commits, each delete conditioned on the item being as
//     it was read. A renewal sent before a lease's expiry that arrives
//     after a grant counted the lease expired finds nothing to renew.
//   - Nothing invented: a storage failure is returned as an error wrapping
//     ErrUnavailable or ErrContention, never as a success.
//
// # Failure modes a player must expect
//
// A lease whose heartbeats stop (crash, lost network, closed tab) is lost after
// its TTL and its slot is freed. A player that sends back its renewal tokens
// learns that its lease was revoked, ended or taken over at its first
// heartbeat that writes: at most the TTL minus the renew-below threshold,
// plus one heartbeat interval, after its last write (65 s at the defaults),
// instead of at its next heartbeat. Clock skew between service instances moves the
// expiry of a lease by the size of the skew: a fast clock may reclaim a lease
// whose player is still heartbeating (that player then gets ErrLeaseExpired and
// must acquire again), but skew can never let an account exceed its limit,
// because only grants count and every grant is serialised by the account
// version.
package lease

import (
	"errors"
	"time"
)

// Lease is one granted stream slot.
type Lease struct {
	// ID is the lease id: a random UUIDv4 and the capability to renew or end
	// the lease.
	ID string
	// UID is the account the lease belongs to.
	UID string
	// DeviceID optionally names the player's device in listings. It is a
	// label, not a capability.
	DeviceID string
	// SecretHash is the hash of the device secret the lease was granted
	// with (see Request.DeviceSecret), empty without one. Stores keep it;
	// it is never shown.
	SecretHash string
	// Client describes the player for listings.
	Client Client
	// CreatedAt is when the lease was granted.
	CreatedAt time.Time
	// RenewedAt is when the lease was last granted or renewed.
	RenewedAt time.Time
	// ExpiresAt is when the lease stops counting unless renewed. It is always
	// a whole second (the store's TTL attribute is in epoch seconds). For a
	// revoked lease it is when its tombstone may be collected.
	ExpiresAt time.Time
	// Handle names the session in listings so the account holder can end
	// it (Kick) without ever seeing its lease id. Random, not a capability
	// to renew.
	Handle string
	// Revoked is the reason the lease was ended by someone other than its
	// player (RevokedKicked, RevokedEvictedOldest, RevokedAdmin); empty for
	// a lease that was not revoked. A revoked lease never counts again; its
	// item stays as a tombstone until ExpiresAt so the player can be told
	// why.
	Revoked string
	// RevokedAt is when the lease was revoked.
	RevokedAt time.Time
}

// LiveAt reports whether the lease still counts at now.
func (l Lease) LiveAt(now time.Time) bool { return l.Revoked == "" && now.Before(l.ExpiresAt) }

// Session returns the lease as others may see it: without its id.
func (l Lease) Session() Session {
	return Session{
		Handle:    l.Handle,
		DeviceID:  l.DeviceID,
		Client:    l.Client,
		CreatedAt: l.CreatedAt,
		RenewedAt: l.RenewedAt,
		ExpiresAt: l.ExpiresAt,
	}
}

// Client is a small, free-form description of a player, shown in listings.
// Together its fields may hold at most MaxClientBytes bytes.
type Client struct {
	UserAgent string
	Title     string
}

// MaxClientBytes bounds the size of a Client description.
const MaxClientBytes = 512

// Session is a live lease as shown to the account holder and to other
// players: it never carries the lease id.
type Session struct {
	// Handle identifies the session for Kick.
	Handle    string
	DeviceID  string
	Client    Client
	CreatedAt time.Time
	RenewedAt time.Time
	ExpiresAt time.Time
}

// Request is the optional part of a CanStream call.
type Request struct {
	// DeviceID names the player's device in listings and refusals (and for
	// the evict cooldown). It proves nothing.
	DeviceID string
	// DeviceSecret, optional, is a random secret the player generated and
	// keeps (16-128 characters of A-Z a-z 0-9 - _). The lease stores only
	// its hash. A later CanStream with the same DeviceID and DeviceSecret
	// proves it holds that lease and takes it over (Decision.Resumed)
	// instead of using a second slot: that is what makes a retried
	// CanStream idempotent.
	DeviceSecret string
	// LeaseID, optional, is a lease id the player held. If that lease is
	// live, CanStream takes it over (Decision.Resumed); if it was revoked
	// (and its tombstone is still kept), CanStream fails with its
	// *RevokedError; if it expired or is unknown, CanStream goes on as a
	// fresh request.
	LeaseID string
	// Client describes the player.
	Client Client
}

// Decision is the answer to CanStream.
type Decision struct {
	// Granted reports whether the caller may start the stream.
	Granted bool
	// Lease is the granted lease (zero when refused).
	Lease Lease
	// Resumed reports that the caller proved it held a live lease (its
	// lease id or its device secret) and took it over: Lease has a new id,
	// the same session handle and creation time, and uses no new slot; the
	// old id is now a tombstone with reason RevokedSuperseded.
	Resumed bool
	// HeartbeatInterval is how often the player should renew its lease.
	HeartbeatInterval time.Duration
	// StreamCount is the number of live leases of the account, including the
	// granted one.
	StreamCount int
	// MaxStreams is the limit in force for the account.
	MaxStreams int
	// Sessions lists the live sessions when the call was refused, so a player
	// can say who is watching.
	Sessions []Session
	// Evicted lists the sessions revoked to admit this one (policy
	// PolicyEvictOldest).
	Evicted []Session
	// CooldownUntil is set when the call was refused because this device
	// was itself evicted less than the evict cooldown ago.
	CooldownUntil time.Time
	// Reclaimed counts the expired leases this grant deleted that had
	// never been ended or revoked: players that vanished without endStream
	// (crashes, killed tabs, lost networks). Revoked leases' tombstones it
	// collected are not counted.
	Reclaimed int
	// Degraded marks a fail-open grant (WithFailOpen): the store was
	// unavailable, so the lease was never written or counted; it expires
	// after the fail-open duration and cannot be renewed.
	Degraded bool
	// Token is the lease's renewal token (empty for a degraded grant):
	// the player sends it back with its first heartbeat (HeartbeatRequest).
	Token string
}

// Renewal is the answer to Heartbeat. It carries no stream count: a
// heartbeat reads nothing.
type Renewal struct {
	// Lease is the renewed lease as stored. When Skipped, only its ID, UID
	// and ExpiresAt are set, ExpiresAt being the token's.
	Lease             Lease
	HeartbeatInterval time.Duration
	// Skipped reports that the heartbeat was answered from its renewal
	// token, which still showed at least the renew-below threshold left:
	// nothing was read or written (see WithRenewBelow).
	Skipped bool
	// Token is the renewal token to send with the next heartbeat: a new
	// one after a renewal, the same one when Skipped.
	Token string
}

// Release is the answer to EndStream.
type Release struct {
	// Removed reports whether a live lease was ended by this call.
	Removed bool
	// StreamCount is the number of live leases left.
	StreamCount int
}

// Listing is the answer to List.
type Listing struct {
	StreamCount int
	MaxStreams  int
	// Policy is the at-limit policy in force for the account.
	Policy   Policy
	Sessions []Session
}

// Policy says what CanStream does when an account is at its limit.
type Policy string

// At-limit policies.
const (
	// PolicyBlockNew refuses the newcomer (the default).
	PolicyBlockNew Policy = "block_new"
	// PolicyEvictOldest admits the newcomer and revokes the oldest live
	// lease in the same atomic write, unless the newcomer's device was
	// itself evicted less than the evict cooldown ago (anti-flap).
	PolicyEvictOldest Policy = "evict_oldest"
)

// Valid reports whether p is a known policy.
func (p Policy) Valid() bool { return p == PolicyBlockNew || p == PolicyEvictOldest }

// Revocation reasons, told to the revoked player on its next heartbeat.
const (
	RevokedKicked        = "kicked"
	RevokedEvictedOldest = "evicted_oldest"
	RevokedAdmin         = "admin"
	// RevokedSuperseded: the lease was taken over by a CanStream that
	// proved it held it (the same player restarting, or reconnecting on a
	// new WebSocket), and lives on under a new lease id.
	RevokedSuperseded = "superseded"
)

// RevokedError is returned by Heartbeat for a lease that was revoked; it
// matches ErrLeaseRevoked with errors.Is.
type RevokedError struct {
	// Reason is one of the Revoked* reasons.
	Reason string
}

func (e *RevokedError) Error() string { return "lease revoked (" + e.Reason + "): acquire again" }

// Unwrap makes errors.Is(err, ErrLeaseRevoked) true.
func (e *RevokedError) Unwrap() error { return ErrLeaseRevoked }

// Validation errors. Nothing is written when one of these is returned.
var (
	ErrInvalidUID      = errors.New("invalid uid: want 1-128 characters of A-Z a-z 0-9 - _ . : @ + =, not only dots")
	ErrInvalidLeaseID  = errors.New("invalid lease id: want a canonical UUID")
	ErrInvalidDeviceID = errors.New("invalid device id: want 1-128 characters of A-Z a-z 0-9 - _ . : @ + =, not only dots")
	ErrInvalidSecret   = errors.New("invalid device secret: want 16-128 characters of A-Z a-z 0-9 - _")
	ErrInvalidClient   = errors.New("invalid client description: at most 512 bytes of valid UTF-8")
	ErrInvalidLimit    = errors.New("invalid limit: want 1-50")
	ErrInvalidPolicy   = errors.New("invalid policy: want block_new or evict_oldest")
	ErrInvalidHandle   = errors.New("invalid session handle")
)

// Outcome errors.
var (
	// ErrLeaseExpired means the lease is expired, was ended, or never existed
	// for this uid: the player must call CanStream again.
	ErrLeaseExpired = errors.New("lease expired or unknown: acquire again")
	// ErrLeaseRevoked means the lease was ended by the account holder, an
	// operator, or an eviction; the error is a *RevokedError with the reason.
	ErrLeaseRevoked = errors.New("lease revoked")
	// ErrSessionNotFound means no live session of the account has the
	// handle given to Kick.
	ErrSessionNotFound = errors.New("no live session with that handle")
	// ErrUnavailable means the store could not be reached or failed; the call
	// may be retried later. Nothing is known to have been written.
	ErrUnavailable = errors.New("lease store unavailable")
	// ErrContention means the account changed concurrently more often than
	// the retry budget allows; the call may be retried.
	ErrContention = errors.New("too many concurrent changes to this account")
	// ErrThrottled means the store refused the call for lack of capacity
	// (DynamoDB throttling); the call may be retried after a pause. The
	// store answered, so it is not ErrUnavailable: it never makes
	// CanStream fail open. Nothing was written.
	ErrThrottled = errors.New("lease store throttled the request")
)

// ErrConflict is returned by a Store when a guarded write lost a race (the
// account version or a reclaimed lease changed since it was read). The
// Service re-reads and retries; it never reaches callers of the Service.
var ErrConflict = errors.New("concurrent change")

// MaxLimit is the largest per-account limit SetLimit accepts. It keeps
// every grant, eviction and end-all within one DynamoDB transaction
// (at most 100 items).
const MaxLimit = 50

// MaxCommitReclaim is how many expired items a grant deletes in its own
// atomic write (Change.Reclaim); it deletes any beyond that first, with
// Store.Reclaim, so that every expired item it counted is gone when it
// commits (fencing).
const MaxCommitReclaim = 25
