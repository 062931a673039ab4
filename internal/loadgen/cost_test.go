package loadgen_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/cost"
	"github.com/streamlimit/streamlimit/internal/loadgen"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/memstore"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

// TestCostLine runs against the real API behind the capacity counters,
// with a stand-in for the server's log stream that grows by exactly 100
// bytes per counted request and this process as the server: the cost line
// must find 100 bytes per request, some CPU time, the run's own mix, and
// bill the HTTP API's requests but not the Function URL's.
func TestCostLine(t *testing.T) {
	t.Parallel()
	svc, err := lease.New(memstore.New(), lease.WithHeartbeatInterval(time.Second), lease.WithLeaseTTL(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The capacity counters are a sink of each request's record, as in
	// cmd/local with DEBUG_CAPACITY=true.
	m := capacity.New()
	api := handlers.NewServer(svc, handlers.Config{Prefix: "/dev", Observer: observe.New(observe.Config{Sinks: []observe.Sink{m}})})
	out, err := os.Create(filepath.Join(t.TempDir(), "server.err"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var mu sync.Mutex
	line := bytes.Repeat([]byte("x"), 99)
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		_, _ = out.Write(append(line, '\n'))
		mu.Unlock()
		api.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /debug/capacity", m)
	mux.Handle("/", logged)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg := quickConfig(srv.URL + "/dev")
	cfg.CapacityURL = srv.URL + "/debug/capacity"
	cfg.Cost = loadgen.CostConfig{ServerOutput: []string{out.Name()}, ServerPID: os.Getpid(), MemoryMB: 128}
	rep, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	rep.WriteText(&text)
	c := rep.Cost
	if c == nil {
		t.Fatalf("no cost line:\n%s", text.String())
	}
	if c.Measured.OutputBytes != 100 {
		t.Errorf("output %.2f bytes per request, want 100", c.Measured.OutputBytes)
	}
	if c.ServerPeakRSSMB <= 0 {
		t.Errorf("peak RSS %.1f MiB, want > 0", c.ServerPeakRSSMB)
	}
	if c.Measured.CPUMs <= 0 {
		t.Errorf("server CPU %.3f ms per request, want > 0", c.Measured.CPUMs)
	}
	hb := rep.Capacity["heartbeat"].Requests
	if got, want := c.Measured.RunMix[cost.Heartbeat], float64(hb)/rep.StreamHours; hb == 0 || got != want {
		t.Errorf("run mix: %.1f heartbeats per stream-hour, want %d / %.4f h = %.1f", got, hb, rep.StreamHours, want)
	}
	if c.Measured.Ops[cost.Heartbeat].LatencyMs != rep.Ops["heartbeat"].MeanMs || rep.Ops["heartbeat"].MeanMs <= 0 {
		t.Errorf("heartbeat latency %.3f ms, want the run's mean %.3f ms", c.Measured.Ops[cost.Heartbeat].LatencyMs, rep.Ops["heartbeat"].MeanMs)
	}
	if len(c.Bills) != 4 || c.Bills[0].Item("gateway").USD != c.Measured.RunMix.Requests() || c.Bills[1].Item("gateway").USD != 0 {
		t.Errorf("bills: %+v; want the run mix's requests × $1 behind the HTTP API and $0 behind the Function URL", c.Bills)
	}
	if hour := c.Bills[2].Item("gateway").USD; hour != 3602 { // 1 s heartbeats: 3600 + canStream + endStream
		t.Errorf("one-hour sessions at 1 s: gateway $%.2f, want $3602", hour)
	}
	for _, want := range []string{"cost per million stream-hours", "Function URL", "100 B per request", "container fleet", "crossover"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}
