package lease

import (
	"fmt"
	"time"
)

// MaxFailOpen bounds the fail-open duration.
const MaxFailOpen = time.Hour

// WithFailOpen makes CanStream fail open: when the store is unavailable
// (ErrUnavailable: down, unreachable or too slow, never mere contention) it
// grants a degraded lease instead of failing. The lease is flagged
// (Decision.Degraded), valid for d, and never written: the store never
// counts it, so while the store is down an account may hold more streams
// than its limit, each one flagged and bounded by d. Zero (the default)
// fails closed: CanStream returns the error.
//
// A degraded lease cannot be renewed or ended. While the store is still
// down, Heartbeat and EndStream on it fail with ErrUnavailable as for any
// lease; once it is back, Heartbeat answers ErrLeaseExpired and EndStream
// Removed false, so the player calls CanStream again and the limit applies
// from then on.
func WithFailOpen(d time.Duration) Option { return func(s *Service) { s.failOpen = d } }

// FailOpen returns the fail-open duration (0: fail closed).
func (s *Service) FailOpen() time.Duration { return s.failOpen }

// degradedGrant is the fail-open answer to CanStream: a lease the store
// never saw, valid for the fail-open duration. The account's count is
// unknown: StreamCount is 1, this stream.
func (s *Service) degradedGrant(uid string, req Request) (Decision, error) {
	id, err := s.newID()
	if err != nil {
		return Decision{}, fmt.Errorf("lease: generating lease id: %w", err)
	}
	now := s.clock()
	l := Lease{
		ID: id, UID: uid, DeviceID: req.DeviceID, Client: req.Client, Handle: handleOf(id),
		CreatedAt: now, RenewedAt: now, ExpiresAt: roundUp(now.Add(s.failOpen)),
	}
	return Decision{
		Granted: true, Degraded: true, Lease: l, StreamCount: 1,
		HeartbeatInterval: s.interval, MaxStreams: s.maxStreams,
	}, nil
}
