// Package loadgen simulates video players against a running streamlimit
// server over HTTP and audits the result. It backs cmd/loadgen (load and
// soak runs) and the fault-injection tests.
//
// Each player repeats sessions until the run's duration is over: it asks
// canStream with a fresh device id, heartbeats on the server's interval (or
// Config.Interval), and after a random session length ends its lease; a
// share of sessions (Config.CrashShare) stops silently instead, so its lease
// must be freed by TTL. A refused player waits and asks again. A 503 (or
// no answer) is retried no sooner than its Retry-After, with exponential
// backoff and jitter, as a well-behaved player does.
//
// # Audit
//
// The ledger records what every player was told. At sampled moments and at
// the end the run checks:
//
//   - bound: for every uid, the leases players hold (granted, not ended, not
//     expired) never exceed the limit; and for a sample of uids, the live
//     leases in the store (read by a Reader, preferably the table itself
//     with a consistent Query) never exceed it either;
//   - nothing lost: every lease a player holds throughout a store read is
//     live in the store, and no heartbeat sent before the lease's known
//     expiry is answered 410;
//   - nothing invented: no live lease in the store belongs to a device that
//     never asked. A lease whose canStream got no clear answer (timeout,
//     503 after a write that may have committed) is a "ghost": reported,
//     not an error, and freed by TTL;
//   - crashes freed: after the run, once the last lease's expiry has passed,
//     no uid has a live lease left, and every uid that had a crash can be
//     granted its full limit again.
//
// Loopback only: Run refuses a base URL that is not on this machine.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamlimit/streamlimit/observe/capacity"
)

// Config is one run.
type Config struct {
	// Base is the API base URL, e.g. http://127.0.0.1:3000/dev. It must be a
	// loopback address.
	Base string
	// Players is how many players run at once.
	Players int
	// UIDs is how many accounts the players share (player i uses uid i mod
	// UIDs); default Players/2.
	UIDs int
	// UIDPrefix starts every uid (default "lg-<random>-", so runs do not
	// meet).
	UIDPrefix string
	// Duration is how long players keep starting and playing sessions.
	Duration time.Duration
	// Ramp spreads the players' first requests (default min(Duration/4, 30s)).
	Ramp time.Duration
	// SessionMin and SessionMax bound a session's length.
	SessionMin, SessionMax time.Duration
	// PauseMax bounds the random pause between sessions and after a refusal.
	PauseMax time.Duration
	// CrashShare is the share of sessions that stop silently (0..1).
	CrashShare float64
	// Interval overrides the heartbeat interval the server announces.
	Interval time.Duration
	// TTL is the server's lease TTL; the final audit waits for it.
	TTL time.Duration
	// Limit is the default per-account limit (answers override it).
	Limit int
	// AuditEvery is how often the audit samples (default 10s).
	AuditEvery time.Duration
	// AuditSample is how many uids each sampled moment reads from the store
	// (default 20).
	AuditSample int
	// Reader reads accounts from the store for the audit (default
	// StreamsReader on Base).
	Reader Reader
	// CapacityURL, when set, is the server's GET /debug/capacity: the run
	// reports DynamoDB calls and capacity per operation.
	CapacityURL string
	// Cost prices the run (needs CapacityURL): see CostConfig.
	Cost CostConfig
	// Header is sent with every request (e.g. Authorization).
	Header http.Header
	// RequestTimeout bounds one HTTP request (default 10s).
	RequestTimeout time.Duration
	// SlowLimit counts answers slower than it (default 2s).
	SlowLimit time.Duration
	// Allowed lists outcomes ("503", "timeout", ...) that are documented for
	// this run and not counted as unexpected errors.
	Allowed []Outcome
	// EndSpread spreads the players' last endStream over this long after
	// Duration (default min(TTL/3, 30s)), so a run does not end with every
	// player ending at once.
	EndSpread time.Duration
	// SkipFinal skips the final TTL wait and crash audit.
	SkipFinal bool
	// Progress receives a progress line every ProgressEvery (default 5s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Client is the HTTP client (default: one tuned for many players).
	Client *http.Client
}

// Report is a run's result.
type Report struct {
	Base        string  `json:"base"`
	Players     int     `json:"players"`
	UIDs        int     `json:"uids"`
	CrashShare  float64 `json:"crashShare"`
	IntervalSec float64 `json:"heartbeatIntervalSeconds"`
	TTLSec      float64 `json:"leaseTTLSeconds"`
	Started     string  `json:"started"`
	ElapsedSec  float64 `json:"elapsedSeconds"`
	Reader      string  `json:"auditReader"`

	Sessions    int64   `json:"sessions"`
	Granted     int     `json:"granted"`
	Refused     int64   `json:"refused"`
	Crashed     int     `json:"crashed"`
	Ended       int64   `json:"ended"`
	StreamHours float64 `json:"streamHours"`

	Ops map[string]OpReport `json:"ops"`
	// Unexpected counts answers other than 200 that Config.Allowed does not
	// list, plus anomalies (a live lease answered 410, an end that removed
	// nothing).
	Unexpected int64 `json:"unexpected"`
	// Anomalies counts by kind: "heartbeat_410_live", "end_not_removed",
	// "expired_while_unavailable" (a lease that ran out while the server
	// answered 503: documented, not unexpected).
	Anomalies map[string]int64 `json:"anomalies"`

	Capacity capacity.Snapshot `json:"capacity,omitempty"`
	// PerStreamHour is the model's DynamoDB cost of the run per stream-hour
	// (writes, reads, calls), at this run's interval and session lengths.
	PerStreamHour *PerStreamHour `json:"perStreamHour,omitempty"`
	// Cost is the run's itemized bill per million stream-hours (with
	// CapacityURL).
	Cost *CostReport `json:"cost,omitempty"`

	Audit Audit `json:"audit"`
	OK    bool  `json:"ok"`
	// Notes explain figures that would otherwise look wrong, such as no
	// heartbeat in a run shorter than the heartbeat interval.
	Notes []string `json:"notes,omitempty"`
}

// PerStreamHour is DynamoDB work per hour of streaming.
type PerStreamHour struct {
	WriteUnits float64 `json:"writeUnits"`
	ReadUnits  float64 `json:"readUnits"`
	Calls      float64 `json:"calls"`
	Requests   float64 `json:"requests"`
}

// Audit is what the audit checked and found.
type Audit struct {
	Moments       int      `json:"moments"`
	StoreReads    int      `json:"storeReads"`
	StoreErrors   int      `json:"storeReadErrors"`
	OverLimit     int      `json:"overLimit"`
	Lost          int      `json:"lost"`
	Invented      int      `json:"invented"`
	Ghosts        int      `json:"ghosts"`
	FinalUIDs     int      `json:"finalUIDs"`
	FinalLive     int      `json:"finalLive"`
	ProbeUIDs     int      `json:"probeUIDs"`
	ProbeRefused  int      `json:"probeRefused"`
	CrashedLeases int      `json:"crashedLeases"`
	Violations    []string `json:"violations,omitempty"`
	// ReadErrors holds the first store reads that failed (an audit
	// moment during an outage cannot read the store).
	ReadErrors []string `json:"readErrors,omitempty"`
}

// OK reports a clean audit.
func (a Audit) OK() bool {
	return a.OverLimit == 0 && a.Lost == 0 && a.Invented == 0 && a.FinalLive == 0 &&
		a.ProbeRefused == 0 && a.StoreErrors == 0
}

func (c *Config) defaults() error {
	if err := CheckLoopback(c.Base); err != nil {
		return err
	}
	c.Base = strings.TrimSuffix(c.Base, "/")
	if c.Players < 1 {
		return errors.New("loadgen: at least one player")
	}
	if c.UIDs <= 0 {
		c.UIDs = max(1, c.Players/2)
	}
	if c.UIDPrefix == "" {
		c.UIDPrefix = fmt.Sprintf("lg-%06x-", rand.Uint32()&0xffffff)
	}
	if c.Duration <= 0 || c.Duration > 3*time.Hour {
		return errors.New("loadgen: duration must be in (0, 3h]")
	}
	if c.Ramp <= 0 {
		c.Ramp = min(c.Duration/4, 30*time.Second)
	}
	if c.SessionMin <= 0 {
		c.SessionMin = time.Minute
	}
	if c.SessionMax < c.SessionMin {
		c.SessionMax = c.SessionMin
	}
	if c.PauseMax <= 0 {
		c.PauseMax = 5 * time.Second
	}
	if c.CrashShare < 0 || c.CrashShare > 1 {
		return errors.New("loadgen: crash share must be in [0, 1]")
	}
	if c.TTL <= 0 {
		c.TTL = 100 * time.Second
	}
	if c.Limit <= 0 {
		c.Limit = 3
	}
	if c.EndSpread <= 0 {
		c.EndSpread = min(c.TTL/3, 30*time.Second)
	}
	if c.AuditEvery <= 0 {
		c.AuditEvery = 10 * time.Second
	}
	if c.AuditSample <= 0 {
		c.AuditSample = 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.SlowLimit <= 0 {
		c.SlowLimit = 2 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 5 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if c.Reader == nil {
		c.Reader = StreamsReader{Base: c.Base, Client: c.Client, Header: c.Header}
	}
	if c.CapacityURL != "" {
		if err := CheckLoopback(c.CapacityURL); err != nil {
			return err
		}
	}
	return nil
}

// CheckLoopback refuses a URL whose host is not a loopback address: load
// and fault runs target this machine only.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("loadgen: %q is not an http URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("loadgen: cannot resolve %q", host)
		}
		for _, a := range ips {
			if !a.IsLoopback() {
				return fmt.Errorf("loadgen: %q resolves to %s, not a loopback address: only this machine may be loaded", host, a)
			}
		}
		return nil
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("loadgen: %s is not a loopback address: only this machine may be loaded", ip)
	}
	return nil
}

// run is one load run in progress.
type run struct {
	cfg     Config
	stats   *stats
	ledger  *ledger
	allowed map[Outcome]bool

	sessions, refused, ended atomic.Int64
	playing, crashedNow      atomic.Int64
	anomalyMu                sync.Mutex
	anomalies                map[string]int64
	interval                 atomic.Int64 // announced heartbeat interval (ns)

	auditMu sync.Mutex
	audit   Audit
}

// Run runs the load described by cfg until its duration is over, ends the
// players' leases, audits, and returns the report. It stops early when ctx
// is done (the report is then partial). Its HTTP requests are bounded by
// cfg.RequestTimeout and the run by Duration + 2×TTL + 5 minutes.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+2*cfg.TTL+5*time.Minute)
	defer cancel()
	r := &run{cfg: cfg, stats: newStats(cfg.SlowLimit), ledger: newLedger(), allowed: map[Outcome]bool{}, anomalies: map[string]int64{}}
	for _, o := range cfg.Allowed {
		r.allowed[o] = true
	}
	start := time.Now()
	var capBefore capacity.Snapshot
	var markBefore, markAfter serverMark
	if cfg.CapacityURL != "" {
		var err error
		if capBefore, err = r.fetchCapacity(ctx); err != nil {
			return nil, err
		}
		markBefore = cfg.Cost.markServer()
	}

	playCtx, stopPlay := context.WithTimeout(ctx, cfg.Duration)
	defer stopPlay()
	var wg sync.WaitGroup
	for i := range cfg.Players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.player(ctx, playCtx, i)
		}()
	}
	bgCtx, stopBg := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); r.auditLoop(bgCtx) }()
	go func() { defer bg.Done(); r.progressLoop(bgCtx, start) }()
	wg.Wait()
	stopBg()
	bg.Wait()

	rep := &Report{
		Base: cfg.Base, Players: cfg.Players, UIDs: cfg.UIDs, CrashShare: cfg.CrashShare,
		IntervalSec: time.Duration(r.interval.Load()).Seconds(), TTLSec: cfg.TTL.Seconds(),
		Started: start.UTC().Format(time.RFC3339), Reader: cfg.Reader.Name(),
		Sessions: r.sessions.Load(), Refused: r.refused.Load(), Ended: r.ended.Load(),
	}
	var streamTime time.Duration
	var lastExpiry time.Time
	rep.Granted, rep.Crashed, lastExpiry, streamTime = r.ledger.summary()
	rep.StreamHours = streamTime.Hours()
	if cfg.CapacityURL != "" {
		after, err := r.fetchCapacity(ctx)
		if err != nil {
			return nil, err
		}
		markAfter = cfg.Cost.markServer()
		rep.Capacity = after.Sub(capBefore)
		rep.PerStreamHour = perStreamHour(rep.Capacity, rep.StreamHours)
	}
	r.audit.CrashedLeases = rep.Crashed
	if !cfg.SkipFinal && ctx.Err() == nil {
		r.finalAudit(ctx, lastExpiry)
	}
	rep.ElapsedSec = time.Since(start).Seconds()
	rep.Ops = r.stats.report()
	if rep.Capacity != nil {
		rep.Cost = cfg.Cost.bill(measured(rep.Capacity, rep.Ops, rep.StreamHours, rep.IntervalSec, markBefore, markAfter))
	}
	rep.Anomalies = r.anomalies
	for _, op := range rep.Ops {
		for oc, n := range op.Outcomes {
			if oc != "200" && !r.allowed[oc] {
				rep.Unexpected += n
			}
		}
	}
	rep.Unexpected += r.anomalies["heartbeat_410_live"] + r.anomalies["end_not_removed"]
	rep.Audit = r.audit
	rep.OK = rep.Unexpected == 0 && rep.Audit.OK() && ctx.Err() == nil
	if rep.Ops["heartbeat"].Count == 0 {
		rep.Notes = append(rep.Notes, noHeartbeat(rep.Granted, cfg.Duration, r.heartbeatInterval(), cfg.SessionMax))
	}
	return rep, nil
}

// noHeartbeat says why a run sent no heartbeat.
func noHeartbeat(granted int, duration, interval, sessionMax time.Duration) string {
	switch {
	case granted == 0:
		return "no heartbeat: no stream was granted"
	case duration < interval:
		return fmt.Sprintf("no heartbeat: the run (%s) was shorter than the heartbeat interval (%s)", seconds(duration), seconds(interval))
	case sessionMax < interval:
		return fmt.Sprintf("no heartbeat: every session (at most %s) ended before its first heartbeat, due %s after the grant", seconds(sessionMax), seconds(interval))
	default:
		return fmt.Sprintf("no heartbeat: no stream lasted a heartbeat interval (%s)", seconds(interval))
	}
}

// heartbeatInterval is the interval the players used: Config.Interval,
// else the one the server announced, else the 30 s a session assumes.
func (r *run) heartbeatInterval() time.Duration {
	if d := time.Duration(r.interval.Load()); d > 0 {
		return d
	}
	return 30 * time.Second
}

// seconds renders d as "2 s", or "1.5 s" when it has a fraction.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func perStreamHour(s capacity.Snapshot, hours float64) *PerStreamHour {
	if hours <= 0 {
		return nil
	}
	var p PerStreamHour
	for _, op := range []string{"canStream", "heartbeat", "endStream"} {
		o := s[op]
		p.WriteUnits += o.ModelWrite
		p.ReadUnits += o.ModelRead
		p.Calls += float64(o.CallsTotal)
		p.Requests += float64(o.Requests)
	}
	p.WriteUnits /= hours
	p.ReadUnits /= hours
	p.Calls /= hours
	p.Requests /= hours
	return &p
}

func (r *run) anomaly(kind string) {
	r.anomalyMu.Lock()
	r.anomalies[kind]++
	r.anomalyMu.Unlock()
}

func (r *run) violation(kind string, lines []string) {
	if len(lines) == 0 {
		return
	}
	r.auditMu.Lock()
	defer r.auditMu.Unlock()
	switch kind {
	case "over":
		r.audit.OverLimit += len(lines)
	case "lost":
		r.audit.Lost += len(lines)
	case "invented":
		r.audit.Invented += len(lines)
	}
	for _, l := range lines {
		if len(r.audit.Violations) < 50 {
			r.audit.Violations = append(r.audit.Violations, kind+": "+l)
		}
	}
}

// answer is one HTTP exchange's result.
type answer struct {
	outcome    Outcome
	status     int
	retryAfter time.Duration
	body       map[string]any
}

// do sends one request and records its outcome and latency under op.
func (r *run) do(ctx context.Context, op, method, path string, body []byte) answer {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.cfg.Base+path, rd)
	if err != nil {
		return answer{outcome: OutcomeConnError}
	}
	for k, vs := range r.cfg.Header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		a := answer{outcome: OutcomeConnError, retryAfter: time.Second}
		if parent.Err() != nil {
			// The run ended while the request was in flight: not an
			// answer of the server, so not counted.
			return a
		}
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			a.outcome = OutcomeTimeout
		}
		r.stats.record(op, a.outcome, time.Since(start))
		return a
	}
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d := time.Since(start)
	a := answer{status: resp.StatusCode, outcome: strconv.Itoa(resp.StatusCode)}
	if rerr != nil {
		a.outcome = OutcomeConnError
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil {
			a.retryAfter = time.Duration(n) * time.Second
		}
	} else if resp.StatusCode == http.StatusServiceUnavailable {
		a.outcome = "503_no_retry_after"
	}
	_ = json.Unmarshal(data, &a.body)
	r.stats.record(op, a.outcome, d)
	return a
}

func (r *run) uidOf(i int) string { return r.cfg.UIDPrefix + strconv.Itoa(i%r.cfg.UIDs) }

// sleep waits d or until ctx is done; it reports whether it slept fully.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func randBetween(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// player runs sessions until playCtx is done; ctx bounds the whole run
// (final endStream calls use it).
func (r *run) player(ctx, playCtx context.Context, i int) {
	uid := r.uidOf(i)
	if !sleep(playCtx, rand.N(r.cfg.Ramp+1)) {
		return
	}
	for n := 0; playCtx.Err() == nil; n++ {
		device := fmt.Sprintf("p%d-s%d", i, n)
		r.session(ctx, playCtx, uid, device)
		sleep(playCtx, rand.N(r.cfg.PauseMax+1))
	}
}

// acquire asks canStream until it gets a clear answer; it returns the lease
// id, expiry, heartbeat interval and renewal token, or "" when refused or
// the run is over.
func (r *run) acquire(playCtx context.Context, uid, device string) (string, time.Time, time.Duration, string) {
	// A secret per session makes a retry take over the lease an earlier,
	// unanswered attempt may have written, instead of using a second slot.
	secret := fmt.Sprintf("s%016x%016x", rand.Uint64(), rand.Uint64())
	body, _ := json.Marshal(map[string]string{"deviceId": device, "deviceSecret": secret})
	for attempt := 0; playCtx.Err() == nil; attempt++ {
		r.ledger.requestSent(uid, device)
		a := r.do(playCtx, "canStream", http.MethodPost, "/canStream/"+url.PathEscape(uid), body)
		limit := intOf(a.body["maxStreams"])
		if a.status == http.StatusOK {
			if granted, _ := a.body["canStream"].(bool); !granted {
				r.ledger.requestDone(uid, device, limit, false, "", time.Time{}, false)
				r.refused.Add(1)
				return "", time.Time{}, 0, ""
			}
			id, _ := a.body["leaseId"].(string)
			exp, _ := time.Parse(time.RFC3339, str(a.body["expiresAt"]))
			every := time.Duration(intOf(a.body["heartbeatIntervalSeconds"])) * time.Second
			r.interval.Store(int64(every))
			r.ledger.requestDone(uid, device, limit, true, id, exp, false)
			return id, exp, every, str(a.body["renewalToken"])
		}
		// 503, timeout, connection error: the grant may have been written;
		// retry with the same device id and secret (which take that lease
		// over if so).
		r.ledger.requestDone(uid, device, limit, false, "", time.Time{}, a.status >= 500 || a.status == 0)
		if a.status != 0 && a.status < 500 {
			return "", time.Time{}, 0, ""
		}
		sleep(playCtx, backoff(a.retryAfter, attempt))
	}
	return "", time.Time{}, 0, ""
}

// backoff is how long a player waits before retry number attempt (0 for
// the first) after a 503 or no answer: at least Retry-After, doubling per
// attempt up to 30 s, with full jitter above Retry-After, as a
// well-behaved player does so an overloaded service can recover.
func backoff(retryAfter time.Duration, attempt int) time.Duration {
	base := max(retryAfter, 500*time.Millisecond)
	ceiling := min(base<<min(attempt, 6), 30*time.Second)
	return base + rand.N(ceiling-base+1)
}

func (r *run) session(ctx, playCtx context.Context, uid, device string) {
	r.sessions.Add(1)
	id, exp, every, token := r.acquire(playCtx, uid, device)
	if id == "" {
		return
	}
	if r.cfg.Interval > 0 {
		every = r.cfg.Interval
		r.interval.Store(int64(every))
	}
	if every <= 0 {
		every = 30 * time.Second
	}
	r.playing.Add(1)
	defer r.playing.Add(-1)
	length := randBetween(r.cfg.SessionMin, r.cfg.SessionMax)
	crashAt := time.Duration(-1)
	if rand.Float64() < r.cfg.CrashShare {
		crashAt = rand.N(length)
	}
	began := time.Now()
	next := began.Add(every)
	for {
		elapsed := time.Since(began)
		stop := length
		if crashAt >= 0 {
			stop = crashAt
		}
		wait := min(time.Until(next), stop-elapsed)
		if !sleep(playCtx, wait) {
			break // the run is over: end the lease below
		}
		if time.Since(began) >= stop {
			if crashAt >= 0 {
				r.ledger.crashed(uid, id, time.Now())
				r.crashedNow.Add(1)
				return // silently: no endStream
			}
			break
		}
		// Heartbeat with the last renewal token (as the web client does, so
		// the run measures what real players cost), retrying 503s while the
		// lease is still live.
		for attempt := 0; ; attempt++ {
			sent := time.Now()
			path := "/heartbeat/" + url.PathEscape(uid) + "/" + id
			if token != "" {
				path += "?renewalToken=" + url.QueryEscape(token)
			}
			a := r.do(ctx, "heartbeat", http.MethodPost, path, nil)
			if a.status == http.StatusOK {
				if e, err := time.Parse(time.RFC3339, str(a.body["expiresAt"])); err == nil {
					r.ledger.renewed(uid, id, e)
					exp = laterOf(exp, e)
				}
				token = str(a.body["renewalToken"])
				next = sent.Add(every)
				break
			}
			if a.status == http.StatusGone {
				if exp.After(sent) {
					r.anomaly("heartbeat_410_live")
					r.violation("lost", []string{fmt.Sprintf("%s: heartbeat of device %q answered 410 at %s, lease known live until %s",
						uid, device, sent.Format(time.RFC3339Nano), exp.Format(time.RFC3339))})
				} else {
					r.anomaly("heartbeat_410_late")
				}
				r.ledger.lost(uid, id, sent)
				return
			}
			if a.status != 0 && a.status < 500 {
				r.ledger.lost(uid, id, sent)
				return
			}
			retry := min(backoff(a.retryAfter, attempt), time.Until(exp)-time.Second)
			if retry <= 0 {
				r.anomaly("expired_while_unavailable")
				r.ledger.lost(uid, id, time.Now())
				return
			}
			if !sleep(playCtx, retry) {
				break
			}
		}
	}
	if playCtx.Err() != nil {
		// The run is over: players stop over a spread, as a real audience
		// does, not all in the same instant (while the lease still lives).
		sleep(ctx, min(rand.N(r.cfg.EndSpread+1), time.Until(exp)-time.Second))
	}
	r.end(ctx, uid, device, id, exp)
}

// end sends endStream, retrying 503s while the lease would still be live.
func (r *run) end(ctx context.Context, uid, device, id string, exp time.Time) {
	for attempt := 0; ; attempt++ {
		sent := time.Now()
		r.ledger.endSent(uid, id, sent)
		a := r.do(ctx, "endStream", http.MethodPost, "/endStream/"+url.PathEscape(uid)+"/"+id, nil)
		if a.status == http.StatusOK {
			r.ended.Add(1)
			if removed, _ := a.body["removedStream"].(bool); !removed && r.ledger.expiresAt(uid, id).After(sent.Add(time.Second)) {
				if attempt == 0 {
					r.anomaly("end_not_removed")
				} else {
					// An earlier attempt's end committed but its answer was
					// lost (503 or timeout): documented, not an error.
					r.anomaly("end_retry_found_nothing")
				}
			}
			return
		}
		retry := backoff(a.retryAfter, attempt)
		if (a.status != 0 && a.status < 500) || !time.Now().Add(retry).Before(exp) || ctx.Err() != nil {
			r.anomaly("end_failed")
			return
		}
		sleep(ctx, retry)
	}
}

// auditLoop samples the bound, from the ledger for every uid and from the
// store for a sample of uids, every AuditEvery.
func (r *run) auditLoop(ctx context.Context) {
	every(ctx, r.cfg.AuditEvery, func() { r.auditMoment(ctx, r.cfg.AuditSample) })
}

// every calls f every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

func (r *run) auditMoment(ctx context.Context, sample int) {
	r.violation("over", r.ledger.overLimit(time.Now(), r.cfg.Limit))
	uids := r.ledger.uids()
	rand.Shuffle(len(uids), func(i, j int) { uids[i], uids[j] = uids[j], uids[i] })
	if len(uids) > sample {
		uids = uids[:sample]
	}
	for _, uid := range uids {
		r.checkStore(ctx, uid)
	}
	r.auditMu.Lock()
	r.audit.Moments++
	r.auditMu.Unlock()
}

// checkStore reads one account from the store and compares it with the
// ledger. It returns the number of live leases read (-1 on error).
func (r *run) checkStore(ctx context.Context, uid string) int {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	t0 := time.Now()
	v, err := r.cfg.Reader.Read(rctx, uid)
	t1 := time.Now()
	r.auditMu.Lock()
	r.audit.StoreReads++
	if err != nil && ctx.Err() == nil {
		r.audit.StoreErrors++
		if len(r.audit.ReadErrors) < 3 {
			r.audit.ReadErrors = append(r.audit.ReadErrors, uid+": "+err.Error())
		}
	}
	r.auditMu.Unlock()
	if err != nil {
		return -1
	}
	over, lost, invented, ghosts := r.ledger.storeCheck(uid, v, t0, t1, r.cfg.Limit)
	r.violation("over", over)
	r.violation("lost", lost)
	r.violation("invented", invented)
	r.auditMu.Lock()
	r.audit.Ghosts = max(r.audit.Ghosts, ghosts) // per read; the max seen
	r.auditMu.Unlock()
	live := 0
	for _, l := range v.Leases {
		if !l.Revoked && l.ExpiresAt.After(t1) {
			live++
		}
	}
	return live
}

// finalAudit waits until every lease granted (crashed ones included) has
// expired, checks that no uid has a live lease left, and that every uid
// that had a crash can be granted its full limit again.
func (r *run) finalAudit(ctx context.Context, lastExpiry time.Time) {
	r.auditMoment(ctx, r.cfg.AuditSample)
	// Ghosts and crashed leases expire at most one TTL after the last
	// request; the known expiries are covered by lastExpiry.
	until := laterOf(lastExpiry, time.Now().Add(r.cfg.TTL)).Add(1500 * time.Millisecond)
	if !r.waitForExpiry(ctx, until) {
		return
	}
	uids := r.ledger.uids()
	slices.Sort(uids)
	crashed := r.ledger.crashedUIDs()
	slices.Sort(crashed)
	if len(crashed) > 100 {
		crashed = crashed[:100]
	}
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "final audit: reading %d uids, then probing %d that had a crash\n", len(uids), len(crashed))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, uid := range uids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if n := r.checkStore(ctx, uid); n > 0 {
				mu.Lock()
				r.audit.FinalLive += n
				if len(r.audit.Violations) < 50 {
					r.audit.Violations = append(r.audit.Violations, fmt.Sprintf("final: %s still has %d live leases after every expiry", uid, n))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.audit.FinalUIDs = len(uids)
	// Probe: every uid that had a crash gets its full limit again.
	for _, uid := range crashed {
		r.audit.ProbeUIDs++
		limit := r.ledger.limitOf(uid, r.cfg.Limit)
		var ids []string
		for k := range limit {
			body, _ := json.Marshal(map[string]string{"deviceId": fmt.Sprintf("probe-%d", k)})
			a := r.do(ctx, "probe", http.MethodPost, "/canStream/"+url.PathEscape(uid), body)
			if g, _ := a.body["canStream"].(bool); a.status != http.StatusOK || !g {
				r.audit.ProbeRefused++
				if len(r.audit.Violations) < 50 {
					r.audit.Violations = append(r.audit.Violations, fmt.Sprintf("probe: %s refused slot %d of %d after every crash expired (status %d)", uid, k+1, limit, a.status))
				}
				break
			}
			ids = append(ids, str(a.body["leaseId"]))
		}
		for _, id := range ids {
			r.do(ctx, "probe", http.MethodPost, "/endStream/"+url.PathEscape(uid)+"/"+id, nil)
		}
	}
}

// waitForExpiry waits until until (it reports whether it did), with a
// countdown on the progress writer every ProgressEvery.
func (r *run) waitForExpiry(ctx context.Context, until time.Time) bool {
	w := r.cfg.Progress
	if w == nil {
		return sleep(ctx, time.Until(until))
	}
	fmt.Fprintf(w, "final audit: waiting %s for every lease to expire (lease TTL %s)\n", ceilSecond(time.Until(until)), r.cfg.TTL)
	done := time.NewTimer(time.Until(until))
	defer done.Stop()
	tick := time.NewTicker(r.cfg.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-done.C:
			return ctx.Err() == nil
		case <-tick.C:
			if left := time.Until(until); left > 0 {
				fmt.Fprintf(w, "final audit: %s left until every lease has expired\n", ceilSecond(left))
			}
		}
	}
}

// ceilSecond rounds d up to a whole second, so a countdown ends at 1s.
func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// progressClock is the progress line's time: elapsed of the duration while
// the players play; then the duration, and how long the players have been
// ending their streams.
func progressClock(elapsed, duration time.Duration) string {
	if elapsed < duration {
		return fmt.Sprintf("[%5.0fs/%.0fs]", elapsed.Seconds(), duration.Seconds())
	}
	return fmt.Sprintf("[%5.0fs/%.0fs, ending streams +%.0fs]", duration.Seconds(), duration.Seconds(), (elapsed - duration).Seconds())
}

func (r *run) progressLoop(ctx context.Context, start time.Time) {
	if r.cfg.Progress == nil {
		return
	}
	every(ctx, r.cfg.ProgressEvery, func() {
		count, errs := r.stats.counts()
		var nerr int64
		for _, e := range errs {
			nerr += e
		}
		r.auditMu.Lock()
		a := r.audit
		r.auditMu.Unlock()
		fmt.Fprintf(r.cfg.Progress,
			"%s playing %d crashed %d | canStream %d (refused %d) heartbeat %d endStream %d | non-200 %d | heartbeat p99 %.1fms | audit %d moments, %d violations\n",
			progressClock(time.Since(start), r.cfg.Duration), r.playing.Load(), r.crashedNow.Load(),
			count["canStream"], r.refused.Load(), count["heartbeat"], count["endStream"], nerr,
			ms(r.stats.recentP99("heartbeat", 2000)), a.Moments, a.OverLimit+a.Lost+a.Invented)
	})
}

func (r *run) fetchCapacity(ctx context.Context) (capacity.Snapshot, error) {
	// Read the counters even when the run was interrupted: a partial
	// report is still a report.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.CapacityURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: capacity counters: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: capacity counters: %s answered %d (start the server with DEBUG_CAPACITY=true)", r.cfg.CapacityURL, resp.StatusCode)
	}
	var s capacity.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("loadgen: capacity counters: %w", err)
	}
	return s, nil
}

func intOf(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
