package loadgen

import (
	"fmt"
	"sync"
	"time"
)

// leaseRec is what the players know of one lease.
type leaseRec struct {
	id, device string
	grantedAt  time.Time // when the grant's answer arrived
	expiresAt  time.Time // the latest expiresAt an answer gave
	endSentAt  time.Time // when its player sent endStream (zero: not yet)
	crashedAt  time.Time // when its player crashed (zero: did not)
	stoppedAt  time.Time // end of its stream time (end sent, crash or loss)
}

// held reports whether the players know the lease to be live at t: granted
// before t, not ended by then and not expired.
func (l *leaseRec) held(t time.Time) bool {
	return !l.grantedAt.After(t) && (l.endSentAt.IsZero() || l.endSentAt.After(t)) && l.expiresAt.After(t)
}

// account is the players' knowledge of one uid.
type account struct {
	uid       string
	limit     int
	leases    map[string]*leaseRec // by lease id
	byDevice  map[string]*leaseRec
	requested map[string]bool // every device that sent canStream
	inflight  map[string]int  // canStream requests awaiting an answer, by device
	ambiguous map[string]bool // devices whose canStream got no clear answer
}

// ledger is what every player was told, per uid: the audit's reference.
type ledger struct {
	mu       sync.Mutex
	accounts map[string]*account
}

func newLedger() *ledger { return &ledger{accounts: map[string]*account{}} }

func (g *ledger) account(uid string) *account {
	a := g.accounts[uid]
	if a == nil {
		a = &account{uid: uid, leases: map[string]*leaseRec{}, byDevice: map[string]*leaseRec{},
			requested: map[string]bool{}, inflight: map[string]int{}, ambiguous: map[string]bool{}}
		g.accounts[uid] = a
	}
	return a
}

func (g *ledger) requestSent(uid, device string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.account(uid)
	a.requested[device] = true
	a.inflight[device]++
}

// requestDone records the end of a canStream: granted (with lease id and
// expiry), refused, or ambiguous (no clear answer: the grant may or may
// not have been written). It returns true for a new lease.
func (g *ledger) requestDone(uid, device string, limit int, granted bool, id string, exp time.Time, ambiguous bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.account(uid)
	a.inflight[device]--
	if limit > 0 {
		a.limit = limit
	}
	if ambiguous {
		a.ambiguous[device] = true
	}
	if !granted {
		return false
	}
	if l := a.leases[id]; l != nil {
		l.expiresAt = laterOf(l.expiresAt, exp)
		return false
	}
	l := &leaseRec{id: id, device: device, grantedAt: time.Now(), expiresAt: exp}
	a.leases[id] = l
	a.byDevice[device] = l
	return true
}

func (g *ledger) renewed(uid, id string, exp time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.account(uid).leases[id]; l != nil {
		l.expiresAt = laterOf(l.expiresAt, exp)
	}
}

// expiresAt returns the latest expiry known for a lease.
func (g *ledger) expiresAt(uid, id string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.account(uid).leases[id]; l != nil {
		return l.expiresAt
	}
	return time.Time{}
}

func (g *ledger) endSent(uid, id string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.account(uid).leases[id]; l != nil && l.endSentAt.IsZero() {
		l.endSentAt = at
		if l.stoppedAt.IsZero() {
			l.stoppedAt = at
		}
	}
}

func (g *ledger) crashed(uid, id string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.account(uid).leases[id]; l != nil {
		l.crashedAt, l.stoppedAt = at, at
	}
}

// lost records a lease its player stopped holding without ending it (its
// heartbeats were refused or it expired during an outage).
func (g *ledger) lost(uid, id string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.account(uid).leases[id]; l != nil {
		if l.stoppedAt.IsZero() {
			l.stoppedAt = at
		}
		if l.endSentAt.IsZero() {
			l.endSentAt = at // no longer held as far as the audit goes
		}
	}
}

// overLimit checks, for every uid, that the leases the players hold at t
// are within the limit; it returns one line per violation.
func (g *ledger) overLimit(t time.Time, defaultLimit int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, a := range g.accounts {
		n := 0
		for _, l := range a.leases {
			if l.held(t) {
				n++
			}
		}
		limit := a.limit
		if limit == 0 {
			limit = defaultLimit
		}
		if n > limit {
			out = append(out, fmt.Sprintf("%s: players hold %d leases at %s, limit %d", a.uid, n, t.Format(time.RFC3339Nano), limit))
		}
	}
	return out
}

// storeCheck compares one account read from the store during [t0, t1]
// with what the players were told. It returns violations of the bound,
// leases lost (held by a player throughout [t0, t1] but not live in the
// store), leases invented (live in the store for a device that never
// asked), and ghosts (live in the store for a device whose canStream got
// no clear answer: a write whose answer was lost; they expire by TTL).
func (g *ledger) storeCheck(uid string, v View, t0, t1 time.Time, defaultLimit int) (over, lost, invented []string, ghosts int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.account(uid)
	limit := v.Limit
	if limit == 0 {
		limit = a.limit
	}
	if limit == 0 {
		limit = defaultLimit
	}
	liveByDevice := map[string]bool{}
	n := 0
	for _, s := range v.Leases {
		if s.Revoked || !s.ExpiresAt.After(t1) {
			continue
		}
		n++
		liveByDevice[s.DeviceID] = true
		switch {
		case !a.requested[s.DeviceID]:
			invented = append(invented, fmt.Sprintf("%s: live lease for device %q that never asked", uid, s.DeviceID))
		case a.byDevice[s.DeviceID] == nil && a.inflight[s.DeviceID] == 0:
			ghosts++
		}
	}
	if n > limit {
		over = append(over, fmt.Sprintf("%s: store has %d live leases at %s, limit %d", uid, n, t1.Format(time.RFC3339Nano), limit))
	}
	// A second of margin: expiry is kept in whole seconds.
	margin := t1.Add(time.Second)
	for _, l := range a.leases {
		if l.held(t0) && l.held(margin) && !liveByDevice[l.device] {
			stored := "absent"
			for _, s := range v.Leases {
				if s.DeviceID == l.device {
					stored = fmt.Sprintf("expiresAt %s revoked %v", s.ExpiresAt.Format(time.RFC3339), s.Revoked)
				}
			}
			lost = append(lost, fmt.Sprintf("%s: lease of device %q (granted %s, known expiry %s) is not live in the store read during %s-%s (%s)",
				uid, l.device, l.grantedAt.Format(timeFmt), l.expiresAt.Format(time.RFC3339), t0.Format(timeFmt), t1.Format(timeFmt), stored))
		}
	}
	return over, lost, invented, ghosts
}

// uids returns every uid seen.
func (g *ledger) uids() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.accounts))
	for u := range g.accounts {
		out = append(out, u)
	}
	return out
}

// summary returns the number of leases granted and crashed, the latest
// expiry any lease reached, and the stream time held.
func (g *ledger) summary() (granted, crashed int, lastExpiry time.Time, streamTime time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.accounts {
		for _, l := range a.leases {
			granted++
			if !l.crashedAt.IsZero() {
				crashed++
			}
			lastExpiry = laterOf(lastExpiry, l.expiresAt)
			if !l.stoppedAt.IsZero() {
				streamTime += l.stoppedAt.Sub(l.grantedAt)
			}
		}
	}
	return granted, crashed, lastExpiry, streamTime
}

// crashedUIDs returns the uids that had a crashed player.
func (g *ledger) crashedUIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for u, a := range g.accounts {
		for _, l := range a.leases {
			if !l.crashedAt.IsZero() {
				out = append(out, u)
				break
			}
		}
	}
	return out
}

func (g *ledger) limitOf(uid string, def int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.account(uid).limit; l > 0 {
		return l
	}
	return def
}

const timeFmt = "15:04:05.000"

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
