package leasetest

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// Counting wraps a lease.Store and counts its Load and Commit calls, and
// the most Commits of one uid it saw in flight at once. CommitDelay, when
// set, holds every Commit that long before it reaches the store (a slow
// write). Safe for concurrent use; not part of the conformance suite.
type Counting struct {
	lease.Store
	CommitDelay time.Duration
	// LoadHook, when set, is called after each Load reached the store and
	// before it returns (a slow read, or a point to act at).
	LoadHook func()

	mu              sync.Mutex
	loads, commits  int
	inflight        map[string]int
	maxInflight     int
	commitsByResult map[bool]int
}

// NewCounting wraps s.
func NewCounting(s lease.Store) *Counting {
	return &Counting{Store: s, inflight: map[string]int{}, commitsByResult: map[bool]int{}}
}

// Load implements lease.Store.
func (c *Counting) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	c.mu.Lock()
	c.loads++
	hook := c.LoadHook
	c.mu.Unlock()
	acct, err := c.Store.Load(ctx, uid, consistent)
	if hook != nil {
		hook()
	}
	return acct, err
}

// Commit implements lease.Store.
func (c *Counting) Commit(ctx context.Context, uid string, ch lease.Change) error {
	c.mu.Lock()
	c.commits++
	c.inflight[uid]++
	c.maxInflight = max(c.maxInflight, c.inflight[uid])
	c.mu.Unlock()
	if c.CommitDelay > 0 {
		time.Sleep(c.CommitDelay)
	}
	err := c.Store.Commit(ctx, uid, ch)
	c.mu.Lock()
	c.inflight[uid]--
	c.commitsByResult[err == nil]++
	c.mu.Unlock()
	return err
}

// Counts returns the Loads and Commits so far, how many Commits failed,
// and the most Commits of one uid in flight at once.
func (c *Counting) Counts() (loads, commits, failedCommits, maxInflight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads, c.commits, c.commitsByResult[false], c.maxInflight
}

// RaceResult is what Race saw.
type RaceResult struct {
	// Granted counts grants per uid.
	Granted map[string]int
	// Errors holds every error CanStream returned.
	Errors []error
	// Latencies holds every call's duration.
	Latencies []time.Duration
}

// Race starts racers CanStream calls on each of uids at the same instant,
// each from its own device and under ctx, through svcs in turn (several
// services over one store stand for several processes), and collects the
// answers. Not part of the conformance suite.
func Race(ctx context.Context, svcs []*lease.Service, uids []string, racers int) RaceResult {
	res := RaceResult{Granted: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	n := 0
	for _, uid := range uids {
		for i := range racers {
			svc := svcs[n%len(svcs)]
			n++
			wg.Go(func() {
				<-start
				t0 := time.Now()
				d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: "racer-" + strconv.Itoa(i)})
				took := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				res.Latencies = append(res.Latencies, took)
				switch {
				case err != nil:
					res.Errors = append(res.Errors, err)
				case d.Granted:
					res.Granted[uid]++
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return res
}
