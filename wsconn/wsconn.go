// Package wsconn is the WebSocket variant of streamlimit: one connection is
// one stream. A connection acquires a lease when it opens (or resumes a live
// one), renews it with heartbeat messages, and ends it when it closes.
//
// It adds no lease rules of its own: every decision is lease.Service's
// (CanStream, Heartbeat, EndStream), so the bound, expiry, no-resurrection
// and idempotence guarantees are the HTTP API's. What it adds is the binding
// of a connection id to a lease (ConnStore), because API Gateway's
// $disconnect event names only the connection.
//
// # Guarantees and failure modes
//
//   - A connection is bound to at most one lease, and a lease has at most one
//     current connection: the last one that connected with it (Connect with
//     its lease id, or with the same device id while it is live).
//   - Disconnect ends the lease only when the closing connection is still
//     the lease's current connection. A late $disconnect of a connection the
//     player has already replaced (network change, reconnecting before the
//     2-hour cap) is harmless: it forgets the stale binding and leaves the
//     lease to the new connection. A binding whose lease has since expired
//     or ended is harmless too: EndStream reports Removed false.
//   - A lost Disconnect (API Gateway delivers $disconnect best effort; a
//     local socket dropped without a close frame) ends nothing: the lease
//     expires by its TTL like any lease whose heartbeats stop, and until then
//     the player can resume it with its lease id.
//   - A resumed lease that was revoked (kicked, evicted) is refused with a
//     *lease.RevokedError, so a kicked player does not come back by simply
//     reconnecting; an expired or unknown lease id is no error: Connect then
//     acquires like a fresh connection (and may be refused).
//   - Race: a Disconnect of the current connection that interleaves with a
//     resume of the same lease on a new connection can end the lease under
//     the new connection; its next heartbeat then fails with
//     lease.ErrLeaseExpired and it acquires again. The bound is never at
//     risk: only lease.Service grants.
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// MaxConnectionAge is how long API Gateway keeps a WebSocket connection open
// (2 hours, not adjustable). The local server closes its sockets at the same
// age, and a binding is kept at most this long plus a lease TTL.
const MaxConnectionAge = 2 * time.Hour

// ErrNotBound means the connection holds no lease (it never acquired one,
// its binding was forgotten, or it is older than MaxConnectionAge). It
// matches lease.ErrLeaseExpired: the player must connect again.
var ErrNotBound = fmt.Errorf("connection holds no lease: %w", lease.ErrLeaseExpired)

// ErrInvalidConnID means a connection id is empty, too long, or has a
// character outside A-Z a-z 0-9 + / = _ - (API Gateway's ids are base64).
var ErrInvalidConnID = errors.New("invalid connection id")

// Binding ties a connection to the lease it holds.
type Binding struct {
	ConnID  string
	UID     string
	LeaseID string
	// ExpiresAt is when the binding may be forgotten: the connection's
	// MaxConnectionAge plus a lease TTL. It is the store's TTL attribute;
	// a binding past it is not returned.
	ExpiresAt time.Time
}

// ConnStore keeps connection bindings. Every method may return an error
// wrapping lease.ErrUnavailable when the backend fails.
type ConnStore interface {
	// Bind records b and makes b.ConnID the current connection of
	// b.LeaseID, replacing any earlier one.
	Bind(ctx context.Context, b Binding) error
	// Lookup returns the binding of connID, or ErrNotBound when there is
	// none or it has expired at now.
	Lookup(ctx context.Context, connID string, now time.Time) (Binding, error)
	// Current reports, from a strongly consistent read, whether b.ConnID
	// is still the current connection of b.LeaseID.
	Current(ctx context.Context, b Binding) (bool, error)
	// Unbind forgets b (the binding of b.ConnID) and, if b.ConnID is still
	// the current connection of b.LeaseID, that too. Unbinding a binding
	// that is gone is not an error.
	Unbind(ctx context.Context, b Binding) error
}

// Service opens, renews and closes the streams of WebSocket connections on
// top of a lease.Service. It is safe for concurrent use.
type Service struct {
	leases *lease.Service
	conns  ConnStore
	now    func() time.Time
	maxAge time.Duration
}

// Option configures a Service.
type Option func(*Service)

// WithClock injects the clock (tests; the default is time.Now). It should be
// the lease.Service's clock.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithMaxConnectionAge sets how long a connection may stay open (default
// MaxConnectionAge; tests shorten it).
func WithMaxConnectionAge(d time.Duration) Option { return func(s *Service) { s.maxAge = d } }

// New returns a Service over leases and conns.
func New(leases *lease.Service, conns ConnStore, opts ...Option) (*Service, error) {
	s := &Service{leases: leases, conns: conns, now: time.Now, maxAge: MaxConnectionAge}
	for _, o := range opts {
		o(s)
	}
	switch {
	case leases == nil:
		return nil, errors.New("wsconn: nil lease service")
	case conns == nil:
		return nil, errors.New("wsconn: nil connection store")
	case s.maxAge <= 0:
		return nil, errors.New("wsconn: max connection age must be positive")
	}
	return s, nil
}

// MaxConnectionAge returns how long a connection may stay open.
func (s *Service) MaxConnectionAge() time.Duration { return s.maxAge }

// ConnectRequest is a connection asking to stream.
type ConnectRequest struct {
	// ConnID identifies the connection (API Gateway's connectionId).
	ConnID string
	// UID is the account.
	UID string
	// DeviceID, optional, makes a reconnect from the same device resume
	// its live lease (lease.Request.DeviceID).
	DeviceID string
	// LeaseID, optional, resumes that lease of UID if it is still live.
	LeaseID string
	// Client describes the player.
	Client lease.Client
}

// Connected is the answer to Connect.
type Connected struct {
	// Granted reports whether the connection may stream; when false the
	// connection must be refused and nothing was bound.
	Granted bool
	// Lease is the lease the connection now holds.
	Lease lease.Lease
	// Resumed reports that Lease was already live: the given lease id, or
	// the live lease of the same device.
	Resumed bool
	// StreamCount is the number of live leases of the account.
	StreamCount int
	// MaxStreams is the limit in force (set when refused).
	MaxStreams int
}

// Connect acquires or resumes a lease for a new connection and binds it.
// With req.LeaseID it first renews that lease: if it is live the connection
// takes it over (Resumed); if it expired or is unknown the call goes on as
// a fresh acquire; if it was revoked it fails with a *lease.RevokedError.
// A refusal is Connected{Granted: false}, not an error.
//
// Errors: ErrInvalidConnID, lease validation errors, *lease.RevokedError,
// lease.ErrUnavailable, lease.ErrContention. A lease granted by this call is
// ended again when it cannot be bound.
func (s *Service) Connect(ctx context.Context, req ConnectRequest) (Connected, error) {
	if !ValidConnID(req.ConnID) {
		return Connected{}, ErrInvalidConnID
	}
	if req.LeaseID != "" {
		if !lease.ValidLeaseID(req.LeaseID) {
			return Connected{}, lease.ErrInvalidLeaseID
		}
		if req.DeviceID != "" && !lease.ValidDeviceID(req.DeviceID) {
			return Connected{}, lease.ErrInvalidDeviceID
		}
		rn, err := s.leases.Heartbeat(ctx, req.UID, req.LeaseID)
		switch {
		case err == nil:
			c := Connected{Granted: true, Lease: rn.Lease, Resumed: true, StreamCount: rn.StreamCount}
			if err := s.bind(ctx, req.ConnID, rn.Lease); err != nil {
				return Connected{}, err
			}
			return c, nil
		case errors.Is(err, lease.ErrLeaseExpired):
			// Gone: acquire like a fresh connection.
		default:
			return Connected{}, err
		}
	}
	d, err := s.leases.CanStream(ctx, req.UID, lease.Request{DeviceID: req.DeviceID, Client: req.Client})
	if err != nil {
		return Connected{}, err
	}
	if !d.Granted {
		return Connected{StreamCount: d.StreamCount, MaxStreams: d.MaxStreams}, nil
	}
	if err := s.bind(ctx, req.ConnID, d.Lease); err != nil {
		if !d.Resumed {
			// Do not leave a slot taken by a connection that will be
			// refused; with the store failing this may fail too, and
			// then the lease expires by its TTL.
			_, _ = s.leases.EndStream(context.WithoutCancel(ctx), req.UID, d.Lease.ID)
		}
		return Connected{}, err
	}
	return Connected{Granted: true, Lease: d.Lease, Resumed: d.Resumed, StreamCount: d.StreamCount, MaxStreams: d.MaxStreams}, nil
}

func (s *Service) bind(ctx context.Context, connID string, l lease.Lease) error {
	return s.conns.Bind(ctx, Binding{
		ConnID: connID, UID: l.UID, LeaseID: l.ID,
		ExpiresAt: s.now().Add(s.maxAge + s.leases.LeaseTTL()).Truncate(time.Second).Add(time.Second),
	})
}

// Heartbeat renews the lease of connID. Errors: ErrNotBound (matches
// lease.ErrLeaseExpired), lease.ErrLeaseExpired, *lease.RevokedError,
// lease.ErrUnavailable, lease.ErrContention.
func (s *Service) Heartbeat(ctx context.Context, connID string) (Binding, lease.Renewal, error) {
	if !ValidConnID(connID) {
		return Binding{}, lease.Renewal{}, ErrInvalidConnID
	}
	b, err := s.conns.Lookup(ctx, connID, s.now())
	if err != nil {
		return Binding{}, lease.Renewal{}, err
	}
	rn, err := s.leases.Heartbeat(ctx, b.UID, b.LeaseID)
	return b, rn, err
}

// Closed is the answer to Disconnect and Drop.
type Closed struct {
	// Bound reports that the connection held a lease.
	Bound bool
	// Binding is that connection's binding (when Bound).
	Binding Binding
	// Current reports that the connection was still its lease's current
	// connection (a stale one leaves the lease alone).
	Current bool
	// Release is EndStream's answer when the lease was ended (Disconnect
	// of a current connection).
	Release lease.Release
}

// Disconnect handles a connection that closed: it forgets the binding and,
// if the connection was still its lease's current connection, ends the
// lease at once. A connection without a binding, or with a stale one, ends
// nothing. An error from EndStream leaves the lease to expire by its TTL.
func (s *Service) Disconnect(ctx context.Context, connID string) (Closed, error) {
	return s.close(ctx, connID, true)
}

// Drop handles a connection lost without a close: it forgets the binding
// but keeps the lease, which its player may resume with its lease id until
// it expires by its TTL.
func (s *Service) Drop(ctx context.Context, connID string) (Closed, error) {
	return s.close(ctx, connID, false)
}

func (s *Service) close(ctx context.Context, connID string, end bool) (Closed, error) {
	if !ValidConnID(connID) {
		return Closed{}, ErrInvalidConnID
	}
	b, err := s.conns.Lookup(ctx, connID, s.now())
	if errors.Is(err, ErrNotBound) {
		return Closed{}, nil
	}
	if err != nil {
		return Closed{}, err
	}
	c := Closed{Bound: true, Binding: b}
	if c.Current, err = s.conns.Current(ctx, b); err != nil {
		return c, err
	}
	var endErr error
	if end && c.Current {
		c.Release, endErr = s.leases.EndStream(ctx, b.UID, b.LeaseID)
	}
	// The binding goes last, whatever EndStream said: a failed end leaves
	// the lease to its TTL, and a stale binding would serve nobody.
	if err := s.conns.Unbind(ctx, b); err != nil {
		return c, err
	}
	return c, endErr
}

// maxConnIDLen bounds connection ids (API Gateway's are 16 characters).
const maxConnIDLen = 128

// ValidConnID reports whether id is 1-128 characters of A-Z a-z 0-9 + / = _ -.
func ValidConnID(id string) bool {
	if len(id) == 0 || len(id) > maxConnIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '+', c == '/', c == '=', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
