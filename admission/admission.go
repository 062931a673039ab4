// Package admission bounds the store work one process has in flight, so
// that past the store's knee excess requests are refused at once (503
// overloaded, Retry-After) instead of all waiting for the whole store budget
// and giving up together, which leaves the store working on writes nobody
// waits for (a metastable collapse: docs/BENCHMARKS.md).
//
// # The rule
//
// A Limiter imports nothing of the project and knows nothing of HTTP: the
// transport asks it before a request's first store operation (Acquire, or
// lazily through a Request) and tells it when the request's store work
// ended (Ticket.Done). It keeps two measures of the work it admitted:
//
//   - the limit: how much work may be in flight at once. AIMD on each
//     work's duration: work that took longer than 4 times as long as work
//     that ran alone (a moving average of the works whose mean concurrency
//     was below 1.5: it queued in the store rather than ran) or than Target,
//     or whose store failed, throttled or ran out of time, multiplies it by
//     3/4 (at most once per mean work time, so one slow batch is one
//     decrease); work within that while the limit was in use adds 1/limit
//     (about +1 per limit completions). It stays within [MinLimit,
//     MaxLimit]. A store that runs work in parallel (DynamoDB) keeps its
//     latency as the limit grows, so the limit grows; one that serialises
//     it (DynamoDB Local) does not, so the limit stays low and the excess
//     waits in the queue, where it is served first in, first out.
//   - the rate: how much work completes per second. While the limiter is
//     saturated (the limit in use, maybe a queue) it is measured directly:
//     works completed over time spent saturated, in windows of at least
//     100 ms but the first of each saturated spell (its start-up), averaged
//     (1/4). That is the store's throughput at the limit.
//     It is kept for RateMemory after the last saturated window, so a quiet
//     spell does not make the next burst forget what the last one showed.
//     Without such a measure the rate is estimated from light load by
//     Little's law: each work's duration over the mean number of works in
//     flight during its life is the time one work costs; the rate is one
//     over their moving average (1/8). At light load that is lower than
//     the store's throughput (work done one at a time shares nothing), so
//     the estimate errs on the side of refusing. (Under saturation the
//     same samples overstate the rate, by a third on DynamoDB Local, and
//     are not used.)
//
// A request arriving is
//
//   - admitted at once while fewer than the limit are in flight and nobody
//     waits;
//   - otherwise queued (first in, first out) if its estimated wait fits
//     MaxWait, and refused at once with ErrOverloaded if not. The wait is
//     estimated from the rate, not from latency: the queue ahead drains as
//     work completes, so place / rate. (A latency measured at another
//     concurrency says nothing of it: on a store that serialises its work,
//     32 requests in flight each take 32 times as long as one alone.)
//   - A queued request that is still waiting when less than its reserve
//     (three mean works, at most Target) is left of its context (the rate
//     fell after it queued) is refused then, before it touches the store;
//     so is one whose context ends.
//
// So an admitted request waits at most about MaxWait and then works for
// about a mean work or a few: with the defaults (MaxWait = Budget −
// Target, a fifth of the budget left for the work) it finishes within its
// budget, and what cannot is told at once
// to come back after Retry-After. A burst of n requests on a store that
// completes r works per second gets about limit + r × MaxWait of them
// served and the rest refused within milliseconds.
//
// In Lambda each instance serves one request at a time, so a Limiter there
// never refuses; the bound in Lambda is the function's reserved concurrency
// and DynamoDB's own throttling (answered 503 store_throttled).
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	DefaultInitialLimit = 16
	DefaultMinLimit     = 8
	DefaultMaxLimit     = 256
	DefaultRateMemory   = 30 * time.Second
)

// Config configures a Limiter. Zero fields take their defaults.
type Config struct {
	// Budget is the time one request has for its store work (the server's
	// STORE_TIMEOUT_MS); MaxWait and Target default to shares of it.
	Budget time.Duration
	// MaxWait is the longest estimated wait a request is queued for
	// (default Budget − Target: a request queued leaves at least Target of
	// its budget for its work); beyond it the request is refused at once.
	MaxWait time.Duration
	// Target is the longest duration of admitted work the limit grows
	// under (default Budget/5), and the most a queued request must still
	// have left of its context to be admitted.
	Target time.Duration
	// InitialLimit, MinLimit and MaxLimit bound the concurrency limit
	// (defaults 16, 8, 256). A store that serialises its work (DynamoDB
	// Local) does the most at a few works at once, and the queue, not the
	// store, should hold the rest: measured on DynamoDB Local
	// (docs/BENCHMARKS.md), 8 to 12 at once completed the most grants a
	// second, 30 at once about a third fewer.
	InitialLimit, MinLimit, MaxLimit int
	// RateMemory is how long the rate measured under saturation is kept
	// when lighter load measures less (default 30 s).
	RateMemory time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.Budget <= 0 {
		c.Budget = DefaultBudget
	}
	if c.Target <= 0 {
		c.Target = c.Budget / 5
	}
	if c.MaxWait <= 0 && c.Target < c.Budget {
		c.MaxWait = c.Budget - c.Target
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
	if c.RateMemory <= 0 {
		c.RateMemory = DefaultRateMemory
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

// maxQueue bounds the queue whatever the estimate says.
const maxQueue = 4096

// Limiter is an adaptive bound on requests in flight. Safe for concurrent
// use.
type Limiter struct {
	cfg Config

	mu           sync.Mutex
	limit        float64
	inflight     int
	queue        []*waiter
	mean         time.Duration // EWMA of admitted work's duration
	alone        time.Duration // EWMA of work that ran alone (see target)
	lastDecrease time.Time
	// cost is the EWMA of the Little's-law samples: seconds of store time
	// one work costs at the concurrency it ran at.
	cost float64
	// satRate is the rate measured while saturated (0: none yet), at
	// satAt; satTime and satDone are the current window's saturated time
	// and completions.
	satRate float64
	satAt   time.Time
	satTime float64
	satDone int
	lastSat bool // the limiter was saturated until the last event
	// spellWindows counts the windows of the current saturated spell
	// (reset when the limiter is not saturated): a spell's first window,
	// its start-up, is not measured.
	spellWindows int
	// area is the integral of inflight over time (work-seconds) up to
	// areaAt: a ticket's mean concurrency is the area it saw over its
	// duration.
	area   float64
	areaAt time.Time
	stats  Stats
}

type waiter struct {
	ready   chan struct{}
	granted bool // set under the lock before ready is closed
	ticket  *Ticket
}

// Stats counts what a Limiter did, for tests and the debug endpoint.
type Stats struct {
	Admitted int64   `json:"admitted"` // admitted at once or after queueing
	Queued   int64   `json:"queued"`   // of which waited in the queue
	Refused  int64   `json:"refused"`  // refused at arrival
	TimedOut int64   `json:"timedOut"` // refused after queueing: too little time left
	Limit    int     `json:"limit"`
	InFlight int     `json:"inFlight"`
	Waiting  int     `json:"waiting"`
	MeanMs   float64 `json:"meanMs"` // mean duration of admitted work
	Rate     float64 `json:"rate"`   // works completed per second, as estimated
}

// New returns a Limiter; it rejects inconsistent settings.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Limiter{
		cfg: cfg, limit: float64(cfg.InitialLimit), mean: cfg.Target / 4,
		// Before any measure: the initial limit's worth of work per Target.
		cost: cfg.Target.Seconds() / float64(cfg.InitialLimit),
	}, nil
}

// Config returns the settings in force (defaults filled in).
func (l *Limiter) Config() Config { return l.cfg }

// Ticket is one admitted request; call Done exactly once.
type Ticket struct {
	l     *Limiter
	start time.Time
	area  float64 // the limiter's area when it was admitted
	once  sync.Once
}

// Acquire admits the request, queues it, or refuses it with an error
// wrapping ErrOverloaded (see the package doc). A refusal at arrival is
// immediate; a queued request waits until a slot frees, or until less
// than Target is left of ctx, or ctx ends.
func (l *Limiter) Acquire(ctx context.Context) (*Ticket, error) {
	l.mu.Lock()
	now := l.cfg.Now()
	if l.inflight < l.slots() && len(l.queue) == 0 {
		t := l.admit(now)
		l.mu.Unlock()
		return t, nil
	}
	place := len(l.queue) + 1
	if wait := l.estimate(place, now); wait > l.cfg.MaxWait || place > maxQueue {
		l.stats.Refused++
		inflight := l.inflight // read under the lock
		l.mu.Unlock()
		return nil, fmt.Errorf("%w (%d in flight, %d waiting, estimated wait %v)", ErrOverloaded, inflight, place-1, wait.Round(time.Millisecond))
	}
	w := &waiter{ready: make(chan struct{})}
	l.queue = append(l.queue, w)
	l.stats.Queued++
	reserve := l.reserve()
	l.mu.Unlock()

	// Give up, before the store is touched, when less than the work's
	// reserve is left: it would most likely not finish in time.
	var giveUp <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(deadline) - reserve)
		defer t.Stop()
		giveUp = t.C
	}
	var cause error
	select {
	case <-w.ready:
		return w.ticket, nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-giveUp:
		cause = fmt.Errorf("less than %v left of the request's budget", reserve.Round(time.Millisecond))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// The slot came as the wait ended: hand it on.
		w.ticket.once.Do(func() {})
		l.advance(l.cfg.Now())
		l.inflight--
		l.stats.Admitted--
		l.wake(l.cfg.Now())
	} else {
		for i, q := range l.queue {
			if q == w {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				break
			}
		}
	}
	l.stats.TimedOut++
	return nil, fmt.Errorf("%w: waited for a slot until %w", ErrOverloaded, cause)
}

// admit takes a slot for a new ticket (lock held).
func (l *Limiter) admit(now time.Time) *Ticket {
	l.advance(now)
	l.inflight++
	l.stats.Admitted++
	return &Ticket{l: l, start: now, area: l.area}
}

// advance brings the area and the saturated time up to now (lock held);
// call it before inflight or the limit changes.
func (l *Limiter) advance(now time.Time) {
	if !l.areaAt.IsZero() && now.After(l.areaAt) {
		dt := now.Sub(l.areaAt).Seconds()
		l.area += float64(l.inflight) * dt
		if l.lastSat = l.inflight >= l.slots(); l.lastSat {
			l.satTime += dt
		} else {
			l.spellWindows, l.satTime, l.satDone = 0, 0, 0
		}
	}
	if now.After(l.areaAt) {
		l.areaAt = now
	}
}

// satWindow is the shortest saturated time a rate is measured over.
const satWindow = 100 * time.Millisecond

// Done ends the admitted request's work. troubled reports that its store
// failed, throttled or ran out of time: a sign of overload whatever the
// duration. Calls after the first do nothing.
func (t *Ticket) Done(troubled bool) {
	t.once.Do(func() { t.l.done(t, troubled) })
}

func (l *Limiter) done(t *Ticket, troubled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.advance(now)
	d := now.Sub(t.start)
	saturated := l.inflight >= l.slots()
	if l.lastSat {
		// It ends (or ended, with others at this instant) a saturated
		// spell.
		l.satDone++
	}
	l.mean += (d - l.mean) / 8 // EWMA, weight 1/8
	if d > 0 {
		// Little's law: its duration over the mean concurrency during
		// its life is what one work cost.
		concurrency := max(1, (l.area-t.area)/d.Seconds())
		if !saturated {
			l.cost += (d.Seconds()/concurrency - l.cost) / 8
		}
		if !troubled && concurrency < 1.5 {
			// It ran (about) alone: how long work takes unqueued.
			if l.alone == 0 {
				l.alone = d
			} else {
				l.alone += (d - l.alone) / 8
			}
		}
	}
	if l.satTime >= satWindow.Seconds() {
		r := float64(l.satDone) / l.satTime
		switch {
		case l.spellWindows == 0:
			// A spell's start-up: work admitted all at once.
		case l.satRate == 0 || now.Sub(l.satAt) > l.cfg.RateMemory:
			l.satRate, l.satAt = r, now
		default:
			l.satRate += (r - l.satRate) / 4
			l.satAt = now
		}
		l.spellWindows++
		l.satTime, l.satDone = 0, 0
	}
	switch {
	case troubled || d > l.target():
		if now.Sub(l.lastDecrease) >= l.mean {
			l.limit = max(float64(l.cfg.MinLimit), l.limit*0.75)
			l.lastDecrease = now
		}
	case saturated:
		// Grow only while the limit is what bounds the work.
		l.limit = min(float64(l.cfg.MaxLimit), l.limit+1/l.limit)
	}
	l.inflight--
	l.wake(now)
}

// wake admits queued requests while slots are free (lock held).
func (l *Limiter) wake(now time.Time) {
	for len(l.queue) > 0 && l.inflight < l.slots() {
		w := l.queue[0]
		l.queue = l.queue[1:]
		w.ticket = l.admit(now)
		w.granted = true
		close(w.ready)
	}
}

// inflation is how many times as long as work that ran alone a work may
// take before the limit counts it as queued in the store.
const inflation = 4

// target is the work duration the limit grows under (lock held):
// inflation times the duration of work that ran alone, at most Target.
func (l *Limiter) target() time.Duration {
	if l.alone == 0 {
		return l.cfg.Target
	}
	return min(l.cfg.Target, inflation*l.alone)
}

// reserve is the time a queued request must still have left to be
// admitted (lock held): three mean works, at most Target.
func (l *Limiter) reserve() time.Duration { return min(l.cfg.Target, 3*l.mean) }

// slots is the whole number of requests the limit allows (lock held).
func (l *Limiter) slots() int { return int(l.limit) }

// estimate is the expected wait of the request at place in the queue (lock
// held): the queue ahead drains at the rate work completes, the one
// measured under saturation when it is higher and recent.
func (l *Limiter) estimate(place int, now time.Time) time.Duration {
	return time.Duration(float64(place) / l.rateAt(now) * float64(time.Second))
}

// rateAt is the completion rate the estimate uses (lock held): the one
// measured under saturation while recent, else the light-load estimate.
func (l *Limiter) rateAt(now time.Time) float64 {
	r := 1 / max(l.cost, 1e-6)
	if l.satRate > 0 && now.Sub(l.satAt) <= l.cfg.RateMemory {
		r = l.satRate
	}
	return max(r, 1/l.cfg.Budget.Seconds())
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
	s.Rate = l.rateAt(l.cfg.Now())
	return s
}

// Request is the admission of one request's store work, asked lazily:
// Admit before each store operation (the first one acquires a ticket or is
// refused; later ones repeat its answer) and Done once the request's store
// work is over. A request that never touches the store (a heartbeat
// answered from its renewal token, a canStream refused from what the
// account queue knew) never takes a slot. Safe for concurrent use.
type Request struct {
	l      *Limiter
	mu     sync.Mutex
	asked  bool
	ticket *Ticket
	err    error
}

// Request starts the lazy admission of one request.
func (l *Limiter) Request() *Request { return &Request{l: l} }

// Admit admits the request's store work on the first call (see Acquire)
// and answers the same on every later one. After Done it lets work
// through only if the request had been admitted.
func (r *Request) Admit(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.asked {
		r.asked = true
		r.ticket, r.err = r.l.Acquire(ctx)
	}
	return r.err
}

// Done ends the request's store work (troubled: see Ticket.Done). It marks
// a request never admitted as over: a later Admit is refused.
func (r *Request) Done(troubled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ticket != nil {
		r.ticket.Done(troubled)
	}
	if !r.asked {
		r.asked, r.err = true, fmt.Errorf("%w: the request is over", ErrOverloaded)
	}
}

// State is what ServeHTTP answers: the counters and current state, and the
// settings in force.
type State struct {
	Stats
	BudgetMs  float64 `json:"budgetMs"`
	MaxWaitMs float64 `json:"maxWaitMs"`
	TargetMs  float64 `json:"targetMs"`
	MinLimit  int     `json:"minLimit"`
	MaxLimit  int     `json:"maxLimit"`
}

// State returns the counters, the current state and the settings.
func (l *Limiter) State() State {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return State{
		Stats: l.Stats(), BudgetMs: ms(l.cfg.Budget), MaxWaitMs: ms(l.cfg.MaxWait), TargetMs: ms(l.cfg.Target),
		MinLimit: l.cfg.MinLimit, MaxLimit: l.cfg.MaxLimit,
	}
}

// ServeHTTP answers the limiter's State as JSON (a debug endpoint: cmd/local
// serves it at GET /debug/admission when asked).
func (l *Limiter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(l.State())
}
