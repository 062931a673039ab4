package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// TestHeartbeatRenewalToken: the renewalToken query parameter reaches the
// lease service in both forms of heartbeat. A heartbeat that brings back
// its lease's token while the lease has ample time left makes no store
// call; one with a tampered token, or none, renews with one; every answer
// follows the spec (renewalToken, no streamCount).
func TestHeartbeatRenewalToken(t *testing.T) {
	t.Parallel()
	counted := leasetest.NewCounter(memstore.New())
	store := &faultStore{Store: counted}
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, store, clock)
	h := serve(t, store, svc)

	got := h.do(call{method: "POST", path: "/dev/canStream/alice", status: 200})
	id, token := str(got["leaseId"]), str(got["renewalToken"])
	if token == "" {
		t.Fatalf("canStream: %v; want a renewalToken", got)
	}
	path := "/dev/heartbeat/alice/" + id
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		clock.Advance(svc.HeartbeatInterval() / 3) // ample time left throughout
		before := counted.Calls()
		hb := h.do(call{method: m, path: path + "?renewalToken=" + url.QueryEscape(token), status: 200})
		if counted.Calls() != before || hb["renewalToken"] != token || hb["expiresAt"] != got["expiresAt"] {
			t.Fatalf("%s heartbeat with its token: %v after %d store calls; want answered from the token, no call", m, hb, counted.Calls()-before)
		}
		for _, q := range []string{"", "?renewalToken=", "?renewalToken=" + url.QueryEscape(token[:len(token)-2]+"AA"), "?renewalToken=x&renewalToken=" + token} {
			before := counted.Calls()
			hb := h.do(call{method: m, path: path + q, status: 200})
			if counted.Calls() != before+1 || hb["renewalToken"] == "" {
				t.Fatalf("%s heartbeat%s: %v after %d store calls; want one renewal", m, q, hb, counted.Calls()-before)
			}
		}
	}
}
