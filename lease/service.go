package lease

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Defaults used when no Option says otherwise.
const (
	DefaultMaxStreams        = 3
	DefaultLeaseTTL          = 100 * time.Second
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultMaxAttempts       = 12
	DefaultBackoffBase       = 5 * time.Millisecond
	DefaultBackoffMax        = 200 * time.Millisecond
	DefaultEvictCooldown     = 5 * time.Minute
)

// Service implements CanStream, Heartbeat and EndStream on top of a Store.
// It is safe for concurrent use.
type Service struct {
	store       Store
	maxStreams  int
	ttl         time.Duration
	interval    time.Duration
	now         func() time.Time
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	newID       func() (string, error)
	policy      Policy
	cooldown    time.Duration
	renewBelow  time.Duration // < 0: DefaultRenewBelow
	tokenKeys   [][]byte      // see token.go
	failOpen    time.Duration // see failopen.go
	queue       accountQueue  // see hot.go
	guard       commitGuard   // see hot.go
}

// Option configures a Service.
type Option func(*Service)

// WithMaxStreams sets the default limit for accounts without an override.
func WithMaxStreams(n int) Option { return func(s *Service) { s.maxStreams = n } }

// WithLeaseTTL sets how long a lease lives without a heartbeat.
func WithLeaseTTL(d time.Duration) Option { return func(s *Service) { s.ttl = d } }

// WithHeartbeatInterval sets the renewal interval announced to players.
func WithHeartbeatInterval(d time.Duration) Option { return func(s *Service) { s.interval = d } }

// WithClock injects the clock (tests; the default is time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRetry sets how often a grant that lost a race is retried, with full
// jitter backoff between base and max.
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(s *Service) { s.maxAttempts, s.backoffBase, s.backoffMax = attempts, base, max }
}

// WithPolicy sets the default at-limit policy (PolicyBlockNew unless set).
func WithPolicy(p Policy) Option { return func(s *Service) { s.policy = p } }

// WithEvictCooldown sets how long a device evicted by PolicyEvictOldest is
// refused instead of evicting back (default DefaultEvictCooldown).
func WithEvictCooldown(d time.Duration) Option { return func(s *Service) { s.cooldown = d } }

// WithRenewBelow sets the renew-below threshold of heartbeats: a heartbeat
// that brings back a valid renewal token (HeartbeatRequest.Token) showing
// at least d left is answered from the token, touching the store not at
// all; any other heartbeat renews. d must exceed two heartbeat intervals,
// so that a heartbeat after a skipped one may be lost and the next one
// still renews in time, and be at most the lease TTL minus one interval,
// or no heartbeat is ever skipped. Zero renews on every heartbeat. The
// default (also for a negative d) is DefaultRenewBelow: 65 s at the
// default interval (30 s) and TTL (100 s), where every other heartbeat
// writes.
func WithRenewBelow(d time.Duration) Option { return func(s *Service) { s.renewBelow = d } }

// WithIDGenerator replaces the UUIDv4 lease id generator (tests only; ids
// must stay unguessable canonical UUIDs).
func WithIDGenerator(f func() (string, error)) Option { return func(s *Service) { s.newID = f } }

// New returns a Service over store. It rejects a lease TTL shorter than two
// heartbeat intervals, which would expire leases between healthy heartbeats,
// and a renew-below threshold outside (two intervals, TTL − one interval]
// (see WithRenewBelow).
func New(store Store, opts ...Option) (*Service, error) {
	s := &Service{
		store:       store,
		maxStreams:  DefaultMaxStreams,
		ttl:         DefaultLeaseTTL,
		interval:    DefaultHeartbeatInterval,
		now:         time.Now,
		maxAttempts: DefaultMaxAttempts,
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
		newID:       func() (string, error) { u, err := uuid.NewRandom(); return u.String(), err },
		policy:      PolicyBlockNew,
		cooldown:    DefaultEvictCooldown,
		renewBelow:  -1,
	}
	for _, o := range opts {
		o(s)
	}
	if s.renewBelow < 0 {
		s.renewBelow = DefaultRenewBelow(s.ttl, s.interval)
	}
	if err := s.checkTokenKeys(); err != nil {
		return nil, err
	}
	switch {
	case store == nil:
		return nil, errors.New("lease: nil store")
	case s.maxStreams < 1 || s.maxStreams > MaxLimit:
		return nil, fmt.Errorf("lease: max streams %d: %w", s.maxStreams, ErrInvalidLimit)
	case s.interval < time.Second:
		return nil, fmt.Errorf("lease: heartbeat interval %v is below 1s", s.interval)
	case s.ttl < 2*s.interval:
		return nil, fmt.Errorf("lease: lease TTL %v is shorter than two heartbeat intervals (%v)", s.ttl, 2*s.interval)
	case s.maxAttempts < 1 || s.backoffBase <= 0 || s.backoffMax < s.backoffBase:
		return nil, errors.New("lease: invalid retry settings")
	case !s.policy.Valid():
		return nil, fmt.Errorf("lease: policy %q: %w", s.policy, ErrInvalidPolicy)
	case s.cooldown < 0:
		return nil, errors.New("lease: negative evict cooldown")
	case s.failOpen < 0 || s.failOpen > MaxFailOpen:
		return nil, fmt.Errorf("lease: fail-open duration %v is not within [0, %v]", s.failOpen, MaxFailOpen)
	case s.renewBelow != 0 && (s.renewBelow <= 2*s.interval || s.renewBelow > s.ttl-s.interval):
		return nil, fmt.Errorf("lease: renew-below %v must exceed two heartbeat intervals (%v), so a lost heartbeat after a skipped one "+
			"costs no lease, and be at most the lease TTL minus one interval (%v), or no heartbeat is ever skipped; 0 renews on every heartbeat",
			s.renewBelow, 2*s.interval, s.ttl-s.interval)
	}
	s.store = admitted{store: s.store} // admit.go
	return s, nil
}

// MaxStreams returns the default limit.
func (s *Service) MaxStreams() int { return s.maxStreams }

// LeaseTTL returns the lease lifetime without heartbeat.
func (s *Service) LeaseTTL() time.Duration { return s.ttl }

// HeartbeatInterval returns the renewal interval announced to players.
func (s *Service) HeartbeatInterval() time.Duration { return s.interval }

// RenewBelow returns the renew-below threshold of heartbeats (0: every
// heartbeat writes).
func (s *Service) RenewBelow() time.Duration { return s.renewBelow }

// Policy returns the default at-limit policy.
func (s *Service) Policy() Policy { return s.policy }

// CanStream grants a lease to uid if it has fewer live leases than its limit,
// or returns the live lease of the same device. A refusal is a Decision with
// Granted false, not an error. Errors: validation errors, ErrUnavailable,
// ErrContention.
func (s *Service) CanStream(ctx context.Context, uid string, req Request) (Decision, error) {
	if err := validateRequest(uid, req); err != nil {
		return Decision{}, err
	}
	var d Decision
	store, leave, err := s.queue.enter(ctx, s.store, &s.guard, uid) // hot.go
	if err != nil {
		return Decision{}, err
	}
	defer leave()
	st := &answering{Store: store}
	err = s.retry(ctx, func() error {
		var err error
		d, err = s.tryGrant(ctx, st, uid, req)
		return err
	})
	if err != nil && st.answered && errors.Is(err, ErrUnavailable) {
		// The store answered (a read, a conflict) and then did not: it
		// is working, under load, and a write it was sent may have
		// committed. That is contention, and never a reason to fail open.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: the store answered, then the request ran out of time: %w", ErrContention, cerr)
		} else {
			err = fmt.Errorf("%w: the store answered, then: %v", ErrContention, err)
		}
	}
	if err != nil && s.failOpen > 0 && errors.Is(err, ErrUnavailable) {
		return s.degradedGrant(uid, req)
	}
	return d, err
}

// answering remembers whether any call of one CanStream got an answer
// from the store (success, a failed condition, a conflict): only a store
// that never answered is unavailable enough to fail open.
type answering struct {
	Store
	answered bool
}

func (a *answering) note(err error) error {
	if err == nil || !errors.Is(err, ErrUnavailable) {
		a.answered = true
	}
	return err
}

func (a *answering) Load(ctx context.Context, uid string, consistent bool) (Account, error) {
	acct, err := a.Store.Load(ctx, uid, consistent)
	return acct, a.note(err)
}

func (a *answering) Commit(ctx context.Context, uid string, c Change) error {
	return a.note(a.Store.Commit(ctx, uid, c))
}

func (a *answering) Reclaim(ctx context.Context, uid string, leases []Lease) error {
	return a.note(a.Store.Reclaim(ctx, uid, leases))
}

func (s *Service) tryGrant(ctx context.Context, store Store, uid string, req Request) (Decision, error) {
	acct, err := store.Load(ctx, uid, true)
	if err != nil {
		return Decision{}, err
	}
	now := s.clock()
	limit := s.limitOf(acct)
	live, reclaim, tombstones := split(acct.Leases, now)
	d := Decision{HeartbeatInterval: s.interval, MaxStreams: limit, StreamCount: len(live)}

	if held, ok := proven(live, req); ok {
		return s.resume(ctx, store, uid, req, acct.Version, held, now, d)
	}
	if req.LeaseID != "" {
		for _, t := range tombstones {
			if t.ID == req.LeaseID {
				return Decision{}, &RevokedError{Reason: t.Revoked}
			}
		}
	}

	var evict []Revocation
	if len(live) >= limit {
		if s.policyOf(acct) != PolicyEvictOldest {
			d.Sessions = sessions(live)
			return d, nil
		}
		if until := s.cooldownUntil(tombstones, req.DeviceID, now); !until.IsZero() {
			d.Sessions, d.CooldownUntil = sessions(live), until
			return d, nil
		}
		oldest := slices.Clone(live)
		slices.SortFunc(oldest, func(a, b Lease) int { return a.CreatedAt.Compare(b.CreatedAt) })
		keep := s.tombstoneExpiry(now)
		for _, l := range oldest[:len(live)-limit+1] {
			evict = append(evict, Revocation{Lease: l, Reason: RevokedEvictedOldest, At: now, KeepUntil: keep})
			d.Evicted = append(d.Evicted, l.Session())
		}
	}

	id, err := s.newID()
	if err != nil {
		return Decision{}, fmt.Errorf("lease: generating lease id: %w", err)
	}
	grant := Lease{
		ID: id, UID: uid, DeviceID: req.DeviceID, Client: req.Client, Handle: handleOf(id),
		SecretHash: secretHash(req.DeviceID, req.DeviceSecret),
		CreatedAt:  now, RenewedAt: now, ExpiresAt: s.expiry(now),
	}
	// Fencing: this grant counts every item in reclaim as not live, so
	// every one of them must be gone when it commits, or a renewal sent
	// before its expiry and arriving late could revive it. What does not
	// fit in the grant's own write is deleted first.
	fenced := reclaim
	if len(fenced) > MaxCommitReclaim {
		if err := store.Reclaim(ctx, uid, fenced[MaxCommitReclaim:]); err != nil {
			return Decision{}, err
		}
		fenced = fenced[:MaxCommitReclaim]
	}
	count := len(live) - len(evict) + 1
	c := Change{Version: acct.Version, Grant: grant, Reclaim: fenced, Revoke: evict, Count: count}
	if err := store.Commit(ctx, uid, c); err != nil {
		return Decision{}, err
	}
	d.Granted, d.Lease, d.StreamCount = true, grant, count
	d.Token = s.token(uid, grant.ID, "", grant.ExpiresAt)
	for _, l := range reclaim {
		if l.Revoked == "" {
			d.Reclaimed++
		}
	}
	return d, nil
}

// proven returns the live lease the request proves it holds: the one
// with its LeaseID, or the one granted with its DeviceID and DeviceSecret.
// A device id alone proves nothing.
func proven(live []Lease, req Request) (Lease, bool) {
	if req.LeaseID != "" {
		if i := slices.IndexFunc(live, func(l Lease) bool { return l.ID == req.LeaseID }); i >= 0 {
			return live[i], true
		}
	}
	// Should two live leases carry the secret (one was taken over by its
	// lease id from another device), the oldest session is the one.
	var best Lease
	found := false
	if h := secretHash(req.DeviceID, req.DeviceSecret); h != "" {
		for _, l := range live {
			if l.SecretHash == h && (!found || olderSession(l, best)) {
				best, found = l, true
			}
		}
	}
	return best, found
}

// mergeClient is the description of a taken-over lease: what the request
// says, and the rest from before (a restarted player that sends only its
// user agent keeps its title), within MaxClientBytes.
func mergeClient(old, req Client) Client {
	c := old
	if req.UserAgent != "" {
		c.UserAgent = req.UserAgent
	}
	if req.Title != "" {
		c.Title = req.Title
	}
	if len(c.UserAgent)+len(c.Title) > MaxClientBytes {
		return req
	}
	return c
}

// olderSession orders sessions by creation time, then lease id.
func olderSession(a, b Lease) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}

// resume hands the lease held over to the caller that proved it holds it,
// under a new lease id: one version-guarded write puts the new lease and
// turns the old one into a RevokedSuperseded tombstone, so the slot count
// is unchanged and a late heartbeat or end of the old id touches nothing.
// The session keeps its handle and creation time.
func (s *Service) resume(ctx context.Context, store Store, uid string, req Request, version int64, held Lease, now time.Time, d Decision) (Decision, error) {
	id, err := s.newID()
	if err != nil {
		return Decision{}, fmt.Errorf("lease: generating lease id: %w", err)
	}
	next := held
	next.ID, next.RenewedAt, next.ExpiresAt = id, now, s.expiry(now)
	if req.DeviceID != "" && req.DeviceID != held.DeviceID {
		next.DeviceID, next.SecretHash = req.DeviceID, ""
	}
	if req.DeviceSecret != "" {
		next.SecretHash = secretHash(next.DeviceID, req.DeviceSecret)
	}
	next.Client = mergeClient(held.Client, req.Client)
	keep := next.ExpiresAt
	if held.ExpiresAt.After(keep) {
		keep = held.ExpiresAt
	}
	old := Revocation{Lease: held, Reason: RevokedSuperseded, At: now, KeepUntil: keep}
	c := Change{Version: version, Grant: next, Revoke: []Revocation{old}, Count: d.StreamCount}
	if err := store.Commit(ctx, uid, c); err != nil {
		return Decision{}, err
	}
	d.Granted, d.Resumed, d.Lease = true, true, next
	d.Token = s.token(uid, next.ID, "", next.ExpiresAt)
	return d, nil
}

// cooldownUntil returns when device may evict again, or zero if it may now:
// a device evicted by PolicyEvictOldest less than the cooldown ago is
// refused instead of evicting back, so two devices cannot flap.
func (s *Service) cooldownUntil(tombstones []Lease, device string, now time.Time) time.Time {
	var until time.Time
	if device == "" {
		return until
	}
	for _, t := range tombstones {
		if t.DeviceID == device && t.Revoked == RevokedEvictedOldest {
			if u := t.RevokedAt.Add(s.cooldown); now.Before(u) && u.After(until) {
				until = u
			}
		}
	}
	return until
}

// tombstoneExpiry is how long a revoked lease is kept so its player learns
// why (at least a lease TTL) and the evict cooldown can be enforced.
func (s *Service) tombstoneExpiry(now time.Time) time.Time {
	return roundUp(now.Add(max(s.ttl, s.cooldown)))
}

// Heartbeat renews a live lease: one conditional write, and no read. It
// returns ErrLeaseExpired when the lease has expired, was ended, or is not
// a lease of uid, and a *RevokedError (ErrLeaseRevoked) when it was
// revoked; it never revives one. It never shortens one either: when the
// store already holds a later expiry than now+TTL by this instance's clock
// (a renewal from an instance whose clock runs ahead, or one sent later
// that landed first), it answers that expiry and a token for it, so no
// player holds a token for a time the store counts its lease expired.
//
// A heartbeat that brings back a valid renewal token with at least the
// renew-below threshold left is answered from the token (Skipped) without
// touching the store, so a revocation, an end or a takeover reaches a
// player that sends tokens at its first heartbeat that writes: at most the
// TTL minus the threshold, plus one heartbeat interval, after the write
// that issued its token (65 s at the defaults), instead of one interval.
// See token.go.
func (s *Service) Heartbeat(ctx context.Context, uid, leaseID string, req HeartbeatRequest) (Renewal, error) {
	if err := validateLease(uid, leaseID); err != nil {
		return Renewal{}, err
	}
	now := s.clock()
	if exp, ok := s.skip(uid, leaseID, req, now); ok {
		return Renewal{
			Lease:             Lease{ID: leaseID, UID: uid, ExpiresAt: exp},
			HeartbeatInterval: s.interval, Skipped: true, Token: req.Token,
		}, nil
	}
	l, err := s.store.Renew(ctx, uid, leaseID, now, s.expiry(now))
	if err != nil {
		return Renewal{}, err
	}
	return Renewal{Lease: l, HeartbeatInterval: s.interval, Token: s.token(uid, leaseID, req.Scope, l.ExpiresAt)}, nil
}

// EndStream ends a lease at once. Ending an ended, expired, revoked or
// unknown lease (or another uid's lease) is not an error: Removed is false
// and nothing is written. The count is read before the end, so the end is
// the last step: an error means nothing was ended.
func (s *Service) EndStream(ctx context.Context, uid, leaseID string) (Release, error) {
	if err := validateLease(uid, leaseID); err != nil {
		return Release{}, err
	}
	return onLive(ctx, s, uid, true, func(live []Lease, now time.Time) (Release, error) {
		removed, err := s.store.Release(ctx, uid, leaseID, now)
		if err != nil {
			return Release{}, err
		}
		n := len(live)
		if removed && slices.ContainsFunc(live, func(x Lease) bool { return x.ID == leaseID }) {
			n--
		}
		return Release{Removed: removed, StreamCount: n}, nil
	})
}

// List returns the live sessions of uid and the limit in force.
func (s *Service) List(ctx context.Context, uid string) (Listing, error) {
	if !ValidUID(uid) {
		return Listing{}, ErrInvalidUID
	}
	acct, err := s.store.Load(ctx, uid, true)
	if err != nil {
		return Listing{}, err
	}
	live, _, _ := split(acct.Leases, s.clock())
	return Listing{StreamCount: len(live), MaxStreams: s.limitOf(acct), Policy: s.policyOf(acct), Sessions: sessions(live)}, nil
}

// SetLimit overrides the limit of uid (1..MaxLimit). Lowering it evicts
// nobody: existing leases stay renewable, new ones are refused until the
// count drops below the limit.
func (s *Service) SetLimit(ctx context.Context, uid string, limit int) error {
	if !ValidUID(uid) {
		return ErrInvalidUID
	}
	if limit < 1 || limit > MaxLimit {
		return ErrInvalidLimit
	}
	return s.store.SetLimit(ctx, uid, limit)
}

// ClearLimit removes the override of uid so the default applies again.
func (s *Service) ClearLimit(ctx context.Context, uid string) error {
	if !ValidUID(uid) {
		return ErrInvalidUID
	}
	return s.store.SetLimit(ctx, uid, 0)
}

// SetPolicy overrides the at-limit policy of uid.
func (s *Service) SetPolicy(ctx context.Context, uid string, p Policy) error {
	if !ValidUID(uid) {
		return ErrInvalidUID
	}
	if !p.Valid() {
		return ErrInvalidPolicy
	}
	return s.store.SetPolicy(ctx, uid, p)
}

// ClearPolicy removes the policy override of uid so the default applies.
func (s *Service) ClearPolicy(ctx context.Context, uid string) error {
	if !ValidUID(uid) {
		return ErrInvalidUID
	}
	return s.store.SetPolicy(ctx, uid, "")
}

// Kick ends the live session of uid that has handle, with reason (RevokedKicked
// for the account holder, RevokedAdmin for an operator). Its player's next
// heartbeat fails with a *RevokedError; its slot is free at once. Returns
// ErrSessionNotFound when no live session has the handle.
func (s *Service) Kick(ctx context.Context, uid, handle, reason string) (Release, error) {
	if !ValidUID(uid) {
		return Release{}, ErrInvalidUID
	}
	if !ValidHandle(handle) {
		return Release{}, ErrInvalidHandle
	}
	return s.revoke(ctx, uid, reason, func(l Lease) bool { return l.Handle == handle })
}

// EndAll ends every live session of uid with reason; their players' next
// heartbeats fail with a *RevokedError. Removed reports whether any was
// live.
func (s *Service) EndAll(ctx context.Context, uid, reason string) (Release, error) {
	if !ValidUID(uid) {
		return Release{}, ErrInvalidUID
	}
	rel, err := s.revoke(ctx, uid, reason, func(Lease) bool { return true })
	if errors.Is(err, ErrSessionNotFound) {
		return Release{StreamCount: 0}, nil
	}
	return rel, err
}

func (s *Service) revoke(ctx context.Context, uid, reason string, match func(Lease) bool) (Release, error) {
	switch reason {
	case RevokedKicked, RevokedAdmin:
	default:
		return Release{}, fmt.Errorf("lease: revoke reason %q is not kicked or admin", reason)
	}
	return onLive(ctx, s, uid, true, func(live []Lease, now time.Time) (Release, error) {
		var rs []Revocation
		for _, l := range live {
			if match(l) {
				rs = append(rs, Revocation{Lease: l, Reason: reason, At: now, KeepUntil: s.tombstoneExpiry(now)})
			}
		}
		if len(rs) == 0 {
			return Release{}, ErrSessionNotFound
		}
		if err := s.store.Revoke(ctx, uid, rs); err != nil {
			return Release{}, err
		}
		return Release{Removed: true, StreamCount: len(live) - len(rs)}, nil
	})
}

// Ping checks that the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// retry runs op until it returns something other than ErrConflict, sleeping
// with full jitter between attempts, and gives up with ErrContention.
func (s *Service) retry(ctx context.Context, op func() error) error {
	backoff := s.backoffBase
	for attempt := 1; ; attempt++ {
		err := op()
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if attempt >= s.maxAttempts {
			return fmt.Errorf("%w: gave up after %d attempts", ErrContention, attempt)
		}
		t := time.NewTimer(rand.N(backoff) + time.Millisecond)
		select {
		case <-ctx.Done():
			// The store answered every attempt: this is contention that
			// outlasted the request, not an outage.
			t.Stop()
			return fmt.Errorf("%w: deadline reached after %d attempts: %w", ErrContention, attempt, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, s.backoffMax)
	}
}

// onLive is the read-then-write shape of EndStream and revoke:
// it loads uid (strongly consistent when consistent is set), then reads the
// clock and hands act the leases live at that instant; act's write is the
// last step. The whole load-then-act is retried on ErrConflict (see retry);
// on an error the result is T's zero value.
func onLive[T any](ctx context.Context, s *Service, uid string, consistent bool, act func(live []Lease, now time.Time) (T, error)) (T, error) {
	var out T
	err := s.retry(ctx, func() error {
		acct, err := s.store.Load(ctx, uid, consistent)
		if err != nil {
			return err
		}
		now := s.clock()
		live, _, _ := split(acct.Leases, now)
		out, err = act(live, now)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// clock reads the injected clock at the millisecond precision stores keep.
func (s *Service) clock() time.Time { return s.now().Truncate(time.Millisecond) }

func (s *Service) policyOf(a Account) Policy {
	if a.Policy != "" {
		return a.Policy
	}
	return s.policy
}

func (s *Service) limitOf(a Account) int {
	if a.MaxStreams > 0 {
		return a.MaxStreams
	}
	return s.maxStreams
}

// expiry returns now+TTL rounded up to a whole second.
func (s *Service) expiry(now time.Time) time.Time { return roundUp(now.Add(s.ttl)) }

// roundUp rounds t up to a whole second.
func roundUp(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// split sorts an account's stored leases into live ones, ones a grant may
// delete (expired, including tombstones past their keep time), and
// tombstones still kept.
func split(all []Lease, now time.Time) (live, reclaim, tombstones []Lease) {
	for _, l := range all {
		switch {
		case l.LiveAt(now):
			live = append(live, l)
		case !now.Before(l.ExpiresAt):
			reclaim = append(reclaim, l)
		default:
			tombstones = append(tombstones, l)
		}
	}
	return live, reclaim, tombstones
}

func sessions(live []Lease) []Session {
	out := make([]Session, 0, len(live))
	for _, l := range live {
		out = append(out, l.Session())
	}
	slices.SortFunc(out, func(a, b Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.DeviceID, b.DeviceID)
	})
	return out
}
