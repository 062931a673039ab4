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

// player is one viewer of an account: a device id (which others may
// share), the device secret it keeps (none for a player that only borrowed
// a device id) and the lease id it holds.
type player struct {
	device, secret, lease string
	// token is the renewal token of lease, from its grant or last renewal.
	token string
}

// outcome is what one operation answered.
type outcome struct {
	what string // "acquire", "heartbeat", "end", "kick"
	p    *player
	req  lease.Request
	id   string // the lease id a heartbeat or end used
	d    lease.Decision
	r    lease.Renewal // a heartbeat's answer
	// left is how long the token a heartbeat sent showed left by the
	// clock of the service that answered, and tokenExp its expiry.
	left     time.Duration
	tokenExp time.Time
	err      error
}

// testAdversary is the model-based random test under delay and
// reordering: a group of players on each account (some sharing a device
// id, as account sharers would), two service instances whose clocks are
// seconds apart (sharing one renewal-token key, as a deployment's
// instances do), players sending back their renewal tokens so heartbeats
// skip their writes, and writes (Renew, Release, Commit, Revoke) held back
// after their clock read and let through steps later, in any order, some
// twice. At every step:
//
//   - renewable leases ≤ limit: counted by the slower clock (under which
//     more leases look live), from the store itself;
//   - a lease id is handed out once, to one caller, and never again;
//   - an id once seen ended, revoked or gone is never renewed again;
//   - a heartbeat answered without a write (skipped) sent the token of
//     its lease, showed at least the renew-below threshold left by the
//     answering instance's clock, and answered that token's expiry.
//   - a renewal never answers an expiry earlier than one already
//     promised for its lease, and a lease stored unrevoked is stored with
//     an expiry no earlier than any promised for it: no player holds a
//     token for a time the store already counts its lease expired.
func testAdversary(t *testing.T, h Harness) {
	for seed := range h.AdversarySeeds {
		runAdversary(t, h, uint64(seed))
	}
}

func runAdversary(t *testing.T, h Harness, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0xad7e))
	gate := NewGate(h.NewStore(t))
	slow, fast := NewClock(), NewClock()
	fast.Advance(time.Duration(1000+rng.IntN(4000)) * time.Millisecond)
	key := make([]byte, lease.MinTokenKeyLen)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	opts := []lease.Option{
		lease.WithHeartbeatInterval(3 * time.Second), lease.WithLeaseTTL(12 * time.Second), lease.WithTokenKeys(key),
		lease.WithEvictCooldown(0), lease.WithRetry(12, time.Millisecond, 4*time.Millisecond),
	}
	services := []*lease.Service{NewService(t, gate, slow, opts...), NewService(t, gate, fast, opts...)}
	clocks := map[*lease.Service]*Clock{services[0]: slow, services[1]: fast}
	renewBelow := services[0].RenewBelow()
	if renewBelow == 0 {
		t.Fatal("the adversary runs with heartbeat skipping off")
	}
	uids := []string{UID(t, fmt.Sprint(seed, "a")), UID(t, fmt.Sprint(seed, "b"))}
	limits := map[string]int{}
	players := map[string][]*player{}
	for i, uid := range uids {
		limits[uid] = 1 + rng.IntN(3)
		if err := services[0].SetLimit(ctx, uid, limits[uid]); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := services[0].SetPolicy(ctx, uid, lease.PolicyEvictOldest); err != nil {
				t.Fatal(err)
			}
		}
		players[uid] = []*player{
			{device: "tv", secret: "tv-secret-of-the-owner"}, {device: "tv"}, {device: "tv", secret: "another-tv-secret-000"},
			{device: "phone", secret: "phone-secret-000000000"}, {},
		}
	}
	granted := map[string]string{}     // lease id -> uid, for every id ever handed out
	expiries := map[string]time.Time{} // renewal token -> the expiry it carries
	dead := map[string]bool{}          // ids seen ended, revoked or gone
	promised := map[string]time.Time{} // lease id -> the latest expiry answered for it
	promise := func(id string, exp time.Time) {
		if exp.After(promised[id]) {
			promised[id] = exp
		}
	}
	type held struct {
		p    *Pending
		done chan outcome
	}
	var pending []held
	fail := func(step int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, step, fmt.Sprintf(format, args...))
	}

	check := func(step int, o outcome) {
		switch o.what {
		case "acquire":
			var revoked *lease.RevokedError
			if o.err != nil && !(errors.As(o.err, &revoked) && o.req.LeaseID != "") {
				fail(step, "CanStream(%+v): %v", o.req, o.err)
			}
			if o.d.Granted {
				if _, twice := granted[o.d.Lease.ID]; twice {
					fail(step, "lease id %s handed out twice", o.d.Lease.ID)
				}
				granted[o.d.Lease.ID] = o.d.Lease.UID
				o.p.lease, o.p.token = o.d.Lease.ID, o.d.Token
				expiries[o.d.Token] = o.d.Lease.ExpiresAt
				promise(o.d.Lease.ID, o.d.Lease.ExpiresAt)
			}
		case "heartbeat":
			switch {
			case o.err == nil && o.r.Skipped:
				if o.left < renewBelow || !o.r.Lease.ExpiresAt.Equal(o.tokenExp) {
					fail(step, "lease %s: heartbeat skipped with %v left on its token (threshold %v), answering %v for a token of %v",
						o.id, o.left, renewBelow, o.r.Lease.ExpiresAt, o.tokenExp)
				}
			case o.err == nil && dead[o.id]:
				fail(step, "lease %s renewed after it was seen ended, revoked or gone", o.id)
			case o.err == nil:
				if o.r.Lease.ExpiresAt.Before(promised[o.id]) {
					fail(step, "lease %s: renewal answered expiry %v, earlier than the %v already promised", o.id, o.r.Lease.ExpiresAt, promised[o.id])
				}
				expiries[o.r.Token] = o.r.Lease.ExpiresAt
				promise(o.id, o.r.Lease.ExpiresAt)
				if o.p.lease == o.id {
					o.p.token = o.r.Token
				}
			case o.err != nil && !errors.Is(o.err, lease.ErrLeaseExpired) && !errors.Is(o.err, lease.ErrLeaseRevoked):
				fail(step, "Heartbeat: %v", o.err)
			}
		case "end", "kick":
			if o.err != nil && !errors.Is(o.err, lease.ErrSessionNotFound) {
				fail(step, "%s: %v", o.what, o.err)
			}
		}
	}

	invariants := func(step int) {
		t.Helper()
		for _, uid := range uids {
			acct, err := gate.Load(ctx, uid, true)
			if err != nil {
				fail(step, "Load: %v", err)
			}
			live, stored := 0, map[string]bool{}
			for _, l := range acct.Leases {
				stored[l.ID] = true
				if l.Revoked != "" {
					dead[l.ID] = true
				}
				if l.LiveAt(slow.Now()) {
					live++
				}
				if l.Revoked == "" && l.ExpiresAt.Before(promised[l.ID]) {
					fail(step, "lease %s: stored expiry %v is earlier than the %v its player was promised", l.ID, l.ExpiresAt, promised[l.ID])
				}
			}
			if live > limits[uid] {
				fail(step, "%s: %d renewable leases by the slower clock; limit %d", uid, live, limits[uid])
			}
			for id, u := range granted {
				if u == uid && !stored[id] {
					dead[id] = true
				}
			}
		}
	}

	for step := range h.AdversarySteps {
		uid := uids[rng.IntN(len(uids))]
		svc := services[rng.IntN(len(services))]
		p := players[uid][rng.IntN(len(players[uid]))]
		var run func() outcome
		var hold Op
		switch op := rng.IntN(12); {
		case op < 4:
			req := lease.Request{DeviceID: p.device, DeviceSecret: p.secret}
			if p.lease != "" && rng.IntN(2) == 0 {
				req.LeaseID = p.lease
			}
			run = func() outcome {
				d, err := svc.CanStream(ctx, uid, req)
				return outcome{what: "acquire", p: p, req: req, d: d, err: err}
			}
			hold = OpCommit
		case op < 7 && p.lease != "":
			id, token := p.lease, p.token
			if rng.IntN(6) == 0 {
				token = "" // a player that does not send its token
			}
			tokenExp := expiries[token]
			left := tokenExp.Sub(clocks[svc].Now().Truncate(time.Millisecond)) // the service's reading
			run = func() outcome {
				r, err := svc.Heartbeat(ctx, uid, id, lease.HeartbeatRequest{Token: token})
				return outcome{what: "heartbeat", p: p, id: id, r: r, left: left, tokenExp: tokenExp, err: err}
			}
			hold = OpRenew
		case op < 8 && p.lease != "":
			id := p.lease
			run = func() outcome {
				rel, err := svc.EndStream(ctx, uid, id)
				if rel.Removed {
					dead[id] = true
				}
				return outcome{what: "end", p: p, id: id, err: err}
			}
			hold = OpRelease
		case op < 9:
			run = func() outcome {
				l, err := svc.List(ctx, uid)
				if err != nil || len(l.Sessions) == 0 {
					return outcome{what: "kick", err: err}
				}
				_, err = svc.Kick(ctx, uid, l.Sessions[rng.IntN(len(l.Sessions))].Handle, lease.RevokedKicked)
				return outcome{what: "kick", err: err}
			}
			hold = OpRevoke
		case op < 11 && len(pending) > 0:
			i := rng.IntN(len(pending))
			pd := pending[i]
			pending = append(pending[:i], pending[i+1:]...)
			pd.p.Apply(1 + rng.IntN(2)) // late, and sometimes twice
			check(step, <-pd.done)
			invariants(step)
			continue
		default:
			d := time.Duration(rng.IntN(8000)) * time.Millisecond
			slow.Advance(d)
			fast.Advance(d)
			invariants(step)
			continue
		}
		if rng.IntN(3) == 0 {
			gate.Hold(hold)
		}
		done := make(chan outcome, 1)
		go func() { done <- run() }()
		select {
		case o := <-done:
			gate.Disarm()
			check(step, o)
		case pd := <-gate.Captured():
			pending = append(pending, held{pd, done})
		}
		invariants(step)
	}
	for _, pd := range pending {
		pd.p.Apply(1)
		check(h.AdversarySteps, <-pd.done)
		invariants(h.AdversarySteps)
	}
}
