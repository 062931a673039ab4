package smoke_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/lease"
)

const (
	repoRoot = "../.."
	token    = "smoke-test-token"
)

// fault falsifies one answer: the n-th (from 1) request whose "METHOD path"
// matches route gets status (when not 0) and its body with old replaced by
// new.
type fault struct {
	route    *regexp.Regexp
	n        int
	status   int
	old, new string
}

// stack is the real HTTP API over the in-memory store behind a stub that
// answers 401 without the token, records every request and applies a fault.
type stack struct {
	svc  *lease.Service
	base string

	mu       sync.Mutex
	requests []string // "METHOD path?query"
	matched  int
}

func start(t *testing.T, f *fault) *stack {
	t.Helper()
	env := map[string]string{"STORE": "memory", "METRICS": "off", "MAX_STREAMS": "3"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc, _, err := stores.Service(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The HTTP API as the binaries serve it, without access checks (the
	// stub in front answers 401 without the token), tracing or metrics.
	h := handlers.NewServer(svc, handlers.ConfigFrom(cfg))
	s := &stack{svc: svc}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		hit := false
		if f != nil && f.route.MatchString(r.Method+" "+r.URL.Path) {
			s.matched++
			hit = s.matched == f.n
		}
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"result":"error","error":"unauthorized","message":"A bearer token is required."}`)
			return
		}
		if !hit {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		status := rec.Code
		if f.status != 0 {
			status = f.status
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write(bytes.ReplaceAll(rec.Body.Bytes(), []byte(f.old), []byte(f.new)))
	}))
	t.Cleanup(srv.Close)
	s.base = srv.URL + "/dev"
	return s
}

// requestsMatching returns the recorded requests that contain sub.
func (s *stack) requestsMatching(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		if strings.Contains(r, sub) {
			out = append(out, r)
		}
	}
	return out
}

// liveStreams is how many live leases uid holds.
func (s *stack) liveStreams(t *testing.T, uid string) int {
	t.Helper()
	l, err := s.svc.List(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return l.StreamCount
}

// runSmoke runs scripts/smoke.sh against base with these extra variables;
// it returns what the script printed and whether it exited 0.
func runSmoke(t *testing.T, base string, vars map[string]string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required (CI=true)")
		}
		t.Skip("curl not found")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "scripts", "smoke.sh"))
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "BASE" && k != "TOKEN" && k != "SMOKE_UID" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "BASE="+base)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("smoke.sh did not finish in time:\n%s", out)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out), err == nil
}

var uidLine = regexp.MustCompile(`uid=(smoke-[0-9a-f]{12})\b`)

// TestSmokePassesAndCleansUp: against the real API the script passes, as a
// fresh account per run, with the token on every request (the stub refuses
// any other), device ids suffixed per run, and leaves no stream behind.
func TestSmokePassesAndCleansUp(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	var uids []string
	for range 2 {
		out, ok := runSmoke(t, s.base, map[string]string{"TOKEN": token})
		if !ok || !strings.Contains(out, "OK: all") {
			t.Fatalf("smoke.sh failed against the real API:\n%s", out)
		}
		m := uidLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no generated uid in the output:\n%s", out)
		}
		uid := m[1]
		uids = append(uids, uid)
		if n := s.liveStreams(t, uid); n != 0 {
			t.Errorf("%s holds %d live streams after the run, want 0:\n%s", uid, n, out)
		}
		if ends := s.requestsMatching("POST /dev/endStream/" + uid + "/"); len(ends) < 3 {
			t.Errorf("the run ended %d leases by id, want at least the 3 the flow leaves (two live, one superseded)", len(ends))
		}
		suffix := strings.TrimPrefix(uid, "smoke-")
		if len(s.requestsMatching("deviceId=phone-"+suffix)) != 1 {
			t.Errorf("no canStream with the per-run device id phone-%s: %v", suffix, s.requestsMatching("/canStream/"+uid))
		}
	}
	if uids[0] == uids[1] {
		t.Errorf("two runs used the same account %s", uids[0])
	}
}

// readmeLine returns the number of the first line of README.md containing sub.
func readmeLine(t *testing.T, sub string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), sub) {
			return n
		}
	}
	t.Fatalf("README.md has no line with %q", sub)
	return 0
}

// TestSmokeFailsOnAWrongAnswer: one falsified answer (a field, or a status
// with the right body) fails the run at that step, named by its README
// line, and the clean-up still ends every lease the run was granted.
func TestSmokeFailsOnAWrongAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  fault
		readme string // the README command the run must stop at
		want   string
	}{
		{
			name:   "wrong reason",
			fault:  fault{route: regexp.MustCompile(`^POST /dev/heartbeat/`), n: 1, old: `"reason":"superseded"`, new: `"reason":"expired"`},
			readme: `"$BASE/heartbeat/alice/$OLD1"`,
			want:   "printed an unexpected answer",
		},
		{
			name:   "refusal answered as a grant",
			fault:  fault{route: regexp.MustCompile(`^POST /dev/canStream/`), n: 4, old: `"canStream":false`, new: `"canStream":true`},
			readme: `"$BASE/canStream/alice?deviceId=laptop"`,
			want:   "printed an unexpected answer",
		},
		{
			name:   "right body, server error status",
			fault:  fault{route: regexp.MustCompile(`^POST /dev/endStream/`), n: 1, status: http.StatusServiceUnavailable},
			readme: `"$BASE/endStream/alice/$LEASE2"`,
			want:   "answered HTTP 503, want 2xx",
		},
		{
			name:   "error result instead of a refusal",
			fault:  fault{route: regexp.MustCompile(`^POST /dev/canStream/`), n: 5, status: http.StatusOK, old: `"result":"success"`, new: `"result":"error"`},
			readme: `"$BASE/canStream/alice" -d '{"deviceId":"living-room-tv"}'`,
			want:   "printed an unexpected answer",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, &tc.fault)
			uid := fmt.Sprintf("smoke-fault-%08x", rand.Uint32())
			out, ok := runSmoke(t, s.base, map[string]string{"TOKEN": token, "SMOKE_UID": uid})
			if ok {
				t.Fatalf("smoke.sh passed with a falsified answer:\n%s", out)
			}
			step := fmt.Sprintf("(README.md:%d) %s", readmeLine(t, tc.readme), tc.want)
			if !strings.Contains(out, "FAIL: step ") || !strings.Contains(out, step) {
				t.Errorf("output does not name the failing step %q:\n%s", step, out)
			}
			if n := s.liveStreams(t, uid); n != 0 {
				t.Errorf("%s holds %d live streams after the failed run, want 0 (clean-up on failure):\n%s", uid, n, out)
			}
			if strings.Contains(out, "OK: all") {
				t.Errorf("a failed run says OK:\n%s", out)
			}
		})
	}
}

// TestSmokeRefusesWhatItMustNotTouch: an account that already streams is
// left alone (the run stops before its first canStream, the stream stays
// live), and a missing token is a clear 401 failure.
func TestSmokeRefusesWhatItMustNotTouch(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	uid := fmt.Sprintf("busy-%08x", rand.Uint32())
	if _, err := s.svc.CanStream(context.Background(), uid, lease.Request{DeviceID: "real-tv"}); err != nil {
		t.Fatal(err)
	}
	out, ok := runSmoke(t, s.base, map[string]string{"TOKEN": token, "SMOKE_UID": uid})
	if ok || !strings.Contains(out, "FAIL: preflight: account "+uid+" is not idle") {
		t.Errorf("a busy account: exit 0 = %v, output:\n%s", ok, out)
	}
	if n := s.liveStreams(t, uid); n != 1 {
		t.Errorf("%s holds %d live streams after the refused run, want its 1", uid, n)
	}
	if r := s.requestsMatching("/canStream/" + uid); len(r) != 0 {
		t.Errorf("the refused run asked canStream: %v", r)
	}

	out, ok = runSmoke(t, s.base, nil)
	if ok || !strings.Contains(out, "answered 401: the API wants a token") {
		t.Errorf("no token: exit 0 = %v, output:\n%s", ok, out)
	}
}

// TestSmokeEndsLeasesItCouldNotRead: a grant whose lease id the run never
// saw (the answer falsified) cannot be ended by id; a generated account is
// then emptied with "end all", a named one is reported and fails the run.
func TestSmokeEndsLeasesItCouldNotRead(t *testing.T) {
	t.Parallel()
	lost := fault{route: regexp.MustCompile(`^POST /dev/canStream/`), n: 1, old: `"leaseId":`, new: `"lease":`}

	s := start(t, &lost)
	out, ok := runSmoke(t, s.base, map[string]string{"TOKEN": token})
	m := uidLine.FindStringSubmatch(out)
	if ok || m == nil || !strings.Contains(out, "still holds streams") || !strings.Contains(out, "ending them all") {
		t.Fatalf("generated account: exit 0 = %v, output:\n%s", ok, out)
	}
	if n := s.liveStreams(t, m[1]); n != 0 {
		t.Errorf("%s holds %d live streams after the run, want 0", m[1], n)
	}

	s = start(t, &lost)
	uid := fmt.Sprintf("smoke-named-%08x", rand.Uint32())
	out, ok = runSmoke(t, s.base, map[string]string{"TOKEN": token, "SMOKE_UID": uid})
	if ok || !strings.Contains(out, "still holds streams the run could not end") || !strings.Contains(out, "FAIL: clean-up") {
		t.Errorf("named account: exit 0 = %v, output:\n%s", ok, out)
	}
	if n := s.liveStreams(t, uid); n != 1 {
		t.Errorf("%s holds %d live streams, want the 1 whose id the run never saw (a named account is not emptied)", uid, n)
	}
}
