package lease

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
)

// Renewal tokens.
//
// Every write that sets a lease's expiry (a grant, a takeover, a renewal)
// hands the player a renewal token beside the lease: the expiry that write
// stored, and an HMAC-SHA256 under the service's key over (scope, uid,
// lease id, expiry). The player sends it back with its next heartbeat. A
// heartbeat whose token is valid and still shows at least the renew-below
// threshold left (WithRenewBelow) is answered from the token alone: no
// read, no write. Otherwise the heartbeat renews as always, with one
// conditional write.
//
// A skipped heartbeat writes nothing, so it can neither revive nor extend
// a lease (no resurrection), and the store's expiry stays the only truth
// for counting and fencing. It answers the token's expiry, which is the
// expiry the store held after the write that issued the token; renewals
// only move it later (Store.Renew never moves it back, whatever the clocks
// or the order they land in), so a lease that is not revoked or ended is
// live in the store for at least the threshold after any skipped answer. A
// lease revoked, ended or taken over after the token was issued is still
// answered from the token until its time left drops below the threshold;
// the next heartbeat then writes, and its condition tells the player (see
// Service.Heartbeat for the bound).
//
// Tokens are not secrets beyond what the lease id already is (the lease id
// renews the lease on its own); the key only makes them tamper-evident: a
// changed expiry, another lease, uid or scope, or another key fails the
// check and the heartbeat writes.

// MinTokenKeyLen is the shortest renewal-token key WithTokenKeys accepts.
const MinTokenKeyLen = 32

const (
	tokenVersion = 1
	tokenMACLen  = 16 // HMAC-SHA256 truncated to 128 bits
	tokenRawLen  = 1 + 8 + tokenMACLen
	// maxTokenLen bounds what is decoded: a token is 34 characters.
	maxTokenLen = 64
)

// WithTokenKeys sets the key renewal tokens are signed with, and older keys
// whose tokens are still accepted (key rotation: deploy the new key with
// the old one as previous, then drop the old one a lease TTL later). Every
// key must be at least MinTokenKeyLen bytes. Every instance of a
// deployment must share the key, or a token issued by one instance is
// unknown to the others and their heartbeats write (safe, but each then
// costs a write). Without it, New draws a random key: tokens then only
// work within one Service.
func WithTokenKeys(current []byte, previous ...[]byte) Option {
	return func(s *Service) {
		s.tokenKeys = append([][]byte{current}, previous...)
	}
}

// HeartbeatRequest is the optional part of a Heartbeat call.
type HeartbeatRequest struct {
	// Token is the renewal token of the player's last grant or renewal of
	// this lease (Decision.Token, Renewal.Token); empty for none. A missing,
	// malformed, foreign or tampered token is no error: the heartbeat
	// writes.
	Token string
	// Scope is what the token is bound to besides the lease: the WebSocket
	// connection id (package wsconn); empty over HTTP. A token is only
	// valid in the scope it was issued for, and a renewal issues its token
	// for the request's scope.
	Scope string
}

// ValidToken reports whether req.Token is a renewal token this service
// issued for lease leaseID of uid in req.Scope (under its current or a
// previous key), whatever time it has left.
func (s *Service) ValidToken(uid, leaseID string, req HeartbeatRequest) bool {
	_, ok := s.tokenExpiry(uid, leaseID, req)
	return ok
}

// checkTokenKeys validates the keys, drawing a random one when none is set.
func (s *Service) checkTokenKeys() error {
	if len(s.tokenKeys) == 0 {
		key := make([]byte, MinTokenKeyLen)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("lease: drawing a renewal-token key: %w", err)
		}
		s.tokenKeys = [][]byte{key}
	}
	for i, k := range s.tokenKeys {
		if len(k) < MinTokenKeyLen {
			return fmt.Errorf("lease: renewal-token key %d has %d bytes; want at least %d", i, len(k), MinTokenKeyLen)
		}
	}
	return nil
}

// token issues the renewal token of lease leaseID of uid stored with
// expiresAt, for scope.
func (s *Service) token(uid, leaseID, scope string, expiresAt time.Time) string {
	raw := make([]byte, 0, tokenRawLen)
	raw = append(raw, tokenVersion)
	raw = binary.BigEndian.AppendUint64(raw, uint64(expiresAt.Unix()))
	raw = append(raw, tokenMAC(s.tokenKeys[0], uid, leaseID, scope, raw[1:9])...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// tokenExpiry returns the expiry req.Token carries if it is a valid token
// of lease leaseID of uid in req.Scope.
func (s *Service) tokenExpiry(uid, leaseID string, req HeartbeatRequest) (time.Time, bool) {
	if req.Token == "" || len(req.Token) > maxTokenLen {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(req.Token)
	if err != nil || len(raw) != tokenRawLen || raw[0] != tokenVersion {
		return time.Time{}, false
	}
	exp, mac := raw[1:9], raw[9:]
	for _, k := range s.tokenKeys {
		if hmac.Equal(mac, tokenMAC(k, uid, leaseID, req.Scope, exp)) {
			return time.Unix(int64(binary.BigEndian.Uint64(exp)), 0), true
		}
	}
	return time.Time{}, false
}

// tokenMAC is the truncated HMAC-SHA256 of one token. Uids, lease ids and
// scopes never contain a NUL byte, so the fields cannot run into each
// other.
func tokenMAC(key []byte, uid, leaseID, scope string, expiry []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("streamlimit renewal token\x00"))
	m.Write([]byte{tokenVersion})
	m.Write([]byte(scope + "\x00" + uid + "\x00" + leaseID + "\x00"))
	m.Write(expiry)
	return m.Sum(nil)[:tokenMACLen]
}

// skip returns the expiry to answer a heartbeat with when it may be
// answered from its token alone: the token is valid and shows at least the
// renew-below threshold left (and no more than a fresh lease has, so a
// token from an instance whose clock runs ahead, or from before a TTL
// change, writes instead).
func (s *Service) skip(uid, leaseID string, req HeartbeatRequest, now time.Time) (time.Time, bool) {
	if s.renewBelow <= 0 {
		return time.Time{}, false
	}
	exp, ok := s.tokenExpiry(uid, leaseID, req)
	if !ok {
		return time.Time{}, false
	}
	left := exp.Sub(now)
	return exp, left >= s.renewBelow && left <= s.ttl+time.Second
}

// DefaultRenewBelow is the renew-below threshold of a Service not given
// WithRenewBelow: two heartbeat intervals and a sixth (65 s at 30 s, so a
// heartbeat after a skipped one may be lost and the next one still arrive
// up to a sixth of an interval late), rounded up to a second; or 0 (every
// heartbeat writes) when the lease TTL leaves no heartbeat to skip, that
// is when it is shorter than that plus one interval.
func DefaultRenewBelow(ttl, interval time.Duration) time.Duration {
	d := roundUpDuration(2*interval + interval/6)
	if d > ttl-interval {
		return 0
	}
	return d
}

func roundUpDuration(d time.Duration) time.Duration {
	if r := d.Truncate(time.Second); r != d {
		return r + time.Second
	}
	return d
}
