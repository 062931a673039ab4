package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/loadgen"
	"github.com/streamlimit/streamlimit/lease"
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
