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
	DefaultLeaseTTL          = 90 * time.Second
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultMaxAttempts       = 12
	DefaultBackoffBase       = 5 * time.Millisecond
	DefaultBackoffMax        = 200 * time.Millisecond
)

// maxReclaim bounds how many expired leases one grant deletes, keeping the
// transaction far below DynamoDB's 100-item limit.
const maxReclaim = 25

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

// WithIDGenerator replaces the UUIDv4 lease id generator (tests only; ids
// must stay unguessable canonical UUIDs).
func WithIDGenerator(f func() (string, error)) Option { return func(s *Service) { s.newID = f } }

// New returns a Service over store. It rejects a lease TTL shorter than two
// heartbeat intervals, which would expire leases between healthy heartbeats.
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
	}
	for _, o := range opts {
		o(s)
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
	}
	return s, nil
}

// MaxStreams returns the default limit.
func (s *Service) MaxStreams() int { return s.maxStreams }

// LeaseTTL returns the lease lifetime without heartbeat.
func (s *Service) LeaseTTL() time.Duration { return s.ttl }

// HeartbeatInterval returns the renewal interval announced to players.
func (s *Service) HeartbeatInterval() time.Duration { return s.interval }

// CanStream grants a lease to uid if it has fewer live leases than its limit,
// or returns the live lease of the same device. A refusal is a Decision with
// Granted false, not an error. Errors: validation errors, ErrUnavailable,
// ErrContention.
func (s *Service) CanStream(ctx context.Context, uid string, req Request) (Decision, error) {
	if err := validateRequest(uid, req); err != nil {
		return Decision{}, err
	}
	var d Decision
	err := s.retry(ctx, func() error {
		var err error
		d, err = s.tryGrant(ctx, uid, req)
		return err
	})
	return d, err
}

func (s *Service) tryGrant(ctx context.Context, uid string, req Request) (Decision, error) {
	acct, err := s.store.Load(ctx, uid, true)
	if err != nil {
		return Decision{}, err
	}
	now := s.clock()
	limit := s.limitOf(acct)
	live, expired := split(acct.Leases, now)
	d := Decision{HeartbeatInterval: s.interval, MaxStreams: limit, StreamCount: len(live)}

	if req.DeviceID != "" {
		for _, l := range live {
			if l.DeviceID != req.DeviceID {
				continue
			}
			renewed, err := s.store.Renew(ctx, uid, l.ID, now, s.expiry(now))
			if errors.Is(err, ErrLeaseExpired) {
				return Decision{}, ErrConflict // ended or expired meanwhile: read again
			}
			if err != nil {
				return Decision{}, err
			}
			d.Granted, d.Reused, d.Lease = true, true, renewed
			return d, nil
		}
	}
	if len(live) >= limit {
		d.Sessions = sessions(live)
		return d, nil
	}

	id, err := s.newID()
	if err != nil {
		return Decision{}, fmt.Errorf("lease: generating lease id: %w", err)
	}
	grant := Lease{
		ID: id, UID: uid, DeviceID: req.DeviceID, Client: req.Client,
		CreatedAt: now, RenewedAt: now, ExpiresAt: s.expiry(now),
	}
	if len(expired) > maxReclaim {
		expired = expired[:maxReclaim]
	}
	c := Change{Version: acct.Version, Grant: grant, Reclaim: expired, Count: len(live) + 1}
	if err := s.store.Commit(ctx, uid, c); err != nil {
		return Decision{}, err
	}
	d.Granted, d.Lease, d.StreamCount = true, grant, len(live)+1
	return d, nil
}

// Heartbeat renews a live lease. It returns ErrLeaseExpired when the lease
// has expired, was ended, or is not a lease of uid; it never revives one.
func (s *Service) Heartbeat(ctx context.Context, uid, leaseID string) (Renewal, error) {
	if err := validateLease(uid, leaseID); err != nil {
		return Renewal{}, err
	}
	now := s.clock()
	l, err := s.store.Renew(ctx, uid, leaseID, now, s.expiry(now))
	if err != nil {
		return Renewal{}, err
	}
	n, err := s.count(ctx, uid, false)
	if err != nil {
		return Renewal{}, err
	}
	return Renewal{Lease: l, HeartbeatInterval: s.interval, StreamCount: n}, nil
}

// EndStream ends a lease at once. Ending an ended, expired or unknown lease
// (or another uid's lease) is not an error: Removed is false and nothing is
// written.
func (s *Service) EndStream(ctx context.Context, uid, leaseID string) (Release, error) {
	if err := validateLease(uid, leaseID); err != nil {
		return Release{}, err
	}
	var removed bool
	err := s.retry(ctx, func() error {
		var err error
		removed, err = s.store.Release(ctx, uid, leaseID, s.clock())
		return err
	})
	if err != nil {
		return Release{}, err
	}
	n, err := s.count(ctx, uid, true)
	if err != nil {
		return Release{}, err
	}
	return Release{Removed: removed, StreamCount: n}, nil
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
	live, _ := split(acct.Leases, s.clock())
	return Listing{StreamCount: len(live), MaxStreams: s.limitOf(acct), Sessions: sessions(live)}, nil
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

// Ping checks that the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// count returns the number of live leases of uid. A heartbeat's count may
// come from an eventually consistent read (cheaper, and a second-old count is
// fine there); after an end the count must include that end.
func (s *Service) count(ctx context.Context, uid string, consistent bool) (int, error) {
	acct, err := s.store.Load(ctx, uid, consistent)
	if err != nil {
		return 0, err
	}
	live, _ := split(acct.Leases, s.clock())
	return len(live), nil
}

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
			t.Stop()
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, s.backoffMax)
	}
}

// clock reads the injected clock at the millisecond precision stores keep.
func (s *Service) clock() time.Time { return s.now().Truncate(time.Millisecond) }

func (s *Service) limitOf(a Account) int {
	if a.MaxStreams > 0 {
		return a.MaxStreams
	}
	return s.maxStreams
}

// expiry returns now+TTL rounded up to a whole second.
func (s *Service) expiry(now time.Time) time.Time {
	e := now.Add(s.ttl)
	if t := e.Truncate(time.Second); !t.Equal(e) {
		return t.Add(time.Second)
	}
	return e
}

func split(all []Lease, now time.Time) (live, expired []Lease) {
	for _, l := range all {
		if l.LiveAt(now) {
			live = append(live, l)
		} else {
			expired = append(expired, l)
		}
	}
	return live, expired
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
