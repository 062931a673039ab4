package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
)

// slowMachine is the store timeout of these tests' servers: the machine is
// shared and DynamoDB Local serves every parallel test, so a call may wait
// well beyond the 1.5 s default; nothing here measures speed.
const slowMachine = "8000"

// ctlCall is call with request headers (credentials).
func ctlCall(t *testing.T, method, url string, header map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
	}
	return a
}

// ctlHandles returns the session handles of uid's listing by device.
func ctlHandles(t *testing.T, s server, uid string, header map[string]string) map[string]string {
	t.Helper()
	l := ctlCall(t, "GET", s.api+"/streams/"+uid, header, "").expect(t, 200, nil)
	out := map[string]string{}
	for _, x := range l.body["streams"].([]any) {
		m := x.(map[string]any)
		dev, _ := m["deviceId"].(string)
		out[dev] = m["session"].(string)
	}
	return out
}

func acquire(t *testing.T, s server, uid, device string, header map[string]string) answer {
	t.Helper()
	return ctlCall(t, "POST", s.api+"/canStream/"+uid, header, `{"deviceId":"`+device+`"}`)
}

// TestKick: B kicks A by the handle in the listing; A's next heartbeat is
// 410 lease_revoked (kicked), A's slot is free at once, and A's lease can
// be neither renewed, ended, nor resurrected by asking again.
func TestKick(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"STORE_TIMEOUT_MS": slowMachine})
	const uid = "kick-me"
	a := acquire(t, s, uid, "tv", nil).expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
	acquire(t, s, uid, "phone", nil).expect(t, 200, map[string]any{"canStream": true})
	acquire(t, s, uid, "laptop", nil).expect(t, 200, map[string]any{"canStream": true, "streamCount": 3})

	// B (the phone) reads the listing: handles, never lease ids.
	l := ctlCall(t, "GET", s.api+"/streams/"+uid, nil, "")
	if strings.Contains(l.raw, a) {
		t.Fatalf("the listing shows a lease id: %s", l.raw)
	}
	h := ctlHandles(t, s, uid, nil)["tv"]
	ctlCall(t, "POST", s.api+"/streams/"+uid+"/"+h+"/end", nil, "").
		expect(t, 200, map[string]any{"removedStream": true, "streamCount": 2, "session": h})

	// A's slot is free at once.
	acquire(t, s, uid, "tablet", nil).expect(t, 200, map[string]any{"canStream": true, "streamCount": 3})
	// A learns why, every time, and cannot come back with that lease.
	for range 2 {
		ctlCall(t, "POST", s.api+"/heartbeat/"+uid+"/"+a, nil, "").
			expect(t, 410, map[string]any{"error": "lease_revoked", "reason": "kicked"})
	}
	ctlCall(t, "POST", s.api+"/endStream/"+uid+"/"+a, nil, "").expect(t, 200, map[string]any{"removedStream": false, "streamCount": 3})
	again := acquire(t, s, uid, "tv", nil).expect(t, 200, map[string]any{"canStream": false, "streamCount": 3})
	if again.str("leaseId") != "" || strings.Contains(again.raw, a) {
		t.Fatalf("the kicked TV got a lease back on a full account: %s", again.raw)
	}
	ctlCall(t, "POST", s.api+"/streams/"+uid+"/"+h+"/end", nil, "").expect(t, 404, map[string]any{"error": "session_not_found"})

	// End all: every session, at once; their heartbeats say kicked.
	ctlCall(t, "POST", s.api+"/streams/"+uid+"/end", nil, "").expect(t, 200, map[string]any{"removedStream": true, "streamCount": 0})
	ctlCall(t, "GET", s.api+"/streams/"+uid, nil, "").expect(t, 200, map[string]any{"streamCount": 0})
	for i := 1; i <= 3; i++ {
		acquire(t, s, uid, fmt.Sprintf("new-%d", i), nil).expect(t, 200, map[string]any{"canStream": true, "streamCount": i})
	}
}

// TestEvictOldestRaceOverHTTP: 50 concurrent newcomers on a full
// evict_oldest account never leave more than the limit live (sampled over
// HTTP while they race, and counted in the table afterwards), and every
// lease that was granted and is no longer live is told evicted_oldest.
//
// DynamoDB Local serialises writes, so 50 racing transactions take tens of
// seconds here and some newcomers run out of retries (503 contention) or of
// the request's store budget (503 store_unavailable): both are the
// documented "retry" answers. A 503 after the transaction was sent may
// still have committed (a lease nobody holds, which expires by TTL): the
// bound holds either way, and that is what is checked.
//
// Not parallel: it loads DynamoDB Local heavily for a few seconds, and runs
// alone before the package's parallel tests start instead of slowing them.
func TestEvictOldestRaceOverHTTP(t *testing.T) {
	// Store work stays within the server's 10 s write timeout.
	s := startServer(t, map[string]string{"AT_LIMIT_POLICY": "evict_oldest", "MAX_STREAMS": "3", "STORE_TIMEOUT_MS": "9000"})
	const uid = "evict-race"
	var leases []string
	for _, d := range []string{"a", "b", "c"} {
		leases = append(leases, acquire(t, s, uid, d, nil).expect(t, 200, map[string]any{"canStream": true}).str("leaseId"))
	}

	const n = 50
	type result struct {
		status  int
		granted bool
		leaseID string
		code    string
	}
	results := make([]result, n)
	var done atomic.Bool
	var worst atomic.Int64
	var samples atomic.Int64
	sampler := make(chan error, 1)
	go func() {
		for !done.Load() {
			resp, err := http.Get(s.api + "/streams/" + uid)
			if err != nil {
				sampler <- err
				return
			}
			var b struct {
				StreamCount int `json:"streamCount"`
			}
			err = json.NewDecoder(resp.Body).Decode(&b)
			resp.Body.Close()
			if err != nil {
				sampler <- err
				return
			}
			samples.Add(1)
			if int64(b.StreamCount) > worst.Load() {
				worst.Store(int64(b.StreamCount))
			}
			time.Sleep(5 * time.Millisecond)
		}
		sampler <- nil
	}()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := http.Post(s.api+"/canStream/"+uid, "application/json", strings.NewReader(fmt.Sprintf(`{"deviceId":"new-%d"}`, i)))
			if err != nil {
				results[i].status = -1
				return
			}
			defer resp.Body.Close()
			var b struct {
				CanStream bool   `json:"canStream"`
				LeaseID   string `json:"leaseId"`
				Error     string `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&b)
			results[i] = result{resp.StatusCode, b.CanStream, b.LeaseID, b.Error}
		})
	}
	close(start)
	wg.Wait()
	done.Store(true)
	if err := <-sampler; err != nil {
		t.Fatal(err)
	}
	granted, retry := 0, map[string]int{}
	for i, r := range results {
		switch {
		case r.status == 200 && r.granted:
			granted++
			leases = append(leases, r.leaseID)
		case r.status == 503 && (r.code == "contention" || r.code == "store_unavailable"): // retry, documented
			retry[r.code]++
		default:
			t.Fatalf("newcomer %d: %+v; want granted or a 503 to retry", i, r)
		}
	}
	if w := worst.Load(); w > 3 {
		t.Fatalf("a listing saw %d live streams; limit 3", w)
	}
	accounts, err := dynamostore.ScanAccounts(t.Context(), client, s.table, time.Now(), dynamostore.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 1 || accounts[0].Live != 3 || accounts[0].Revoked < len(leases)-3 {
		t.Fatalf("table after the race: %+v; want 3 live and at least %d revoked", accounts, len(leases)-3)
	}
	live, evicted := 0, 0
	for _, id := range leases {
		a := ctlCall(t, "POST", s.api+"/heartbeat/"+uid+"/"+id, nil, "")
		switch {
		case a.status == 200:
			live++
		case a.status == 410 && a.str("reason") == "evicted_oldest":
			evicted++
		default:
			t.Fatalf("heartbeat of %s: %d %s", id, a.status, a.raw)
		}
	}
	if live > 3 || live+evicted != len(leases) || evicted < len(leases)-3 {
		t.Fatalf("%d known leases renew, %d evicted; want at most 3 renewing, the rest evicted", live, evicted)
	}
	if granted == 0 {
		t.Fatalf("no newcomer admitted (%v): nothing was evicted under race", retry)
	}
	t.Logf("%d of %d newcomers admitted, 503s %v; %d listings sampled, worst %d live", granted, n, retry, samples.Load(), worst.Load())
}

// TestCooldownStopsPingPongOverHTTP: on a one-stream evict_oldest plan, the
// device just evicted cannot evict back within EVICT_COOLDOWN_SECONDS; it is
// refused with cooldownUntil, the other keeps playing. Without the cooldown
// the two devices evict each other.
func TestCooldownStopsPingPongOverHTTP(t *testing.T) {
	t.Parallel()
	for _, cooldown := range []int{600, 0} {
		s := startServer(t, map[string]string{"AT_LIMIT_POLICY": "evict_oldest", "MAX_STREAMS": "1",
			"EVICT_COOLDOWN_SECONDS": fmt.Sprint(cooldown), "STORE_TIMEOUT_MS": slowMachine})
		const uid = "ping-pong"
		a := acquire(t, s, uid, "a", nil).expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
		b := acquire(t, s, uid, "b", nil).expect(t, 200, map[string]any{"canStream": true, "streamCount": 1})
		if ev, _ := b.body["evicted"].([]any); len(ev) != 1 || ev[0].(map[string]any)["deviceId"] != "a" {
			t.Fatalf("b: %s; want a evicted", b.raw)
		}
		ctlCall(t, "POST", s.api+"/heartbeat/"+uid+"/"+a, nil, "").expect(t, 410, map[string]any{"reason": "evicted_oldest"})
		back := acquire(t, s, uid, "a", nil)
		if cooldown == 0 {
			back.expect(t, 200, map[string]any{"canStream": true})
			ctlCall(t, "POST", s.api+"/heartbeat/"+uid+"/"+b.str("leaseId"), nil, "").expect(t, 410, map[string]any{"reason": "evicted_oldest"})
			continue
		}
		for range 3 { // a insists; b is never disturbed
			back = acquire(t, s, uid, "a", nil).expect(t, 200, map[string]any{"canStream": false, "streamCount": 1})
			until, err := time.Parse(time.RFC3339, back.str("cooldownUntil"))
			if err != nil || time.Until(until) < 9*time.Minute || time.Until(until) > 11*time.Minute {
				t.Fatalf("refusal %s: want cooldownUntil about 10 minutes ahead", back.raw)
			}
			ctlCall(t, "POST", s.api+"/heartbeat/"+uid+"/"+b.str("leaseId"), nil, "").expect(t, 200, nil)
		}
		// A third device, never evicted, may still evict b.
		c := acquire(t, s, uid, "c", nil).expect(t, 200, map[string]any{"canStream": true})
		if ev, _ := c.body["evicted"].([]any); len(ev) != 1 || ev[0].(map[string]any)["deviceId"] != "b" {
			t.Fatalf("c: %s; want b evicted", c.raw)
		}
	}
}

// TestAdminOverHTTP: a plan limit set through the admin route decides the
// next canStream; without the admin credential the answer is 401 (or 403
// when admin is disabled) and the table is untouched.
func TestAdminOverHTTP(t *testing.T) {
	t.Parallel()
	const token = "ops-token-0123456789"
	s := startServer(t, map[string]string{"ADMIN_TOKEN": token, "STORE_TIMEOUT_MS": slowMachine})
	off := startServer(t, map[string]string{"STORE_TIMEOUT_MS": slowMachine}) // no ADMIN_TOKEN: admin disabled
	const uid = "plan-user"
	admin := map[string]string{"Authorization": "Bearer " + token}
	for i := 1; i <= 3; i++ {
		acquire(t, s, uid, fmt.Sprint("d", i), nil).expect(t, 200, map[string]any{"canStream": true})
		acquire(t, off, uid, fmt.Sprint("d", i), nil).expect(t, 200, map[string]any{"canStream": true})
	}
	h := ctlHandles(t, s, uid, nil)["d1"]
	refused := []struct {
		method, path, body string
	}{
		{"PUT", "/admin/accounts/" + uid + "/limit", `{"maxStreams": 10}`},
		{"DELETE", "/admin/accounts/" + uid + "/limit", ""},
		{"PUT", "/admin/accounts/" + uid + "/policy", `{"policy": "evict_oldest"}`},
		{"DELETE", "/admin/accounts/" + uid + "/policy", ""},
		{"POST", "/admin/accounts/" + uid + "/sessions/" + h + "/revoke", ""},
	}
	for _, srv := range []server{s, off} {
		items := itemCount(t, srv.table)
		for _, r := range refused {
			for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer wrong-" + token}, {"Authorization": token}, {"X-Admin-Token": token}} {
				a := ctlCall(t, r.method, srv.api+r.path, hdr, r.body)
				want, code := 401, "unauthorized"
				if srv == off {
					want, code = 403, "admin_disabled"
				}
				if a.status != want || a.str("error") != code {
					t.Fatalf("%s %s with %v: %d %s; want %d %s", r.method, r.path, hdr, a.status, a.raw, want, code)
				}
			}
		}
		if got := itemCount(t, srv.table); got != items {
			t.Fatalf("refused admin calls changed the table: %d items, had %d", got, items)
		}
		acquire(t, srv, uid, "d4", nil).expect(t, 200, map[string]any{"canStream": false, "maxStreams": 3})
		ctlCall(t, "GET", srv.api+"/streams/"+uid, nil, "").expect(t, 200, map[string]any{"streamCount": 3, "policy": "block_new"})
	}
	// The right token also works for admin on a disabled server? No: still 403.
	ctlCall(t, "PUT", off.api+"/admin/accounts/"+uid+"/limit", admin, `{"maxStreams": 4}`).expect(t, 403, map[string]any{"error": "admin_disabled"})

	ctlCall(t, "PUT", s.api+"/admin/accounts/"+uid+"/limit", admin, `{"maxStreams": 4}`).
		expect(t, 200, map[string]any{"maxStreams": 4, "override": true})
	acquire(t, s, uid, "d4", nil).expect(t, 200, map[string]any{"canStream": true, "streamCount": 4, "maxStreams": 4})
	acquire(t, s, uid, "d5", nil).expect(t, 200, map[string]any{"canStream": false, "maxStreams": 4})
	ctlCall(t, "PUT", s.api+"/admin/accounts/"+uid+"/limit", admin, `{"maxStreams": 2}`).expect(t, 200, nil)
	// Lowering the limit ends nobody: four live, still renewable, newcomers refused.
	ctlCall(t, "GET", s.api+"/streams/"+uid, nil, "").expect(t, 200, map[string]any{"streamCount": 4, "maxStreams": 2})
	ctlCall(t, "DELETE", s.api+"/admin/accounts/"+uid+"/limit", admin, "").expect(t, 200, map[string]any{"maxStreams": 3, "override": false})

	ctlCall(t, "POST", s.api+"/admin/accounts/"+uid+"/sessions/"+h+"/revoke", admin, "").
		expect(t, 200, map[string]any{"removedStream": true, "streamCount": 3})
	items := itemCount(t, s.table)
	ctlCall(t, "PUT", s.api+"/admin/accounts/"+uid+"/limit", admin, `{"maxStreams": 0}`).expect(t, 400, map[string]any{"error": "invalid_limit"})
	ctlCall(t, "PUT", s.api+"/admin/accounts/"+uid+"/policy", admin, `{"policy": "lottery"}`).expect(t, 400, map[string]any{"error": "invalid_policy"})
	if got := itemCount(t, s.table); got != items {
		t.Fatalf("bad admin requests changed the table: %d items, had %d", got, items)
	}
}

// TestJWTIdentityOverHTTP: with AUTH_MODE=jwt a token for X cannot acquire,
// list, heartbeat, end, kick or end all for Y (403; 401 without a valid
// token), nothing is written, and lease ids stay capabilities: X on its
// own path cannot renew or end Y's lease.
func TestJWTIdentityOverHTTP(t *testing.T) {
	t.Parallel()
	const secret = "local-test-secret-0123456789abcdef"
	s := startServer(t, map[string]string{"AUTH_MODE": "jwt", "JWT_HS256_SECRET": secret, "STORE_TIMEOUT_MS": slowMachine})
	tok := func(uid string, ttl time.Duration) map[string]string {
		t.Helper()
		j, err := auth.SignHS256([]byte(secret), "sub", uid, time.Now(), ttl)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + j}
	}
	x, y := tok("x", time.Hour), tok("y", time.Hour)
	yLease := acquire(t, s, "y", "tv", y).expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
	yHandle := ctlHandles(t, s, "y", y)["tv"]
	items := itemCount(t, s.table)

	calls := []struct{ method, path string }{
		{"POST", "/canStream/y"},
		{"GET", "/canStream/y"},
		{"GET", "/streams/y"},
		{"POST", "/heartbeat/y/" + yLease},
		{"POST", "/endStream/y/" + yLease},
		{"POST", "/streams/y/" + yHandle + "/end"},
		{"POST", "/streams/y/end"},
	}
	forged, _ := auth.SignHS256([]byte(strings.Repeat("z", 32)), "sub", "y", time.Now(), time.Hour)
	for _, c := range calls {
		ctlCall(t, c.method, s.api+c.path, x, "").expect(t, 403, map[string]any{"error": "forbidden"})
		for name, hdr := range map[string]map[string]string{
			"no token":      nil,
			"expired token": tok("y", -time.Hour),
			"forged token":  {"Authorization": "Bearer " + forged},
		} {
			a := ctlCall(t, c.method, s.api+c.path, hdr, "")
			if a.status != 401 || a.str("error") != "unauthorized" || a.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s %s, %s: %d %s; want 401 with WWW-Authenticate", c.method, c.path, name, a.status, a.raw)
			}
		}
	}
	if got := itemCount(t, s.table); got != items {
		t.Fatalf("refused calls changed the table: %d items, had %d", got, items)
	}
	// X on its own path with Y's lease id: nothing renewed or ended.
	ctlCall(t, "POST", s.api+"/heartbeat/x/"+yLease, x, "").expect(t, 410, map[string]any{"error": "lease_expired"})
	ctlCall(t, "POST", s.api+"/endStream/x/"+yLease, x, "").expect(t, 200, map[string]any{"removedStream": false})
	ctlCall(t, "POST", s.api+"/streams/x/"+yHandle+"/end", x, "").expect(t, 404, map[string]any{"error": "session_not_found"})
	// Y is untouched and still in control.
	ctlCall(t, "POST", s.api+"/heartbeat/y/"+yLease, y, "").expect(t, 200, map[string]any{"leaseId": yLease})
	ctlCall(t, "GET", s.api+"/streams/y", y, "").expect(t, 200, map[string]any{"streamCount": 1})
	acquire(t, s, "x", "phone", x).expect(t, 200, map[string]any{"canStream": true, "streamCount": 1})
}
