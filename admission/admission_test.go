package admission_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
	if c := l.Config(); c.Budget != 1500*time.Millisecond || c.MaxWait != 1200*time.Millisecond || c.Target != 300*time.Millisecond || l.Limit() != 16 || c.MinLimit != 8 {
		t.Fatalf("defaults: %+v, limit %d", c, l.Limit())
	}
	l, err = admission.New(admission.Config{Budget: time.Second, Target: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.Config(); c.MaxWait != 900*time.Millisecond {
		t.Fatalf("max wait with budget 1s and target 100ms: %v; want 900ms (the target left for the work)", c.MaxWait)
	}
}

// Up to the limit, requests are admitted at once; beyond it a request
// whose estimated wait fits MaxWait queues and is admitted, first come
// first served, as slots free; one that does not fit is refused at once.
func TestQueueThenRefuse(t *testing.T) {
	t.Parallel()
	// Before any measure the rate is the initial limit per Target, 2 per
	// 100 ms; MaxWait 210 ms: a queue of up to 4 (200 ms) fits, the 5th
	// (250 ms) does not.
	l, _ := newLimiter(t, admission.Config{Budget: time.Second, Target: 100 * time.Millisecond, MaxWait: 210 * time.Millisecond,
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for l.Stats().Waiting != 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := l.Acquire(ctx)
	if !errors.Is(err, admission.ErrOverloaded) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire: %v; want ErrOverloaded once its context ended", err)
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

// queueUp queues n requests on l (whose slots are all taken), one after
// the other, and returns the channel their tickets come on.
func queueUp(t *testing.T, l *admission.Limiter, n int) <-chan *admission.Ticket {
	t.Helper()
	out := make(chan *admission.Ticket, n)
	refused := make(chan error, n)
	base := l.Stats().Waiting
	for i := range n {
		go func() {
			tk, err := l.Acquire(context.Background())
			if err != nil {
				refused <- err
				return
			}
			out <- tk
		}()
		for l.Stats().Waiting != base+i+1 {
			select {
			case err := <-refused:
				t.Fatalf("request %d was not queued: %v", i+1, err)
			case <-time.After(time.Millisecond):
			}
		}
	}
	return out
}

// refusedAtOnce reports whether a request arriving at l is refused at
// once rather than queued (a queued one is then withdrawn).
func refusedAtOnce(l *admission.Limiter) bool {
	before := l.Stats()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		done <- err
	}()
	for {
		select {
		case err := <-done:
			return errors.Is(err, admission.ErrOverloaded) && l.Stats().Refused == before.Refused+1
		case <-time.After(time.Millisecond):
			if l.Stats().Waiting > before.Waiting {
				cancel()
				<-done
				return false
			}
		}
	}
}

// The wait of a queued request is estimated from the rate work completes
// at, not from the latency of work measured at another concurrency: after
// work done one at a time in 10 ms each (100 per second), with 4 slots
// taken, a MaxWait of 205 ms queues 20 requests, not the 64 (the cap) that
// "4 at a time, 10 ms each" would promise (a store that serialises its work takes
// 40 ms for 4 at once).
func TestWaitEstimatedFromThroughput(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(t, admission.Config{Budget: time.Second, Target: 100 * time.Millisecond, MaxWait: 205 * time.Millisecond,
		InitialLimit: 4, MinLimit: 4, MaxLimit: 4})
	for range 100 {
		tk := acquire(t, l)
		c.Advance(10 * time.Millisecond)
		tk.Done(false)
	}
	if r := l.Stats().Rate; r < 99 || r > 101 {
		t.Fatalf("rate after work one at a time, 10 ms each: %.1f/s; want 100", r)
	}
	var held []*admission.Ticket
	for range 4 {
		held = append(held, acquire(t, l))
	}
	tickets := queueUp(t, l, 20)
	if !refusedAtOnce(l) {
		t.Fatal("the 21st was queued; want it refused at once (210 ms at 100/s)")
	}
	for _, tk := range held {
		tk.Done(false)
	}
	for range 20 {
		(<-tickets).Done(false)
	}
	if st := l.Stats(); st.Queued != 20 || st.Refused != 1 || st.InFlight != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// The rate measured while the limiter was saturated is kept for
// RateMemory when lighter work measures less, then forgotten.
func TestRateRemembersSaturation(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(t, admission.Config{Budget: time.Second, Target: 100 * time.Millisecond,
		InitialLimit: 4, MinLimit: 4, MaxLimit: 4, RateMemory: 30 * time.Second})
	// Saturated: 4 at a time, 10 ms each: 400 per second.
	for range 50 {
		var batch []*admission.Ticket
		for range 4 {
			batch = append(batch, acquire(t, l))
		}
		c.Advance(10 * time.Millisecond)
		for _, tk := range batch {
			tk.Done(false)
		}
	}
	one := func() {
		tk := acquire(t, l)
		c.Advance(10 * time.Millisecond)
		tk.Done(false)
	}
	// Light: one at a time, 10 ms each (100 per second measured).
	for range 30 {
		one()
	}
	if r := l.Stats().Rate; r < 350 || r > 410 {
		t.Fatalf("rate within the memory after light work: %.1f/s; want the saturated one (about 400)", r)
	}
	c.Advance(31 * time.Second)
	one()
	if r := l.Stats().Rate; r > 120 {
		t.Fatalf("rate after the memory: %.1f/s; want the light work's (about 100)", r)
	}
}

// A queued request still waiting when less than its reserve (three mean
// works, at most Target) is left of its context is refused then, before
// its context ends: work started that late would most likely not finish in
// time.
func TestQueuedRequestGivesUpWithReserveLeft(t *testing.T) {
	t.Parallel()
	// The mean work starts at Target/4: the reserve is 3/4 of 13.266 s,
	// 9.95 s. Before any measure the wait of the first queued is
	// estimated at Target (the initial limit's worth of work per Target):
	// MaxWait above it queues it.
	l, _ := newLimiter(t, admission.Config{Budget: 20 * time.Second, Target: 13266 * time.Millisecond, MaxWait: 14 * time.Second,
		InitialLimit: 1, MinLimit: 1, MaxLimit: 1})
	held := acquire(t, l)
	defer held.Done(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := l.Acquire(ctx)
	if !errors.Is(err, admission.ErrOverloaded) || ctx.Err() != nil {
		t.Fatalf("Acquire: %v (context: %v); want ErrOverloaded with 9.95 s of the context left", err, ctx.Err())
	}
	if st := l.Stats(); st.Queued != 1 || st.TimedOut != 1 || st.Waiting != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// A Request takes one slot at its first Admit, whatever the number of
// Admits, and gives it back at Done; one never admitted takes none, and
// is refused after Done.
func TestRequestAdmitsOnce(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t, admission.Config{Budget: time.Second, MaxWait: time.Millisecond, InitialLimit: 1, MinLimit: 1, MaxLimit: 1})
	r := l.Request()
	for range 3 {
		if err := r.Admit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(); st.Admitted != 1 || st.InFlight != 1 {
		t.Fatalf("after three Admits: %+v", st)
	}
	other := l.Request()
	if err := other.Admit(context.Background()); !errors.Is(err, admission.ErrOverloaded) {
		t.Fatalf("second request with the slot taken: %v; want ErrOverloaded", err)
	}
	r.Done(false)
	if err := r.Admit(context.Background()); err != nil {
		t.Fatalf("Admit after Done of an admitted request: %v; want it let through", err)
	}
	unused := l.Request()
	unused.Done(false)
	if err := unused.Admit(context.Background()); !errors.Is(err, admission.ErrOverloaded) {
		t.Fatalf("Admit after Done of a request never admitted: %v; want ErrOverloaded", err)
	}
	if st := l.Stats(); st.Admitted != 1 || st.InFlight != 0 {
		t.Fatalf("at the end: %+v", st)
	}
}

// The limit stops growing where work starts to queue in the store: work
// four times slower than the fastest recent work cuts it, even well within
// Target. (A store that serialises its work takes n times as long for n at
// once; one that runs them in parallel does not, and its limit grows.)
func TestLimitStopsWhereWorkQueues(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(t, admission.Config{Budget: 10 * time.Second, Target: time.Second,
		InitialLimit: 16, MinLimit: 4, MaxLimit: 64})
	for range 20 { // alone: 10 ms each
		tk := acquire(t, l)
		c.Advance(10 * time.Millisecond)
		tk.Done(false)
	}
	batch := func(took time.Duration) {
		var tks []*admission.Ticket
		for range l.Limit() {
			tks = append(tks, acquire(t, l))
		}
		c.Advance(took)
		for _, tk := range tks {
			tk.Done(false)
		}
	}
	for range 40 { // all at once, 10 ms × the limit each: they queued
		batch(time.Duration(l.Limit()) * 10 * time.Millisecond)
	}
	if got := l.Limit(); got != 4 {
		t.Fatalf("serialised work: limit %d; want the minimum 4", got)
	}
	for range 100 { // all at once, 15 ms each: they ran in parallel
		batch(15 * time.Millisecond)
	}
	if got := l.Limit(); got < 10 {
		t.Fatalf("parallel work: limit %d; want it grown past 10", got)
	}
}

// Refusals at arrival racing with work that ends (run with -race, as CI
// does): a refusal's message once read the in-flight count after the lock
// was released, a data race with Done.
func TestRefusalsRaceWithDone(t *testing.T) {
	t.Parallel()
	// MaxWait 1 ns: nothing queues, every arrival past the one slot is refused.
	l, err := admission.New(admission.Config{Budget: time.Second, MaxWait: time.Nanosecond, InitialLimit: 1, MinLimit: 1, MaxLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var admitted, refused atomic.Int64
	for range 8 {
		wg.Go(func() {
			for range 200 {
				tk, err := l.Acquire(t.Context())
				if err != nil {
					if !errors.Is(err, admission.ErrOverloaded) {
						t.Errorf("Acquire: %v", err)
					}
					refused.Add(1)
					continue
				}
				admitted.Add(1)
				tk.Done(false)
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	if admitted.Load()+refused.Load() != 1600 || st.Admitted != admitted.Load() || st.Refused != refused.Load() || st.InFlight != 0 {
		t.Fatalf("admitted %d, refused %d; stats %+v", admitted.Load(), refused.Load(), st)
	}
}
