package admission_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/lease/leasetest"
)

func newLimiter(t *testing.T, cfg admission.Config) (*admission.Limiter, *leasetest.Clock) {
	t.Helper()
	c := leasetest.NewClock()
	cfg.Now = c.Now
	l, err := admission.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

func acquire(t *testing.T, l *admission.Limiter) *admission.Ticket {
	t.Helper()
	tk, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return tk
}

func TestNewRejectsInconsistentSettings(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]admission.Config{
		"min above max":        {MinLimit: 10, MaxLimit: 5},
		"initial out of range": {InitialLimit: 300, MaxLimit: 256},
		"wait beyond budget":   {Budget: time.Second, MaxWait: 2 * time.Second},
		"target beyond budget": {Budget: time.Second, Target: time.Second},
	} {
		if _, err := admission.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	l, err := admission.New(admission.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.Config(); c.Budget != 1500*time.Millisecond || c.MaxWait != time.Second || c.Target != 300*time.Millisecond || l.Limit() != 32 {
		t.Fatalf("defaults: %+v, limit %d", c, l.Limit())
	}
}

// Up to the limit, requests are admitted at once; beyond it a request
// whose estimated wait fits MaxWait queues and is admitted, first come
// first served, as slots free; one that does not fit is refused at once.
func TestQueueThenRefuse(t *testing.T) {
	t.Parallel()
	// Mean work starts at Target/4 = 25 ms; 2 slots; MaxWait 60 ms: a
	// queue of up to 4 (2 rounds = 50 ms) fits, the 5th (75 ms) does not.
	l, _ := newLimiter(t, admission.Config{Budget: time.Second, Target: 100 * time.Millisecond, MaxWait: 60 * time.Millisecond,
		InitialLimit: 2, MinLimit: 2, MaxLimit: 2})
	a, b := acquire(t, l), acquire(t, l)
	type got struct {
		i  int
		tk *admission.Ticket
	}
	order := make(chan got, 4)
	for i := range 4 {
		go func() {
			tk, err := l.Acquire(context.Background())
			if err == nil {
				order <- got{i, tk}
			}
		}()
		for l.Stats().Waiting != i+1 { // queue them in order
			time.Sleep(time.Millisecond)
		}
	}
	if _, err := l.Acquire(context.Background()); !errors.Is(err, admission.ErrOverloaded) {
		t.Fatalf("5th waiter: %v; want ErrOverloaded at once", err)
	}
	// One slot frees at a time: the waiters come in their order.
	free := a
	for i := range 4 {
		free.Done(false)
		g := <-order
		if g.i != i {
			t.Fatalf("waiter %d admitted when %d was due; want first come first served", g.i, i)
		}
		free = g.tk
	}
	free.Done(false)
	b.Done(false)
	if st := l.Stats(); st.Admitted != 6 || st.Queued != 4 || st.Refused != 1 || st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// A queued request whose context ends is refused with ErrOverloaded and
// leaves the queue; its slot is not lost.
func TestQueuedRequestTimesOut(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t, admission.Config{Budget: time.Second, Target: 400 * time.Millisecond, MaxWait: 500 * time.Millisecond,
		InitialLimit: 1, MinLimit: 1, MaxLimit: 1})
	held := acquire(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Acquire(ctx)
	if !errors.Is(err, admission.ErrOverloaded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire: %v; want ErrOverloaded after the deadline", err)
	}
	held.Done(false)
	held.Done(false) // a second Done changes nothing
	next := acquire(t, l)
	if st := l.Stats(); st.InFlight != 1 || st.Waiting != 0 || st.TimedOut != 1 {
		t.Fatalf("stats: %+v", st)
	}
	next.Done(false)
}

// The limit adapts: work slower than Target (or troubled) cuts it by a
// quarter, at most once per mean work time; work within Target while the
// limit is in use raises it by 1/limit; it stays within its bounds.
func TestLimitAdapts(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(t, admission.Config{Budget: time.Second, Target: 100 * time.Millisecond,
		InitialLimit: 16, MinLimit: 4, MaxLimit: 20})
	// Slow work: 16 requests take 200 ms each, finishing together.
	var tks []*admission.Ticket
	for range 16 {
		tks = append(tks, acquire(t, l))
	}
	c.Advance(200 * time.Millisecond)
	for _, tk := range tks {
		tk.Done(false)
	}
	if got := l.Limit(); got != 12 {
		t.Fatalf("after one slow batch: limit %d; want 12 (one decrease for the batch)", got)
	}
	// Troubled work cuts it again, down to the floor, never below.
	for range 10 {
		tk := acquire(t, l)
		c.Advance(time.Second)
		tk.Done(true)
	}
	if got := l.Limit(); got != 4 {
		t.Fatalf("after trouble: limit %d; want the minimum 4", got)
	}
	// Fast work at full use raises it, up to the maximum.
	for range 200 {
		var batch []*admission.Ticket
		for range l.Limit() {
			batch = append(batch, acquire(t, l))
		}
		c.Advance(10 * time.Millisecond)
		for _, tk := range batch {
			tk.Done(false)
		}
	}
	if got := l.Limit(); got != 20 {
		t.Fatalf("after fast work: limit %d; want the maximum 20", got)
	}
	// Fast work below the limit does not raise it further than used.
	l2, c2 := newLimiter(t, admission.Config{Budget: time.Second, InitialLimit: 8, MinLimit: 4, MaxLimit: 64})
	for range 100 {
		tk := acquire(t, l2)
		c2.Advance(time.Millisecond)
		tk.Done(false)
	}
	if got := l2.Limit(); got != 8 {
		t.Fatalf("idle limiter grew to %d; want 8", got)
	}
}
