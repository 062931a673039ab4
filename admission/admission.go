// Package admission bounds the store work one process has in flight, so
// that past the store's knee excess requests are refused at once (503
// overloaded, Retry-After) instead of all waiting for the whole store budget
// and giving up together, which leaves the store working on writes nobody
// waits for (a metastable collapse: docs/BENCHMARKS.md).
//
// # The rule
//
// A Limiter admits at most Limit() requests at once; it imports nothing of
// the project and knows nothing of HTTP: the transport asks Acquire before a
// request's store work and calls Ticket.Done after it.
//
//   - Admit: while fewer than the limit are in flight and nobody waits, a
//     request is admitted at once.
//   - Queue or refuse, decided at arrival: otherwise the request's wait is
//     estimated from its place in the queue, the limit and the measured
//     duration of admitted work (an EWMA):
//     wait ≈ ceil(place / limit) × mean work time. If that exceeds MaxWait
//     the request is refused at once with ErrOverloaded; else it queues
//     (first in, first out) until a slot frees or its context ends (then it
//     is refused with ErrOverloaded too). A queued request never starts
//     work it has no time left for, because its context is the request's
//     store budget.
//   - Adapt (AIMD on latency against the budget): when an admitted request
//     took longer than Target, or its store failed or ran out of time, the
//     limit is multiplied by 3/4 (at most once per mean work time, so one
//     slow batch is one decrease); when it finished within Target while the
//     limit was in use, the limit grows by 1/limit (about +1 per limit
//     completions). The limit stays within [MinLimit, MaxLimit].
//
// So an admitted request waits at most about MaxWait and then works for
// about Target or less: with the defaults (MaxWait = 2/3 of the budget,
// Target = budget/5) it almost always finishes within its budget, and what
// cannot is told at once to come back after Retry-After.
//
// In Lambda each instance serves one request at a time, so a Limiter there
// never refuses; the bound in Lambda is the function's reserved concurrency
// and DynamoDB's own throttling (answered 503 store_throttled).
package admission

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ErrOverloaded is the refusal: the process has as much store work in
// flight (and queued) as it can finish within the budget. Nothing was
// read or written; the caller may retry after Retry-After, with the same
// request (a canStream with the same deviceId and deviceSecret).
var ErrOverloaded = errors.New("overloaded: too many requests in flight; retry shortly")

// Defaults of Config.
const (
	DefaultBudget       = 1500 * time.Millisecond
	DefaultInitialLimit = 32
	DefaultMinLimit     = 16
	DefaultMaxLimit     = 256
)

// Config configures a Limiter. Zero fields take their defaults.
type Config struct {
	// Budget is the time one request has for its store work (the server's
	// STORE_TIMEOUT_MS); MaxWait and Target default to shares of it.
	Budget time.Duration
	// MaxWait is the longest estimated wait a request is queued for
	// (default 2/3 of Budget); beyond it the request is refused at once.
	MaxWait time.Duration
	// Target is the duration of admitted work the limit aims to stay
	// under (default Budget/5).
	Target time.Duration
	// InitialLimit, MinLimit and MaxLimit bound the concurrency limit
	// (defaults 32, 16, 256). The floor keeps a spell of timeouts from
	// cutting the limit below what a healthy store needs for its knee
	// (measured: at 4, DynamoDB Local's heartbeat goodput at twice the knee
	// fell to a third; at 16 it held 91 %).
	InitialLimit, MinLimit, MaxLimit int
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.Budget <= 0 {
		c.Budget = DefaultBudget
	}
	if c.MaxWait <= 0 {
		c.MaxWait = c.Budget * 2 / 3
	}
	if c.Target <= 0 {
		c.Target = c.Budget / 5
	}
	if c.MinLimit <= 0 {
		c.MinLimit = DefaultMinLimit
	}
	if c.MaxLimit <= 0 {
		c.MaxLimit = DefaultMaxLimit
	}
	if c.InitialLimit <= 0 {
		c.InitialLimit = min(max(DefaultInitialLimit, c.MinLimit), c.MaxLimit)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.MinLimit > c.MaxLimit:
		return fmt.Errorf("admission: min limit %d above max limit %d", c.MinLimit, c.MaxLimit)
	case c.InitialLimit < c.MinLimit || c.InitialLimit > c.MaxLimit:
		return fmt.Errorf("admission: initial limit %d not within [%d, %d]", c.InitialLimit, c.MinLimit, c.MaxLimit)
	case c.MaxWait >= c.Budget || c.Target >= c.Budget:
		return fmt.Errorf("admission: max wait %v and target %v must be below the budget %v", c.MaxWait, c.Target, c.Budget)
	}
	return nil
}

// maxQueue bounds the queue whatever the estimate says, as a multiple of
// the limit.
const maxQueue = 16

// Limiter is an adaptive bound on requests in flight. Safe for concurrent
// use.
type Limiter struct {
	cfg Config

	mu           sync.Mutex
	limit        float64
	inflight     int
	queue        []*waiter
	mean         time.Duration // EWMA of admitted work's duration
	lastDecrease time.Time
	stats        Stats
}

type waiter struct {
	ready   chan struct{}
	granted bool // set under the lock before ready is closed
}

// Stats counts what a Limiter did, for tests and the debug endpoint.
type Stats struct {
	Admitted int64   `json:"admitted"` // admitted at once or after queueing
	Queued   int64   `json:"queued"`   // of which waited in the queue
	Refused  int64   `json:"refused"`  // refused at arrival
	TimedOut int64   `json:"timedOut"` // refused after queueing: context ended
	Limit    int     `json:"limit"`
	InFlight int     `json:"inFlight"`
	Waiting  int     `json:"waiting"`
	MeanMs   float64 `json:"meanMs"` // mean duration of admitted work
}

// New returns a Limiter; it rejects inconsistent settings.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Limiter{cfg: cfg, limit: float64(cfg.InitialLimit), mean: cfg.Target / 4}, nil
}

// Config returns the settings in force (defaults filled in).
func (l *Limiter) Config() Config { return l.cfg }

// Ticket is one admitted request; call Done exactly once.
type Ticket struct {
	l     *Limiter
	start time.Time
	once  sync.Once
}

// Acquire admits the request, queues it, or refuses it with an error
// wrapping ErrOverloaded (see the package doc). A refusal at arrival is
// immediate; a queued request waits until a slot frees or ctx ends.
func (l *Limiter) Acquire(ctx context.Context) (*Ticket, error) {
	l.mu.Lock()
	if l.inflight < l.slots() && len(l.queue) == 0 {
		l.inflight++
		l.stats.Admitted++
		t := &Ticket{l: l, start: l.cfg.Now()}
		l.mu.Unlock()
		return t, nil
	}
	place := len(l.queue) + 1
	if wait := l.estimate(place); wait > l.cfg.MaxWait || place > maxQueue*l.slots() {
		l.stats.Refused++
		l.mu.Unlock()
		return nil, fmt.Errorf("%w (%d in flight, %d waiting, estimated wait %v)", ErrOverloaded, l.inflight, place-1, wait.Round(time.Millisecond))
	}
	w := &waiter{ready: make(chan struct{})}
	l.queue = append(l.queue, w)
	l.stats.Queued++
	l.mu.Unlock()

	select {
	case <-w.ready:
		return &Ticket{l: l, start: l.cfg.Now()}, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// The slot came as the context ended: hand it on.
		l.inflight--
		l.stats.Admitted--
		l.wake()
	} else {
		for i, q := range l.queue {
			if q == w {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				break
			}
		}
	}
	l.stats.TimedOut++
	return nil, fmt.Errorf("%w: waited for a slot until the request's budget ran out: %w", ErrOverloaded, ctx.Err())
}

// Done ends the admitted request's work. troubled reports that its store
// failed, throttled or ran out of time: a sign of overload whatever the
// duration. Calls after the first do nothing.
func (t *Ticket) Done(troubled bool) {
	t.once.Do(func() { t.l.done(t.l.cfg.Now().Sub(t.start), troubled) })
}

func (l *Limiter) done(d time.Duration, troubled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.mean += (d - l.mean) / 8 // EWMA, weight 1/8
	switch {
	case troubled || d > l.cfg.Target:
		if now.Sub(l.lastDecrease) >= l.mean {
			l.limit = max(float64(l.cfg.MinLimit), l.limit*0.75)
			l.lastDecrease = now
		}
	case l.inflight >= l.slots():
		// Grow only while the limit is what bounds the work.
		l.limit = min(float64(l.cfg.MaxLimit), l.limit+1/l.limit)
	}
	l.inflight--
	l.wake()
}

// wake admits queued requests while slots are free (lock held).
func (l *Limiter) wake() {
	for len(l.queue) > 0 && l.inflight < l.slots() {
		w := l.queue[0]
		l.queue = l.queue[1:]
		l.inflight++
		l.stats.Admitted++
		w.granted = true
		close(w.ready)
	}
}

// slots is the whole number of requests the limit allows (lock held).
func (l *Limiter) slots() int { return int(l.limit) }

// estimate is the expected wait of the request at place in the queue (lock
// held): the queue ahead drains limit requests per mean work time.
func (l *Limiter) estimate(place int) time.Duration {
	rounds := math.Ceil(float64(place) / float64(l.slots()))
	return time.Duration(rounds * float64(l.mean))
}

// Limit returns the current concurrency limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.slots()
}

// Stats returns the counters and the current state.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Limit, s.InFlight, s.Waiting = l.slots(), l.inflight, len(l.queue)
	s.MeanMs = float64(l.mean) / float64(time.Millisecond)
	return s
}
