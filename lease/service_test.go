package lease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	bad := map[string][]lease.Option{
		"ttl below two intervals": {lease.WithLeaseTTL(59 * time.Second)},
		"zero max streams":        {lease.WithMaxStreams(0)},
		"huge max streams":        {lease.WithMaxStreams(lease.MaxLimit + 1)},
		"sub-second interval":     {lease.WithHeartbeatInterval(500 * time.Millisecond), lease.WithLeaseTTL(time.Second)},
		"no attempts":             {lease.WithRetry(0, time.Millisecond, time.Millisecond)},
	}
	for name, opts := range bad {
		if _, err := lease.New(store, opts...); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := lease.New(nil); err == nil {
		t.Error("New accepted a nil store")
	}
	svc, err := lease.New(store, lease.WithLeaseTTL(60*time.Second))
	if err != nil {
		t.Fatalf("TTL of exactly two intervals: %v", err)
	}
	if svc.MaxStreams() != 3 || svc.HeartbeatInterval() != 30*time.Second || svc.LeaseTTL() != 60*time.Second {
		t.Fatalf("defaults: %d %v %v", svc.MaxStreams(), svc.HeartbeatInterval(), svc.LeaseTTL())
	}
}

// failing wraps a store and fails Commit or Load with err.
type failing struct {
	lease.Store
	commitErr, loadErr error
	commits            int
}

func (f *failing) Commit(ctx context.Context, uid string, c lease.Change) error {
	f.commits++
	if f.commitErr != nil {
		return f.commitErr
	}
	return f.Store.Commit(ctx, uid, c)
}

func (f *failing) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	if f.loadErr != nil {
		return lease.Account{}, f.loadErr
	}
	return f.Store.Load(ctx, uid, consistent)
}

func TestRetryBudget(t *testing.T) {
	t.Parallel()
	f := &failing{Store: memstore.New(), commitErr: lease.ErrConflict}
	svc := leasetest.NewService(t, f, leasetest.NewClock(), lease.WithRetry(5, time.Millisecond, 4*time.Millisecond))
	_, err := svc.CanStream(context.Background(), "u", lease.Request{})
	if !errors.Is(err, lease.ErrContention) || f.commits != 5 {
		t.Fatalf("err %v after %d commits; want ErrContention after 5", err, f.commits)
	}

	f.commitErr = nil
	f.loadErr = errors.Join(lease.ErrUnavailable, errors.New("boom"))
	if _, err := svc.CanStream(context.Background(), "u", lease.Request{}); !errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("store failure: %v; want ErrUnavailable", err)
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	f := &failing{Store: memstore.New(), commitErr: lease.ErrConflict}
	svc := leasetest.NewService(t, f, leasetest.NewClock(), lease.WithRetry(1000, 50*time.Millisecond, time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := svc.CanStream(ctx, "u", lease.Request{})
	if !errors.Is(err, lease.ErrContention) || errors.Is(err, lease.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v; want ErrContention (not unavailable: the store answered) wrapping the deadline", err)
	}
	if f.commits >= 1000 {
		t.Fatalf("%d commits: retry ignored the context", f.commits)
	}
}

func TestValidators(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a": true,
		"0D9F1C8E-2B6A-4C1E-9A57-6F3B2D1E0C4A": false,
		"0d9f1c8e2b6a4c1e9a576f3b2d1e0c4a":     false,
		"":                                     false,
	} {
		if got := lease.ValidLeaseID(id); got != want {
			t.Errorf("ValidLeaseID(%q) = %v", id, got)
		}
	}
	for uid, want := range map[string]bool{"a": true, "user@example.com": true, "a+b=c:d.e_f-g": true, "a b": false, "a#": false, "": false,
		// Only dots: a path segment ("." and "..") or one in disguise.
		".": false, "..": false, "...": false, strings.Repeat(".", 128): false, ".a": true, "a.": true, "..a..": true, "-.": true,
	} {
		if got := lease.ValidUID(uid); got != want {
			t.Errorf("ValidUID(%q) = %v", uid, got)
		}
		if got := lease.ValidDeviceID(uid); got != want {
			t.Errorf("ValidDeviceID(%q) = %v", uid, got)
		}
	}
}

// TestRenewBelowSettings: the renew-below threshold must exceed two
// heartbeat intervals (a heartbeat after a skipped one may be lost) and
// leave at least one heartbeat to skip; the default follows the TTL and
// interval, and is off where no heartbeat could be skipped.
func TestRenewBelowSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ ttl, interval, want time.Duration }{
		{100 * time.Second, 30 * time.Second, 65 * time.Second}, // the defaults: every other heartbeat writes
		{120 * time.Second, 30 * time.Second, 65 * time.Second},
		{90 * time.Second, 30 * time.Second, 0}, // 65 s would leave no heartbeat to skip
		{60 * time.Second, 30 * time.Second, 0},
		{100 * time.Second, 15 * time.Second, 33 * time.Second},
		{12 * time.Second, 3 * time.Second, 7 * time.Second},
		{300 * time.Second, 60 * time.Second, 130 * time.Second},
	} {
		if got := lease.DefaultRenewBelow(c.ttl, c.interval); got != c.want {
			t.Errorf("DefaultRenewBelow(%v, %v) = %v; want %v", c.ttl, c.interval, got, c.want)
		}
		svc, err := lease.New(memstore.New(), lease.WithLeaseTTL(c.ttl), lease.WithHeartbeatInterval(c.interval))
		if err != nil || svc.RenewBelow() != c.want {
			t.Errorf("New(TTL %v, interval %v): renew-below %v, %v; want the default %v", c.ttl, c.interval, svc.RenewBelow(), err, c.want)
		}
	}
	svc, err := lease.New(memstore.New())
	if err != nil || svc.LeaseTTL() != 100*time.Second || svc.HeartbeatInterval() != 30*time.Second || svc.RenewBelow() != 65*time.Second {
		t.Fatalf("defaults: %v %v %v, %v; want 100 s, 30 s, 65 s", svc.LeaseTTL(), svc.HeartbeatInterval(), svc.RenewBelow(), err)
	}
	for below, ok := range map[time.Duration]bool{
		0: true, 60 * time.Second: false, 61 * time.Second: true, 70 * time.Second: true, 71 * time.Second: false, 100 * time.Second: false,
	} {
		_, err := lease.New(memstore.New(), lease.WithRenewBelow(below))
		if (err == nil) != ok {
			t.Errorf("renew-below %v with TTL 100 s, interval 30 s: %v; want accepted %v", below, err, ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "1m0s") || !strings.Contains(err.Error(), "1m10s")) {
			t.Errorf("renew-below %v: %q does not name the bounds (60 s, 70 s)", below, err)
		}
	}
}
