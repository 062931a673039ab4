package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/loadgen"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

func quickConfig(base string) loadgen.Config {
	return loadgen.Config{
		Base: base, Players: 24, UIDs: 6, Duration: 4 * time.Second, Ramp: 200 * time.Millisecond,
		SessionMin: 1500 * time.Millisecond, SessionMax: 3 * time.Second, PauseMax: 200 * time.Millisecond,
		CrashShare: 0.2, Interval: time.Second, TTL: 3 * time.Second, AuditEvery: 500 * time.Millisecond,
	}
}

// TestRunAgainstRealHandler runs the load and audit against the real API
// over the in-memory store: the audit must come out clean, crashes must
// have happened and been freed.
func TestRunAgainstRealHandler(t *testing.T) {
	t.Parallel()
	svc, err := lease.New(memstore.New(), lease.WithHeartbeatInterval(time.Second), lease.WithLeaseTTL(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev"}))
	defer srv.Close()
	rep, err := loadgen.Run(t.Context(), quickConfig(srv.URL+"/dev"))
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	rep.WriteText(&buf)
	if !rep.OK || rep.Granted == 0 || rep.Refused == 0 || rep.Crashed == 0 || rep.Ops["heartbeat"].Count == 0 {
		t.Fatalf("want a clean run with grants, refusals, crashes and heartbeats:\n%s", buf.String())
	}
	if rep.Audit.ProbeUIDs == 0 || rep.Audit.FinalUIDs != 6 || rep.Audit.StoreReads == 0 {
		t.Fatalf("audit did not run fully:\n%s", buf.String())
	}
}

// TestAuditCatchesOverGrant runs against a fake server that grants every
// canStream: the audit must report the bound broken and fail the run.
func TestAuditCatchesOverGrant(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		exp := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
		switch {
		case strings.Contains(r.URL.Path, "/canStream/"):
			_ = json.NewEncoder(w).Encode(map[string]any{"result": "success", "canStream": true, "maxStreams": 3,
				"leaseId": fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)), "expiresAt": exp, "heartbeatIntervalSeconds": 1})
		case strings.Contains(r.URL.Path, "/streams/"):
			_ = json.NewEncoder(w).Encode(map[string]any{"result": "success", "maxStreams": 3, "streams": []any{}})
		case strings.Contains(r.URL.Path, "/endStream/"):
			_ = json.NewEncoder(w).Encode(map[string]any{"result": "success", "removedStream": true})
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"result": "success", "expiresAt": exp})
		}
	}))
	defer srv.Close()
	cfg := quickConfig(srv.URL + "/dev")
	cfg.Duration, cfg.SkipFinal = 2*time.Second, true
	rep, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Audit.OverLimit == 0 {
		t.Fatalf("a server granting every request passed the audit: %+v", rep.Audit)
	}
	// Its store (/streams) shows none of the leases it granted: lost.
	if rep.Audit.Lost == 0 {
		t.Fatalf("leases missing from the store were not reported lost: %+v", rep.Audit)
	}
}

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://127.0.0.1:3000/dev", "http://localhost:3000", "http://[::1]:8080/x"} {
		if err := loadgen.CheckLoopback(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1/dev", "http://192.168.1.2:3000", "https://8.8.8.8/", "ftp://127.0.0.1/", "not a url"} {
		if err := loadgen.CheckLoopback(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if _, err := loadgen.Run(context.Background(), loadgen.Config{Base: "http://10.1.2.3/dev", Players: 1, Duration: time.Second}); err == nil {
		t.Error("Run accepted a non-loopback target")
	}
}

// syncWriter collects what the run's goroutines write.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// newServer serves the real API over the in-memory store.
func newServer(t *testing.T, interval, ttl time.Duration) string {
	t.Helper()
	svc, err := lease.New(memstore.New(), lease.WithHeartbeatInterval(interval), lease.WithLeaseTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev"}))
	t.Cleanup(srv.Close)
	return srv.URL + "/dev"
}

// TestProgressPhases: the progress line never counts past the duration
// (once the players end their streams it says so instead), and the final
// wait for every lease to expire counts down.
func TestProgressPhases(t *testing.T) {
	t.Parallel()
	var progress syncWriter
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		Base: newServer(t, time.Second, 3*time.Second), Players: 8, UIDs: 4, Duration: time.Second,
		Ramp: 100 * time.Millisecond, SessionMin: 10 * time.Second, TTL: 3 * time.Second,
		EndSpread: 2 * time.Second, AuditEvery: 500 * time.Millisecond,
		Progress: &progress, ProgressEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	if !rep.OK {
		t.Fatalf("run failed; progress:\n%s", out)
	}
	clock := regexp.MustCompile(`^\[\s*(\d+)s/(\d+)s`)
	countdown := regexp.MustCompile(`^final audit: (\d+)s left`)
	var ending int
	var left []int
	for _, line := range strings.Split(out, "\n") {
		if m := clock.FindStringSubmatch(line); m != nil {
			if n, _ := strconv.Atoi(m[1]); n > 1 {
				t.Errorf("progress counts past the 1s duration: %q", line)
			}
			if strings.Contains(line, "ending streams") {
				ending++
			}
		}
		if m := countdown.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			left = append(left, n)
		}
	}
	if ending == 0 {
		t.Errorf("no progress line says the players are ending their streams:\n%s", out)
	}
	if len(left) < 2 || left[0] <= left[len(left)-1] {
		t.Errorf("the final wait did not count down (seconds left: %v):\n%s", left, out)
	}
	for i := 1; i < len(left); i++ {
		if left[i] > left[i-1] {
			t.Errorf("the countdown went up: %v", left)
			break
		}
	}
}

// TestReportExplainsNoHeartbeat: a run shorter than the heartbeat interval
// sends no heartbeat, and the report says why instead of a bare zero.
func TestReportExplainsNoHeartbeat(t *testing.T) {
	t.Parallel()
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		Base: newServer(t, 2*time.Second, 6*time.Second), Players: 2, UIDs: 1, Duration: time.Second,
		Ramp: 50 * time.Millisecond, SessionMin: 10 * time.Second, TTL: 6 * time.Second,
		EndSpread: 100 * time.Millisecond, SkipFinal: true,
		Progress: io.Discard, ProgressEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	rep.WriteText(&buf)
	text := buf.String()
	if rep.Granted == 0 || rep.Ops["heartbeat"].Count != 0 {
		t.Fatalf("want grants and no heartbeat:\n%s", text)
	}
	const why = "no heartbeat: the run (1 s) was shorter than the heartbeat interval (2 s)"
	if !strings.Contains(text, why) {
		t.Errorf("the report does not say %q:\n%s", why, text)
	}
	if regexp.MustCompile(`(?m)^heartbeat\s+0\s`).MatchString(text) {
		t.Errorf("the report lists heartbeat figures for no heartbeat:\n%s", text)
	}
}

// TestPlayersSendRenewalTokens: players send back the renewal token of
// each answer, as the web client does, so a run measures what real
// players cost: with a TTL of six intervals most heartbeats are answered
// from their tokens and reach no store.
func TestPlayersSendRenewalTokens(t *testing.T) {
	t.Parallel()
	store := leasetest.NewCounter(memstore.New())
	svc, err := lease.New(store, lease.WithHeartbeatInterval(time.Second), lease.WithLeaseTTL(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev"}))
	defer srv.Close()
	cfg := quickConfig(srv.URL + "/dev")
	cfg.CrashShare, cfg.TTL = 0, 6*time.Second
	rep, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	beats := rep.Ops["heartbeat"].Count
	if !rep.OK || beats == 0 || store.Renews() >= int64(beats) {
		var buf strings.Builder
		rep.WriteText(&buf)
		t.Fatalf("%d heartbeats made %d renewals; want fewer (tokens sent back), in a clean run:\n%s", beats, store.Renews(), buf.String())
	}
	t.Logf("%d heartbeats, %d renewals", beats, store.Renews())
}
