package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// oneSlot is an admission limiter of exactly one request in flight that
// refuses within milliseconds whatever would have to wait (a queued request
// gives up with Target = all but 10 ms of the server's 1.5 s budget left):
// holding its slot (storeBusy) makes every admitted route answer 503
// overloaded.
func oneSlot(t *testing.T) *admission.Limiter {
	t.Helper()
	lim, err := admission.New(admission.Config{
		Budget: 1500 * time.Millisecond, Target: 1490 * time.Millisecond, MaxWait: time.Millisecond,
		InitialLimit: 1, MinLimit: 1, MaxLimit: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

// storeBusy answers c twice more: with the store throttling storeMethod
// (503 store_throttled), and with the server's one admission slot taken
// (503 overloaded, from an untouched store), except /healthz, which is
// never refused.
func (h *harness) storeBusy(storeMethod string, c call) {
	h.t.Helper()
	h.store.inject(storeMethod, lease.ErrThrottled)
	c.status, c.code = 503, "store_throttled"
	h.do(c)
	h.store.inject("", nil)
	if c.path == "/healthz" {
		return
	}
	h.store.inject(storeMethod, errors.New("overloaded: the store must not be called"))
	ticket, err := h.lim.Acquire(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	c.code = "overloaded"
	h.do(c)
	ticket.Done(false)
	h.store.inject("", nil)
}

// A request refused by admission is answered at once, 503 overloaded with
// Retry-After, and never reaches the store: with the store blocked on one
// held write, every other request is refused without a store call, and no
// lease stands behind any overloaded answer.
func TestOverloadedRequestsNeverReachTheStore(t *testing.T) {
	t.Parallel()
	gate := leasetest.NewGate(memstore.New())
	store := leasetest.NewCounting(gate)
	svc := leasetest.NewService(t, store, leasetest.NewClock())
	lim, err := admission.New(admission.Config{
		Budget: 5 * time.Second, Target: time.Second, MaxWait: time.Millisecond,
		InitialLimit: 1, MinLimit: 1, MaxLimit: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev", StoreTimeout: 5 * time.Second, Admission: lim}))
	defer srv.Close()

	gate.Hold(leasetest.OpCommit)
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/dev/canStream/hot?deviceId=first", "", nil)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	held := gate.MustHold(t, leasetest.OpCommit)
	loads, commits, _, _ := store.Counts()

	var wg sync.WaitGroup
	type answer struct {
		status     int
		code       string
		retryAfter string
	}
	answers := make([]answer, 20)
	for i := range answers {
		wg.Go(func() {
			resp, err := http.Post(srv.URL+"/dev/canStream/u"+string(rune('a'+i))+"?deviceId=d", "", nil)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			answers[i] = answer{resp.StatusCode, body.Error, resp.Header.Get("Retry-After")}
		})
	}
	wg.Wait()
	for i, a := range answers {
		if a != (answer{503, "overloaded", "1"}) {
			t.Errorf("request %d: %+v; want 503 overloaded, Retry-After 1", i, a)
		}
	}
	if l, c, _, _ := store.Counts(); l != loads || c != commits {
		t.Fatalf("refused requests made %d loads and %d commits; want none", l-loads, c-commits)
	}
	held.Apply(1)
	if s := <-first; s != http.StatusOK {
		t.Fatalf("the admitted request: %d", s)
	}
	// No lease behind an overloaded answer: only the admitted one holds.
	for i := range answers {
		l, err := svc.List(context.Background(), "u"+string(rune('a'+i)))
		if err != nil || l.StreamCount != 0 {
			t.Fatalf("account of refused request %d: %+v, %v; want no lease", i, l, err)
		}
	}
	if st := lim.Stats(); st.Refused != int64(len(answers)) || st.Admitted != 1 {
		t.Fatalf("limiter: %+v", st)
	}
}

// Admission is asked before a request's first store operation, not before
// the request: with the server's only slot taken, a heartbeat that brings
// back its renewal token (answered without the store) is still answered
// 200, while one without a token (a renewal write) is refused 503
// overloaded without touching the store. A request never admitted takes
// no slot.
func TestTokenHeartbeatNeedsNoAdmission(t *testing.T) {
	t.Parallel()
	counted := leasetest.NewCounter(memstore.New())
	store := &faultStore{Store: counted}
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock)
	h := newServed(t, store, svc, oneSlot(t))

	got := h.do(call{method: "POST", path: "/dev/canStream/alice", status: 200})
	id, token := str(got["leaseId"]), str(got["renewalToken"])
	clock.Advance(svc.HeartbeatInterval() / 3)
	ticket, err := h.lim.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ticket.Done(false)
	before := counted.Calls()
	h.do(call{method: "POST", path: "/dev/heartbeat/alice/" + id + "?renewalToken=" + url.QueryEscape(token), status: 200})
	h.do(call{method: "POST", path: "/dev/heartbeat/alice/" + id, status: 503, code: "overloaded"})
	if n := counted.Calls() - before; n != 0 {
		t.Fatalf("%d store calls; want none", n)
	}
	if st := h.lim.Stats(); st.Admitted != 2 || st.Refused+st.TimedOut != 1 || st.InFlight != 1 {
		t.Fatalf("limiter: %+v; want the grant and the held slot admitted, the tokenless heartbeat refused", st)
	}
}
