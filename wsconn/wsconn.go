// Package wsconn is the WebSocket variant of streamlimit: one connection is
// one stream. A connection acquires a lease when it opens (or takes a live
// one over), renews it with heartbeat messages, and ends it when it closes.
//
// It adds no lease rules of its own: every decision is lease.Service's
// (CanStream, Heartbeat, EndStream), so the bound, expiry, fencing and
// capability guarantees are the HTTP API's. What it adds is the binding of
// a connection id to its lease (ConnStore), because API Gateway's
// $disconnect event names only the connection.
//
// # One lease, one socket
//
// Every connection holds a lease id of its own. A connection that resumes
// a lease (with the lease id, or the device secret it was granted with)
// takes it over through lease.Service.CanStream, which issues a new lease
// id and turns the old one into a tombstone (lease.RevokedSuperseded) in
// the same atomic write. The lease id is the connection's fencing token:
//
//   - a taken-over connection's next heartbeat fails with a
//     *lease.RevokedError (superseded), and the transports close it;
//   - its $disconnect, however late, ends only its own (superseded) lease
//     id, which is a no-op: the new connection keeps streaming;
//   - a binding write that lands late binds the old connection to the old
//     id, which can renew and end nothing;
//   - a connection that presents a superseded or revoked lease id is
//     refused with that *lease.RevokedError, so a kicked player does not
//     come back by reconnecting;
//   - a duplicated $connect of one connection id finds the connection
//     already bound to a live lease and answers with it: one slot.
//
// A bind and an unbind are one write each on the connection's own record;
// nothing is shared between connections, so no write of one connection can
// make another current or stale.
//
// # Failure modes
//
// A lost $disconnect (API Gateway delivers it best effort; a local socket
// dropped without a close frame) ends nothing: the lease expires by its TTL
// like any lease whose heartbeats stop, and until then the player can take
// it over with its lease id or device secret. A connect whose binding
// cannot be written ends the lease it was just given, so no slot is held
// for a refused connection (if that end fails too, the lease expires by
// its TTL).
package wsconn

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
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

// ConnStore keeps connection bindings: one record per connection, never
// shared. Every method may return an error wrapping lease.ErrUnavailable
// when the backend fails.
type ConnStore interface {
	// Bind records b, the binding of b.ConnID (one write).
	Bind(ctx context.Context, b Binding) error
	// Lookup returns the binding of connID from a strongly consistent
	// read, or ErrNotBound when there is none or it has expired at now.
	Lookup(ctx context.Context, connID string, now time.Time) (Binding, error)
	// Unbind forgets the binding of b.ConnID (one write). Unbinding a
	// binding that is gone is not an error.
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
	// DeviceID, optional, names the device in listings; it proves nothing.
	DeviceID string
	// DeviceSecret, optional, is the player's device secret
	// (lease.Request.DeviceSecret): a reconnect with it takes over the live
	// lease it was granted with.
	DeviceSecret string
	// LeaseID, optional, takes over that lease of UID if it is still live.
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
	// Resumed reports that the connection took a live lease over (by its
	// lease id or device secret); Lease carries the new lease id.
	Resumed bool
	// StreamCount is the number of live leases of the account (unknown,
	// 0, for a duplicated $connect, answered without a read).
	StreamCount int
	// MaxStreams is the limit in force (set when refused).
	MaxStreams int
}

// Connect acquires a lease for a new connection, or takes a live one over
// (lease.Service.CanStream with the lease id and device secret given), and
// binds it. A refusal is Connected{Granted: false}, not an error.
//
// Errors: ErrInvalidConnID, lease validation errors, *lease.RevokedError
// (the lease id given was revoked or superseded), lease.ErrUnavailable,
// lease.ErrContention. A lease granted by this call is ended again when it
// cannot be bound.
func (s *Service) Connect(ctx context.Context, req ConnectRequest) (Connected, error) {
	if !ValidConnID(req.ConnID) {
		return Connected{}, ErrInvalidConnID
	}
	lreq := lease.Request{DeviceID: req.DeviceID, DeviceSecret: req.DeviceSecret, LeaseID: req.LeaseID, Client: req.Client}
	if err := lease.ValidateRequest(req.UID, lreq); err != nil {
		return Connected{}, err
	}
	// A duplicated $connect: the connection already holds a live lease.
	if b, err := s.conns.Lookup(ctx, req.ConnID, s.now()); err == nil && b.UID == req.UID {
		if rn, err := s.leases.Heartbeat(ctx, b.UID, b.LeaseID, lease.HeartbeatRequest{}); err == nil {
			return Connected{Granted: true, Lease: rn.Lease, Resumed: true}, nil
		}
	} else if err != nil && !errors.Is(err, ErrNotBound) {
		return Connected{}, err
	}
	d, err := s.leases.CanStream(ctx, req.UID, lreq)
	if err != nil {
		return Connected{}, err
	}
	if !d.Granted {
		return Connected{StreamCount: d.StreamCount, MaxStreams: d.MaxStreams}, nil
	}
	if err := s.bind(ctx, req.ConnID, d.Lease); err != nil {
		// Do not leave a slot taken by a connection that will be refused;
		// with the store failing this may fail too, and then the lease
		// expires by its TTL.
		_, _ = s.leases.EndStream(context.WithoutCancel(ctx), req.UID, d.Lease.ID)
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

// Heartbeat renews the lease of connID. token, optional, is the renewal
// token of the connection's last heartbeat reply (Renewal.Token). A valid
// one names the lease and is bound to this connection, so the heartbeat
// needs no lookup of the binding: it is one conditional write, or, with
// enough time left, answered from the token with no store call at all
// (lease.Service.Heartbeat). Without one (the first heartbeat of a
// connection) the binding is read first.
//
// Errors: ErrNotBound (matches lease.ErrLeaseExpired), lease.ErrLeaseExpired,
// *lease.RevokedError (with lease.RevokedSuperseded when another connection
// took the lease over), lease.ErrUnavailable.
func (s *Service) Heartbeat(ctx context.Context, connID, token string) (Binding, lease.Renewal, error) {
	if !ValidConnID(connID) {
		return Binding{}, lease.Renewal{}, ErrInvalidConnID
	}
	b, inner, ok := s.fromToken(connID, token)
	if !ok {
		var err error
		if b, err = s.conns.Lookup(ctx, connID, s.now()); err != nil {
			return Binding{}, lease.Renewal{}, err
		}
	}
	rn, err := s.leases.Heartbeat(ctx, b.UID, b.LeaseID, lease.HeartbeatRequest{Token: inner, Scope: connID})
	if err != nil {
		return b, lease.Renewal{}, err
	}
	rn.Token = b.LeaseID + "." + base64.RawURLEncoding.EncodeToString([]byte(b.UID)) + "." + rn.Token
	return b, rn, nil
}

// fromToken reads a connection's renewal token: the lease id, the uid and
// the lease service's token for that lease in the scope of connID. It
// returns the binding the token stands for, and the inner token, only when
// the lease service issued that token for this connection.
func (s *Service) fromToken(connID, token string) (Binding, string, bool) {
	id, rest, ok1 := strings.Cut(token, ".")
	uid64, inner, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return Binding{}, "", false
	}
	uid, err := base64.RawURLEncoding.DecodeString(uid64)
	if err != nil || !s.leases.ValidToken(string(uid), id, lease.HeartbeatRequest{Token: inner, Scope: connID}) {
		return Binding{}, "", false
	}
	return Binding{ConnID: connID, UID: string(uid), LeaseID: id}, inner, true
}

// Closed is the answer to Disconnect and Drop.
type Closed struct {
	// Bound reports that the connection held a lease.
	Bound bool
	// Binding is that connection's binding (when Bound).
	Binding Binding
	// Release is EndStream's answer for the connection's lease
	// (Disconnect); Removed is false when the lease had already ended,
	// expired, or been taken over by another connection.
	Release lease.Release
}

// Disconnect handles a connection that closed: it ends the connection's
// lease at once and forgets the binding. A connection without a binding
// ends nothing; one whose lease was taken over ends nothing either (its
// lease id is superseded). An error from EndStream leaves the lease to
// expire by its TTL.
func (s *Service) Disconnect(ctx context.Context, connID string) (Closed, error) {
	return s.close(ctx, connID, true)
}

// Drop handles a connection lost without a close: it forgets the binding
// but keeps the lease, which its player may take over with its lease id
// until it expires by its TTL.
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
	var endErr error
	if end {
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
