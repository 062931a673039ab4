package loadgen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/loadgen"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// lossy commits every third grant and then reports the store unavailable,
// as a write whose answer was lost: a lease behind a failed answer.
type lossy struct {
	lease.Store
	n atomic.Int64
}

func (l *lossy) Commit(ctx context.Context, uid string, c lease.Change) error {
	if err := l.Store.Commit(ctx, uid, c); err != nil {
		return err
	}
	if l.n.Add(1)%3 == 0 {
		return fmt.Errorf("%w: answer lost", lease.ErrUnavailable)
	}
	return nil
}

// The curve counts what came back per step, and its audit counts the leases
// standing behind failed answers (here: every third grant's).
func TestCurveCountsLeasesBehindFailedAnswers(t *testing.T) {
	t.Parallel()
	svc, err := lease.New(&lossy{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev"}))
	defer srv.Close()
	c := &loadgen.Curve{Base: srv.URL + "/dev", Settle: 10 * time.Millisecond}
	c.Reader = loadgen.StreamsReader{Base: c.Base, Client: srv.Client()}
	steps, err := c.Bursts(t.Context(), []int{30}, 2, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if st.Requests != 30 || st.Granted != 20 || st.Other503 != 10 || st.BehindFailed != 10 || st.Goodput != 20 {
			t.Fatalf("burst round %d: %+v; want 20 granted, 10 × 503, 10 leases behind them", st.Round, st)
		}
	}

	hot, err := c.HotSteps(t.Context(), [][2]int{{2, 10}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h := hot[0]; h.Requests != 20 || h.MinGranted+h.MaxGranted == 0 || h.Granted+h.Other503+h.Refused != 20 {
		t.Fatalf("hot: %+v", h)
	}

	// One heartbeat per lease in the second: with tokens a lease has at
	// most one heartbeat in flight, so with more heartbeats than leases a
	// slow answer (a loaded machine: p99 260 ms) left every lease busy and
	// the due heartbeat was counted failed without being sent.
	hb, err := c.Heartbeats(t.Context(), 4, []float64{4}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Open loop: 4 per second for one second is 4 heartbeats sent,
	// whatever the answers.
	// They send back their leases' renewal tokens, as players do: with
	// the whole lease TTL left, every one is answered from its token.
	if h := hb[0]; h.Requests != 4 || h.OK != 4 || h.Goodput != 4 || h.Writes != 0 {
		t.Fatalf("heartbeats: %+v; want 4 sent and answered, none written", h)
	}
	c.NoTokens = true
	written, err := c.Heartbeats(t.Context(), 4, []float64{50}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if h := written[0]; h.OK != 50 || h.Writes != 50 {
		t.Fatalf("heartbeats without tokens: %+v; want 50 answered, each a write", h)
	}

	rep := &loadgen.CurveReport{Label: "test", Steps: append(steps, hb...), Overdrive: &written[0], Knee: 25}
	writing := &loadgen.CurveReport{Label: "no tokens", Steps: written, NoTokens: true}
	path := t.TempDir() + "/r.json"
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := loadgen.ReadCurveReport(path)
	if err != nil || len(back.Steps) != 3 {
		t.Fatalf("read back: %+v, %v", back, err)
	}
	files, err := loadgen.PlotCurves([]*loadgen.CurveReport{back, writing}, t.TempDir())
	if err != nil || len(files) != 4 {
		t.Fatalf("plots: %v, %v; want 4 files", files, err)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() < 1000 || !strings.HasSuffix(f, ".png") {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
}

// The knee is where goodput stops rising, not the highest rate on a noisy
// plateau.
func TestKnee(t *testing.T) {
	t.Parallel()
	steps := []loadgen.Step{{Offered: 200, Goodput: 200}, {Offered: 400, Goodput: 400}, {Offered: 800, Goodput: 760},
		{Offered: 1200, Goodput: 790}, {Offered: 1600, Goodput: 800}}
	if k := loadgen.Knee(steps); k.Offered != 800 {
		t.Fatalf("knee at %v; want 800 (within 5 %% of the best, 800/s)", k.Offered)
	}
	if k := loadgen.Knee(nil); k.Offered != 0 {
		t.Fatalf("knee of nothing: %+v", k)
	}
}

// With AdmissionURL each step records what the server's admission limiter
// did during it: here a limiter with one slot and no queue, so a burst is
// partly refused; the counts match the answers. A server that does not
// serve the state leaves the steps without.
func TestCurveRecordsAdmission(t *testing.T) {
	t.Parallel()
	svc, err := lease.New(memstore.New())
	if err != nil {
		t.Fatal(err)
	}
	// MaxWait 1 ns: no estimate fits it (the rate is at most 10⁶ a second),
	// so nothing queues.
	lim, err := admission.New(admission.Config{Budget: time.Second, MaxWait: time.Nanosecond, InitialLimit: 1, MinLimit: 1, MaxLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /debug/admission", lim)
	mux.Handle("/", handlers.NewServer(svc, handlers.Config{Prefix: "/dev", Admission: lim}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &loadgen.Curve{Base: srv.URL + "/dev", Settle: 10 * time.Millisecond, AdmissionURL: srv.URL + "/debug/admission"}
	steps, err := c.Bursts(t.Context(), []int{30}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := steps[0]
	a := st.Admission
	if a == nil || a.Admitted+a.Refused+a.TimedOut != 30 || a.Admitted != int64(st.Granted+st.Refused) ||
		a.Refused+a.TimedOut != int64(st.Overloaded) || st.Overloaded == 0 || a.Limit != 1 {
		t.Fatalf("burst %+v, admission %+v; want the 30 calls counted as the limiter saw them", st, a)
	}

	c.AdmissionURL = srv.URL + "/dev/no-such-route"
	steps, err = c.Bursts(t.Context(), []int{5}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if steps[0].Admission != nil {
		t.Fatalf("admission %+v from a server that does not serve it", steps[0].Admission)
	}
}
