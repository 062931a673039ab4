package handlers_test

import (
	"errors"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// TestFailOpenAnswers checks the outage policy's answers against the spec:
// fail-closed is covered by TestOpenAPIWalk (503 store_unavailable); with
// fail-open, canStream on a down store is a 200 grant flagged degraded,
// and bad input is still refused.
func TestFailOpenAnswers(t *testing.T) {
	t.Parallel()
	store := &faultStore{Store: memstore.New()}
	h := serve(t, store, leasetest.NewService(t, store, leasetest.NewClock(), lease.WithFailOpen(45*time.Second)))

	down := errors.Join(lease.ErrUnavailable, errors.New("injected outage"))
	store.inject("Load", down)
	got := h.do(call{method: "POST", path: "/dev/canStream/alice?deviceId=tv", status: 200})
	if got["canStream"] != true || got["degraded"] != true || !lease.ValidLeaseID(str(got["leaseId"])) {
		t.Fatalf("canStream on a down store with fail-open: %v; want a degraded grant", got)
	}
	exp, err := time.Parse(time.RFC3339, str(got["expiresAt"]))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d > 47*time.Second+time.Hour || d < 40*time.Second+time.Hour-time.Minute {
		t.Errorf("degraded lease expires in %v, want about 45 s past the test clock", d-time.Hour)
	}
	h.do(call{method: "POST", path: "/dev/canStream/a%23b", status: 400, code: "invalid_uid", specRejects: true})

	store.inject("", nil)
	got = h.do(call{method: "POST", path: "/dev/canStream/alice?deviceId=tv", status: 200})
	if _, ok := got["degraded"]; ok || got["canStream"] != true {
		t.Fatalf("canStream with the store back: %v; want a normal grant without degraded", got)
	}
	h.do(call{method: "POST", path: "/dev/heartbeat/alice/" + str(got["leaseId"]), status: 200})
}
