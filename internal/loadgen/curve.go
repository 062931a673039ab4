package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamlimit/streamlimit/admission"
)

// Curve drives offered load upward in steps against a server on this
// machine and measures, per step, what came back: goodput, latency, 503s
// (overloaded apart) and, for canStream, the leases standing behind failed
// answers (read from the store after the step). It backs cmd/loadcurve;
// docs/BENCHMARKS.md shows its curves.
//
// Three kinds of step:
//
//   - Burst(n): n canStream calls on n distinct fresh uids, all at the
//     same instant (no contention at all: pure load), over n connections
//     opened beforehand (warm).
//   - Hot(a, r): r simultaneous canStream calls on each of a accounts.
//   - Heartbeats(rate): heartbeats on leases granted beforehand, offered
//     open-loop at rate per second for a while (arrivals do not wait for
//     answers, as an audience does not). Each sends back the renewal token
//     of its lease's last answer, as players do (Tokens), so most are
//     answered without the store; Writes counts those that renewed.
type Curve struct {
	// Base is the API base URL (loopback only).
	Base string
	// Reader reads accounts for the count of leases behind failed answers
	// (TableReader: the table itself). Nil: not counted.
	Reader Reader
	// Client is the HTTP client (default: one for many connections).
	Client *http.Client
	// RequestTimeout bounds one request (default 10 s).
	RequestTimeout time.Duration
	// Limit is the server's MAX_STREAMS (default 3).
	Limit int
	// Progress, when set, receives a line per step.
	Progress io.Writer
	// Settle is how long the writes of a burst get to land before the
	// store is read for leases behind failed answers, and the pause
	// between steps (default 2 s).
	Settle time.Duration
	// NoTokens makes heartbeats send no renewal token, so that every one
	// is a store write (the store-bound worst case; players send theirs).
	NoTokens bool
	// AdmissionURL, when set, is the server's GET /debug/admission
	// (cmd/local with DEBUG_ADMISSION=true): each step then records what
	// the admission limiter did during it (Step.Admission). A server that
	// does not serve it (admission off) leaves the steps without.
	AdmissionURL string

	prefix string
	seq    atomic.Int64
	warmed int         // connections opened by warm
	held   []heldLease // the leases of the heartbeat steps, kept for the next
}

// Step is one measured step.
type Step struct {
	// Kind is burst, hot or heartbeat.
	Kind string `json:"kind"`
	// Offered is the burst size (burst), the racers in all (hot) or the
	// heartbeats offered per second (heartbeat).
	Offered float64 `json:"offered"`
	// Round numbers repeated steps (bursts one second apart).
	Round    int `json:"round"`
	Requests int `json:"requests"`
	// OK counts 200 answers; Granted and Refused split canStream's.
	OK      int `json:"ok"`
	Granted int `json:"granted"`
	Refused int `json:"refused"`
	// Overloaded counts 503 overloaded; Other503 every other 503;
	// Failed timeouts, connection errors and any other status.
	Overloaded int `json:"overloaded"`
	Other503   int `json:"other503"`
	Failed     int `json:"failed"`
	// Goodput is 200 answers per second (heartbeat) or grants (burst, hot).
	Goodput float64 `json:"goodput"`
	// Writes counts the heartbeats answered with a new renewal token: those
	// that renewed with a store write rather than from their token.
	Writes int `json:"writes,omitempty"`
	// P50ms and P99ms are over every answer; Max503ms is the slowest 503.
	P50ms    float64 `json:"p50ms"`
	P99ms    float64 `json:"p99ms"`
	MaxMs    float64 `json:"maxMs"`
	Max503ms float64 `json:"max503ms"`
	// BehindFailed counts live leases, read from the store after the step,
	// of canStream calls that did not answer a grant (-1: not read).
	BehindFailed int `json:"behindFailed"`
	// MinGranted and MaxGranted are the fewest and most grants one
	// account got (hot).
	MinGranted int `json:"minGranted,omitempty"`
	MaxGranted int `json:"maxGranted,omitempty"`
	// ElapsedMs is how long the step took.
	ElapsedMs float64 `json:"elapsedMs"`
	// Admission is what the server's admission limiter did during the
	// step (Curve.AdmissionURL; nil when not read).
	Admission *AdmissionStep `json:"admission,omitempty"`
}

// AdmissionStep is the server's admission limiter over one step: the
// requests it admitted (of which queued first), refused at arrival, and
// refused after queueing; and, at the step's end, its limit and the rate
// it estimates waits from.
type AdmissionStep struct {
	Admitted int64   `json:"admitted"`
	Queued   int64   `json:"queued"`
	Refused  int64   `json:"refused"`
	TimedOut int64   `json:"timedOut"`
	Limit    int     `json:"limit"`
	Rate     float64 `json:"rate"`
}

// admissionState reads the server's admission state (nil: not asked for,
// or not served).
func (c *Curve) admissionState(ctx context.Context) *admission.State {
	if c.AdmissionURL == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.AdmissionURL, nil)
	if err != nil {
		return nil
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st admission.State
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	return &st
}

// admissionSince is what the limiter did since before (nil when either
// reading failed).
func (c *Curve) admissionSince(ctx context.Context, before *admission.State) *AdmissionStep {
	if before == nil {
		return nil
	}
	after := c.admissionState(ctx)
	if after == nil {
		return nil
	}
	return &AdmissionStep{
		Admitted: after.Admitted - before.Admitted, Queued: after.Queued - before.Queued,
		Refused: after.Refused - before.Refused, TimedOut: after.TimedOut - before.TimedOut,
		Limit: after.Limit, Rate: after.Rate,
	}
}

func (c *Curve) defaults() error {
	if err := CheckLoopback(c.Base); err != nil {
		return err
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{MaxIdleConns: 8192, MaxIdleConnsPerHost: 8192, IdleConnTimeout: 90 * time.Second}}
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Limit <= 0 {
		c.Limit = 3
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.prefix == "" {
		c.prefix = fmt.Sprintf("lc-%06x-", rand.Uint32()&0xffffff)
	}
	return nil
}

// shot is one request's result.
type shot struct {
	uid, device string
	status      int
	code        string
	granted     bool
	leaseID     string
	token       string // the renewal token answered
	took        time.Duration
}

// send sends one request and decodes the fields the curve needs.
func (c *Curve) send(ctx context.Context, method, path string, body []byte) shot {
	ctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return shot{took: time.Since(start)}
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return shot{took: time.Since(start)}
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	s := shot{status: resp.StatusCode, took: time.Since(start)}
	var b struct {
		Error        string `json:"error"`
		CanStream    bool   `json:"canStream"`
		LeaseID      string `json:"leaseId"`
		RenewalToken string `json:"renewalToken"`
	}
	_ = json.Unmarshal(data, &b)
	s.code, s.granted, s.leaseID, s.token = b.Error, b.CanStream, b.LeaseID, b.RenewalToken
	return s
}

// canStream asks for a lease for uid from device, with a device secret.
func (c *Curve) canStream(ctx context.Context, uid, device string) shot {
	body, _ := json.Marshal(map[string]string{"deviceId": device, "deviceSecret": fmt.Sprintf("s%016x%016x", rand.Uint64(), rand.Uint64())})
	s := c.send(ctx, http.MethodPost, "/canStream/"+url.PathEscape(uid), body)
	s.uid, s.device = uid, device
	return s
}

// all fires f for every i of n at the same instant and collects the shots.
func all(n int, f func(i int) shot) []shot {
	out := make([]shot, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// warm opens n connections to the server before a step of n simultaneous
// calls, with as many simultaneous requests the server answers without the
// store (404): on this one machine the tool's own TCP handshakes would
// otherwise compete with the server for the CPU in the step, where in
// production each player's handshake runs on its own device.
func (c *Curve) warm(ctx context.Context, n int) {
	if n <= c.warmed {
		return
	}
	all(n, func(int) shot { return c.send(ctx, http.MethodGet, "/loadcurve-warm-connection", nil) })
	c.warmed = n
}

// Hot is one step of racers simultaneous canStream calls on each of
// accounts fresh uids, each racer its own device.
func (c *Curve) Hot(ctx context.Context, accounts, racers int) (Step, error) {
	if err := c.defaults(); err != nil {
		return Step{}, err
	}
	c.warm(ctx, accounts*racers)
	batch := c.seq.Add(1)
	t0 := time.Now()
	shots := all(accounts*racers, func(i int) shot {
		return c.canStream(ctx, fmt.Sprintf("%sh%d-%d", c.prefix, batch, i%accounts), "r"+strconv.Itoa(i))
	})
	st := summarize("hot", float64(accounts*racers), 0, shots, time.Since(t0))
	st.Goodput = float64(st.Granted)
	per := map[string]int{}
	for _, s := range shots {
		if s.granted {
			per[s.uid]++
		}
	}
	st.MinGranted, st.MaxGranted = accounts*racers, 0
	for a := range accounts {
		g := per[fmt.Sprintf("%sh%d-%d", c.prefix, batch, a)]
		st.MinGranted, st.MaxGranted = min(st.MinGranted, g), max(st.MaxGranted, g)
	}
	return st, nil
}

// summarize counts shots into a step (BehindFailed not yet read: -1).
func summarize(kind string, offered float64, round int, shots []shot, elapsed time.Duration) Step {
	st := Step{Kind: kind, Offered: offered, Round: round, Requests: len(shots), BehindFailed: -1, ElapsedMs: ms(elapsed)}
	var lat, lat503 []time.Duration
	for _, s := range shots {
		lat = append(lat, s.took)
		switch {
		case s.status == http.StatusOK:
			st.OK++
			switch {
			case kind == "heartbeat":
			case s.granted:
				st.Granted++
			default:
				st.Refused++
			}
		case s.status == http.StatusServiceUnavailable:
			lat503 = append(lat503, s.took)
			if s.code == "overloaded" {
				st.Overloaded++
			} else {
				st.Other503++
			}
		default:
			st.Failed++
		}
	}
	slices.Sort(lat)
	st.P50ms, st.P99ms = ms(percentileSorted(lat, .5)), ms(percentileSorted(lat, .99))
	if len(lat) > 0 {
		st.MaxMs = ms(lat[len(lat)-1])
	}
	if len(lat503) > 0 {
		st.Max503ms = ms(slices.Max(lat503))
	}
	return st
}

// BehindFailed reads, after settle, every account whose canStream calls
// in shots did not all answer a grant and counts its live leases beyond
// the ones granted: leases behind failed answers.
func (c *Curve) behindFailed(ctx context.Context, shots []shot, settle time.Duration) int {
	if c.Reader == nil {
		return -1
	}
	sleep(ctx, settle)
	granted := map[string]int{}
	failed := map[string]bool{}
	for _, s := range shots {
		if s.granted {
			granted[s.uid]++
		} else if s.status != http.StatusOK {
			failed[s.uid] = true
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	n := 0
	now := time.Now()
	for uid := range failed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v, err := c.Reader.Read(ctx, uid)
			if err != nil {
				return
			}
			live := 0
			for _, l := range v.Leases {
				if !l.Revoked && l.ExpiresAt.After(now) {
					live++
				}
			}
			mu.Lock()
			n += max(0, live-granted[uid])
			mu.Unlock()
		})
	}
	wg.Wait()
	return n
}

// Bursts runs, for each size, rounds bursts gap apart, then counts the
// leases behind failed answers of each round.
func (c *Curve) Bursts(ctx context.Context, sizes []int, rounds int, gap time.Duration) ([]Step, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	var out []Step
	for _, n := range sizes {
		var shotsOf [][]shot
		var steps []Step
		for r := range rounds {
			if r > 0 {
				sleep(ctx, gap)
			}
			c.warm(ctx, n)
			batch := c.seq.Add(1)
			adm := c.admissionState(ctx)
			t0 := time.Now()
			shots := all(n, func(i int) shot {
				return c.canStream(ctx, fmt.Sprintf("%sb%d-%d", c.prefix, batch, i), "d")
			})
			st := summarize("burst", float64(n), r+1, shots, time.Since(t0))
			st.Goodput = float64(st.Granted)
			st.Admission = c.admissionSince(ctx, adm)
			shotsOf, steps = append(shotsOf, shots), append(steps, st)
		}
		for i := range steps {
			steps[i].BehindFailed = c.behindFailed(ctx, shotsOf[i], c.Settle)
			c.progress(steps[i])
		}
		out = append(out, steps...)
		sleep(ctx, c.Settle) // let the server's limit settle between sizes
	}
	return out, ctx.Err()
}

// HotSteps runs one Hot step per (accounts, racers) pair, rounds times.
func (c *Curve) HotSteps(ctx context.Context, pairs [][2]int, rounds int) ([]Step, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	var out []Step
	for _, p := range pairs {
		for r := range rounds {
			adm := c.admissionState(ctx)
			st, err := c.Hot(ctx, p[0], p[1])
			if err != nil {
				return out, err
			}
			st.Admission = c.admissionSince(ctx, adm)
			st.Round = r + 1
			c.progress(st)
			out = append(out, st)
			sleep(ctx, c.Settle/2)
		}
	}
	return out, ctx.Err()
}

// heldLease is a lease the heartbeat steps renew, and the renewal token of
// its last answer.
type heldLease struct {
	uid, id string
	token   *atomic.Pointer[string]
}

// tokenOf is the token a heartbeat of l sends ("" for none).
func (c *Curve) tokenOf(l heldLease) string {
	if c.NoTokens {
		return ""
	}
	if t := l.token.Load(); t != nil {
		return *t
	}
	return ""
}

// Leases grants n leases (one per fresh uid) with at most 16 requests in
// flight, for the heartbeat steps; it retries 503s.
func (c *Curve) leases(ctx context.Context, n int) ([]heldLease, error) {
	out := make([]heldLease, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var failed atomic.Int64
	var last atomic.Value
	batch := c.seq.Add(1) // fresh uids for each call
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			uid := fmt.Sprintf("%shb%d-%d", c.prefix, batch, i)
			for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
				s := c.canStream(ctx, uid, "d")
				if s.granted {
					out[i] = heldLease{uid: uid, id: s.leaseID, token: &atomic.Pointer[string]{}}
					out[i].token.Store(&s.token)
					return
				}
				last.Store(fmt.Sprintf("%d %s", s.status, s.code))
				sleep(ctx, 200*time.Millisecond)
			}
			failed.Add(1)
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("loadgen: %d of %d leases for the heartbeat steps were not granted (last answer: %v)", f, n, last.Load())
	}
	return out, ctx.Err()
}

// maxOutstanding bounds the heartbeats in flight at once; arrivals beyond
// it (or, with tokens, when every lease has a heartbeat in flight) are
// counted as failed without being sent (the client's own limit).
const maxOutstanding = 4000

// Knee is the heartbeat step where goodput stops rising: the lowest
// offered rate whose goodput is within 5 % of the best step's (the
// highest offered rate on a noisy plateau would put "twice the knee" far
// beyond it). Zero Step when there is none.
func Knee(steps []Step) Step {
	best := 0.0
	for _, s := range steps {
		best = max(best, s.Goodput)
	}
	knee := Step{}
	for _, s := range steps {
		if best > 0 && s.Goodput >= 0.95*best && (knee.Offered == 0 || s.Offered < knee.Offered) {
			knee = s
		}
	}
	return knee
}

// Heartbeats grants leases leases (or reuses those of the previous call),
// then offers heartbeats open-loop at each rate for each step's duration.
func (c *Curve) Heartbeats(ctx context.Context, leases int, rates []float64, each time.Duration) ([]Step, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	held := c.held
	if len(held) < leases {
		var err error
		if held, err = c.leases(ctx, leases); err != nil {
			return nil, err
		}
		c.held = held
	}
	held = held[:leases]
	var out []Step
	for _, rate := range rates {
		adm := c.admissionState(ctx)
		st := c.heartbeatStep(ctx, held, rate, each)
		st.Admission = c.admissionSince(ctx, adm)
		c.progress(st)
		out = append(out, st)
		sleep(ctx, c.Settle) // drain and let the server's limit settle
	}
	return out, ctx.Err()
}

func (c *Curve) heartbeatStep(ctx context.Context, held []heldLease, rate float64, d time.Duration) Step {
	interval := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var shots []shot
	var wg sync.WaitGroup
	var outstanding, writes atomic.Int64
	dropped := 0
	// With tokens, as players do: one heartbeat of a lease at a time,
	// sent with the token of the answer before, and none for a second
	// (Retry-After) after a 503 (idle holds the leases with none in
	// flight, in the order they came back).
	idle := make(chan int, len(held))
	for i := range held {
		idle <- i
	}
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		if outstanding.Load() >= maxOutstanding {
			dropped++
			continue
		}
		k := i % len(held)
		if !c.NoTokens {
			select {
			case k = <-idle:
			default: // every lease has a heartbeat in flight
				dropped++
				continue
			}
		}
		l := held[k]
		outstanding.Add(1)
		wg.Go(func() {
			defer outstanding.Add(-1)
			var retryAfter time.Duration
			if !c.NoTokens {
				defer func() {
					if retryAfter > 0 {
						time.AfterFunc(retryAfter, func() { idle <- k })
						return
					}
					idle <- k
				}()
			}
			path := "/heartbeat/" + url.PathEscape(l.uid) + "/" + l.id
			sent := c.tokenOf(l)
			if sent != "" {
				path += "?renewalToken=" + url.QueryEscape(sent)
			}
			s := c.send(ctx, http.MethodPost, path, nil)
			if s.status == http.StatusOK && s.token != sent {
				writes.Add(1)
				l.token.Store(&s.token)
			}
			if s.status == http.StatusServiceUnavailable {
				retryAfter = time.Second
			}
			mu.Lock()
			shots = append(shots, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	st := summarize("heartbeat", rate, 0, shots, time.Since(start))
	st.Requests += dropped
	st.Failed += dropped
	st.Goodput = float64(st.OK) / d.Seconds()
	st.Writes = int(writes.Load())
	return st
}

func (c *Curve) progress(st Step) {
	if c.Progress == nil {
		return
	}
	adm := ""
	if a := st.Admission; a != nil {
		adm = fmt.Sprintf(" | admission: %d admitted (%d queued), %d refused, %d gave up; limit %d, rate %.0f/s", a.Admitted, a.Queued, a.Refused, a.TimedOut, a.Limit, a.Rate)
	}
	fmt.Fprintf(c.Progress, "%-9s offered %6.0f round %d: ok %5d (granted %4d, writes %4d) 503 overloaded %5d other %4d failed %4d | goodput %7.1f | p50 %7.1f p99 %7.1f max503 %6.1f ms | behind failed %d%s\n",
		st.Kind, st.Offered, st.Round, st.OK, st.Granted, st.Writes, st.Overloaded, st.Other503, st.Failed, st.Goodput, st.P50ms, st.P99ms, st.Max503ms, st.BehindFailed, adm)
}

// CurveReport is one run of cmd/loadcurve: its label and steps.
type CurveReport struct {
	Label   string `json:"label"`
	Started string `json:"started"`
	Steps   []Step `json:"steps"`
	// Knee is the heartbeat rate where goodput stops rising (see Knee);
	// Overdrive the step offered at a multiple of it (zero when not run).
	Knee      float64 `json:"knee,omitempty"`
	Overdrive *Step   `json:"overdrive,omitempty"`
	// NoTokens says the heartbeats sent no renewal token (Curve.NoTokens).
	NoTokens bool `json:"noTokens,omitempty"`
}

// WriteJSON writes the report to path.
func (r *CurveReport) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ReadCurveReport reads a report WriteJSON wrote.
func ReadCurveReport(path string) (*CurveReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r CurveReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Steps) == 0 {
		return nil, errors.New(path + ": no steps")
	}
	return &r, nil
}
