package leasetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// model is the in-test reference: what the invariants say the service must
// answer, kept step by step beside the real store.
type model struct {
	ttl        time.Duration
	renewBelow time.Duration
	def        int
	limits     map[string]int
	leases     map[string]*modelLease // by lease id
	tokens     map[string]modelToken  // every renewal token issued, by token
	latest     map[string]string      // the last token issued for a lease id
}

// modelToken is what a renewal token stands for.
type modelToken struct {
	uid, id   string
	expiresAt time.Time
}

// issued notes a token the service handed out for lease id of uid.
func (m *model) issued(token, uid, id string, exp time.Time) {
	m.tokens[token] = modelToken{uid, id, exp}
	m.latest[id] = token
}

// skips reports whether a heartbeat of id of uid with token is answered
// from the token at now, and with which expiry: the token was issued for
// that lease and shows between the threshold and a TTL (and a second) left.
func (m *model) skips(uid, id, token string, now time.Time) (time.Time, bool) {
	tk, ok := m.tokens[token]
	left := tk.expiresAt.Sub(now)
	return tk.expiresAt, ok && m.renewBelow > 0 && tk.uid == uid && tk.id == id && left >= m.renewBelow && left <= m.ttl+time.Second
}

type modelLease struct {
	uid, device, secret string
	expiresAt, created  time.Time
	// revoked is the tombstone's reason ("" for a lease); expiresAt is then
	// its keep time.
	revoked string
}

func (l *modelLease) liveAt(now time.Time) bool { return l.revoked == "" && now.Before(l.expiresAt) }

func (m *model) live(uid string, now time.Time) []string {
	var ids []string
	for id, l := range m.leases {
		if l.uid == uid && l.liveAt(now) {
			ids = append(ids, id)
		}
	}
	return ids
}

// reclaim forgets what a fresh grant deletes: every item of uid that is
// past its expiry (or keep time).
func (m *model) reclaim(uid string, now time.Time) {
	for id, l := range m.leases {
		if l.uid == uid && !now.Before(l.expiresAt) {
			delete(m.leases, id)
		}
	}
}

// modelDevice is a player: a device id, and the device secret it keeps
// (none for a player that only borrowed a device id).
type modelDevice struct{ id, secret string }

func (m *model) limit(uid string) int {
	if n := m.limits[uid]; n > 0 {
		return n
	}
	return m.def
}

func (m *model) expiry(now time.Time) time.Time { return roundUp(now.Add(m.ttl)) }

// testModel runs random sequences of grants, heartbeats, ends, clock moves
// and limit changes over a few uids, and checks every answer against the
// model. A failure prints the seed and step that broke it.
func testModel(t *testing.T, h Harness) {
	for seed := range h.ModelSeeds {
		runModel(t, h, uint64(seed))
	}
}

// runModel runs one seed. Players send back their renewal tokens (mostly
// the latest, sometimes none, sometimes a stale or foreign one); every
// fourth seed runs with skipping off (renew-below 0), the others with the
// default threshold.
func runModel(t *testing.T, h Harness, seed uint64) {
	opts := []lease.Option{lease.WithLeaseTTL(120 * time.Second)}
	if seed%4 == 3 {
		opts = append(opts, lease.WithRenewBelow(0))
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	clock := NewClock()
	clock.Advance(time.Duration(rng.IntN(1000)) * time.Millisecond)
	svc := NewService(t, h.NewStore(t), clock, opts...)
	m := &model{
		ttl: svc.LeaseTTL(), renewBelow: svc.RenewBelow(), def: svc.MaxStreams(), limits: map[string]int{},
		leases: map[string]*modelLease{}, tokens: map[string]modelToken{}, latest: map[string]string{},
	}
	var tokens []string // every token issued
	uids := []string{UID(t, fmt.Sprint(seed, "a")), UID(t, fmt.Sprint(seed, "b")), UID(t, fmt.Sprint(seed, "c"))}
	devices := []modelDevice{{}, {}, {"tv", "tv-secret-0123456789"}, {"tv", ""}, {"phone", "phone-secret-0123456789"}}
	var known []string // every lease id ever granted, ended or not
	fail := func(step int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, step, fmt.Sprintf(format, args...))
	}

	for step := range h.ModelSteps {
		now := clock.Now().Truncate(time.Millisecond)
		uid := uids[rng.IntN(len(uids))]
		switch op := rng.IntN(10); {
		case op < 4: // acquire, sometimes presenting a lease id it may have held
			dev := devices[rng.IntN(len(devices))]
			req := lease.Request{DeviceID: dev.id, DeviceSecret: dev.secret}
			if rng.IntN(4) == 0 {
				req.LeaseID = pick(rng, known)
			}
			d, err := svc.CanStream(ctx, uid, req)
			live := m.live(uid, now)
			var held string // the live lease the request proves it holds
			if l := m.leases[req.LeaseID]; l != nil && l.uid == uid && l.liveAt(now) {
				held = req.LeaseID
			}
			if held == "" && dev.secret != "" {
				for _, id := range live { // the oldest session with the secret
					l := m.leases[id]
					if l.device == dev.id && l.secret == dev.secret && (held == "" || older(l, id, m.leases[held], held)) {
						held = id
					}
				}
			}
			tomb := m.leases[req.LeaseID]
			switch {
			case held != "":
				if err != nil || !d.Granted || !d.Resumed || d.Lease.ID == held || m.leases[d.Lease.ID] != nil || d.StreamCount != len(live) {
					fail(step, "CanStream(%+v) = %+v, %v; want %s resumed under a new id, count %d", req, d, err, held, len(live))
				}
				old := m.leases[held]
				m.leases[d.Lease.ID] = &modelLease{uid: uid, device: old.device, secret: old.secret, expiresAt: m.expiry(now), created: old.created}
				if dev.id != "" && dev.id != old.device {
					m.leases[d.Lease.ID].device, m.leases[d.Lease.ID].secret = dev.id, ""
				}
				if dev.secret != "" {
					m.leases[d.Lease.ID].secret = dev.secret
				}
				old.revoked, old.expiresAt = lease.RevokedSuperseded, maxTime(old.expiresAt, m.expiry(now))
				known = append(known, d.Lease.ID)
			case tomb != nil && tomb.uid == uid && tomb.revoked != "" && now.Before(tomb.expiresAt):
				if revokedReason(err) != tomb.revoked || d.Granted {
					fail(step, "CanStream(%+v) = %+v, %v; want revoked (%s)", req, d, err, tomb.revoked)
				}
			case err != nil:
				fail(step, "CanStream(%+v): %v", req, err)
			case len(live) >= m.limit(uid):
				if d.Granted || d.StreamCount != len(live) || len(d.Sessions) != len(live) {
					fail(step, "CanStream = %+v; want refusal at %d/%d", d, len(live), m.limit(uid))
				}
			default:
				if !d.Granted || d.Resumed || d.StreamCount != len(live)+1 || m.leases[d.Lease.ID] != nil {
					fail(step, "CanStream = %+v; want a new lease, count %d", d, len(live)+1)
				}
				m.reclaim(uid, now)
				m.leases[d.Lease.ID] = &modelLease{uid: uid, device: dev.id, secret: dev.secret, expiresAt: m.expiry(now), created: now}
				known = append(known, d.Lease.ID)
			}
			if d.Granted && !d.Lease.ExpiresAt.Equal(m.expiry(now)) {
				fail(step, "granted expiry %v; want %v", d.Lease.ExpiresAt, m.expiry(now))
			}
			if d.Granted {
				m.issued(d.Token, uid, d.Lease.ID, d.Lease.ExpiresAt)
				tokens = append(tokens, d.Token)
			}
		case op < 6: // heartbeat
			id := pick(rng, known)
			token := m.latest[id]
			switch n := rng.IntN(8); {
			case n == 0:
				token = ""
			case n == 1 && len(tokens) > 0:
				token = tokens[rng.IntN(len(tokens))] // stale, or another lease's
			}
			r, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{Token: token})
			l := m.leases[id]
			if exp, ok := m.skips(uid, id, token, now); ok {
				// Answered from the token, whatever the store holds.
				if err != nil || !r.Skipped || !r.Lease.ExpiresAt.Equal(exp) || r.Token != token {
					fail(step, "Heartbeat(token showing %v left) = %+v, %v; want skipped with expiry %v", exp.Sub(now), r, err, exp)
				}
				break
			}
			switch {
			case l != nil && l.uid == uid && l.revoked != "":
				if revokedReason(err) != l.revoked {
					fail(step, "Heartbeat(tombstone) = %+v, %v; want revoked (%s)", r, err, l.revoked)
				}
			case l != nil && l.uid == uid && l.liveAt(now):
				want := m.expiry(now)
				if err != nil || r.Skipped || !r.Lease.ExpiresAt.Equal(want) || r.Token == "" {
					fail(step, "Heartbeat(live) = %+v, %v; want a renewal to %v", r, err, want)
				}
				l.expiresAt = want
				m.issued(r.Token, uid, id, want)
				tokens = append(tokens, r.Token)
			case !errors.Is(err, lease.ErrLeaseExpired):
				fail(step, "Heartbeat(not live) = %+v, %v; want ErrLeaseExpired", r, err)
			}
		case op < 8: // end
			id := pick(rng, known)
			rel, err := svc.EndStream(ctx, uid, id)
			l := m.leases[id]
			want := l != nil && l.uid == uid && l.liveAt(now)
			if want {
				delete(m.leases, id)
			}
			if err != nil || rel.Removed != want || rel.StreamCount != len(m.live(uid, now)) {
				fail(step, "EndStream = %+v, %v; want removed=%v count %d", rel, err, want, len(m.live(uid, now)))
			}
		case op < 9: // time passes
			clock.Advance(time.Duration(rng.IntN(60_000)) * time.Millisecond)
		default: // plan change
			n := rng.IntN(5)
			var err error
			if n == 0 {
				err = svc.ClearLimit(ctx, uid)
			} else {
				err = svc.SetLimit(ctx, uid, n)
			}
			if err != nil {
				fail(step, "limit %d: %v", n, err)
			}
			m.limits[uid] = n
		}
		for _, u := range uids {
			l, err := svc.List(ctx, u)
			now := clock.Now().Truncate(time.Millisecond)
			if err != nil || l.StreamCount != len(m.live(u, now)) || l.MaxStreams != m.limit(u) {
				fail(step, "List(%s) = %+v, %v; want %d live, limit %d", u, l, err, len(m.live(u, now)), m.limit(u))
			}
		}
	}
}

func older(a *modelLease, aID string, b *modelLease, bID string) bool {
	if c := a.created.Compare(b.created); c != 0 {
		return c < 0
	}
	return aID < bID
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pick returns one of ids, or now and then an unknown lease id.
func pick(rng *rand.Rand, ids []string) string {
	if len(ids) == 0 || rng.IntN(8) == 0 {
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), rng.Uint64()&0xffffffffffff)
	}
	return ids[rng.IntN(len(ids))]
}
