package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/streamlimit/streamlimit/auth"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// inputServer serves the API (prefix /dev, the admin token of the walk)
// over a fresh in-memory store, which it returns to check what was written.
func inputServer(t *testing.T) (*httptest.Server, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	svc := leasetest.NewService(t, store, leasetest.NewClock())
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev", Admin: auth.AdminToken(testAdminToken)}))
	t.Cleanup(srv.Close)
	return srv, store
}

// send sends one request with an optional body and the admin token, and
// returns the status and the answer's error code ("" for none, "(not
// JSON)" for an answer that is not JSON). Redirects are not followed.
func send(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	status, code, _ := sendFull(t, srv, method, path, body)
	return status, code
}

// sendFull is send, also returning the answer's headers.
func sendFull(t *testing.T, srv *httptest.Server, method, path, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bodyReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return resp.StatusCode, "(not JSON)", resp.Header
	}
	return resp.StatusCode, b.Error, resp.Header
}

// untouched fails the test unless the store holds nothing for uid: no
// item at all, and the account never written (no limit, no policy).
func untouched(t *testing.T, store *memstore.Store, uid string) {
	t.Helper()
	if n := store.Len(); n != 0 {
		t.Fatalf("the store holds %d items, want none", n)
	}
	a, err := store.Load(t.Context(), uid, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != 0 || a.MaxStreams != 0 || a.Policy != "" || len(a.Leases) != 0 {
		t.Fatalf("account %q was written: %+v", uid, a)
	}
}

// TestTrailingBodyData: a body is one JSON object and nothing else. Any
// byte after it but JSON whitespace is 400 invalid_body on every route that
// reads its body, and nothing is written.
func TestTrailingBodyData(t *testing.T) {
	t.Parallel()
	srv, store := inputServer(t)
	uid := leasetest.UID(t, "u")
	// With its secret, the second canStream takes the first one's lease
	// over (resumed): one live lease in the end.
	canStream := `{"deviceId":"tv","deviceSecret":"tv-secret-0123456789"}`
	routes := []struct{ method, path, body string }{
		{"POST", "/dev/canStream/" + uid, canStream},
		{"GET", "/dev/canStream/" + uid, canStream},
		{"PUT", "/dev/admin/accounts/" + uid + "/limit", `{"maxStreams":2}`},
		{"PUT", "/dev/admin/accounts/" + uid + "/policy", `{"policy":"evict_oldest"}`},
	}
	trailers := []string{"}", "]", " }", "\n]", "x", "{}", ` {"deviceId":"phone"}`, "0", "null", `"s"`, ",", "\u00a0", "\x00"}
	for _, r := range routes {
		for _, tr := range trailers {
			status, code := send(t, srv, r.method, r.path, r.body+tr)
			if status != http.StatusBadRequest || code != "invalid_body" {
				t.Errorf("%s %s with body %q: %d %q, want 400 invalid_body", r.method, r.path, r.body+tr, status, code)
			}
		}
	}
	untouched(t, store, uid)

	// JSON whitespace around the object is fine.
	for _, r := range routes {
		if status, code := send(t, srv, r.method, r.path, " \t\r\n"+r.body+" \t\r\n"); status != http.StatusOK {
			t.Errorf("%s %s with blank around the body: %d %q, want 200", r.method, r.path, status, code)
		}
	}
	a, err := store.Load(t.Context(), uid, true)
	if err != nil {
		t.Fatal(err)
	}
	var live, superseded int
	for _, l := range a.Leases {
		switch l.Revoked {
		case "":
			live++
		case lease.RevokedSuperseded:
			superseded++
		}
	}
	if a.MaxStreams != 2 || a.Policy != lease.PolicyEvictOldest || len(a.Leases) != 2 || live != 1 || superseded != 1 {
		t.Fatalf("after the valid requests: %+v, want one live lease and the one it superseded, limit 2, evict_oldest", a)
	}
}

// TestUncleanPaths: a path Go's ServeMux would clean (an empty, "." or ".."
// segment) is answered 404 not_found in JSON, never redirected to the
// cleaned path (where it might name another route), and writes nothing.
func TestUncleanPaths(t *testing.T) {
	t.Parallel()
	srv, store := inputServer(t)
	uid := leasetest.UID(t, "u")
	lid := "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a"
	cases := []struct{ method, path, body string }{
		{"POST", "/dev/canStream//" + uid, ""},
		{"GET", "/dev/canStream//" + uid, ""},
		{"POST", "/dev/canStream/../heartbeat/" + uid, ""},
		{"POST", "/dev//canStream/" + uid, `{"deviceId":"tv"}`},
		{"POST", "/dev/canStream/./" + uid, ""},
		{"POST", "/dev/canStream/" + uid + "/.", ""},
		{"POST", "/dev/canStream/" + uid + "/..", ""},
		{"POST", "/dev/canStream/.", ""},
		{"POST", "/dev/canStream/..", ""},
		{"POST", "//dev/canStream/" + uid, ""},
		{"POST", "/dev/./canStream/" + uid, ""},
		{"POST", "/dev/heartbeat//" + lid, ""},
		{"POST", "/dev/endStream/" + uid + "//" + lid, ""},
		{"POST", "/dev/streams/" + uid + "/../" + uid + "/end", ""},
		{"PUT", "/dev/admin/accounts//" + uid + "/limit", `{"maxStreams":2}`},
		{"PUT", "/dev/admin/accounts/" + uid + "/./policy", `{"policy":"evict_oldest"}`},
		{"GET", "//healthz", ""},
		{"GET", "/dev/../healthz", ""},
		{"GET", "/dev/./", ""},
		{"GET", "/dev/client/../client/streamlimit.js", ""},
		{"DELETE", "/dev//canStream/" + uid, ""},
	}
	for _, c := range cases {
		status, code, header := sendFull(t, srv, c.method, c.path, c.body)
		if status != http.StatusNotFound || code != "not_found" || header.Get("Location") != "" {
			t.Errorf("%s %s: %d %q (Location %q), want 404 not_found", c.method, c.path, status, code, header.Get("Location"))
		}
	}
	untouched(t, store, uid)

	// Dots in the query, a trailing slash and the prefix's root are not
	// unclean: they are answered as before.
	if status, code := send(t, srv, "POST", "/dev/canStream/"+uid+"?deviceId=../x", ""); status != http.StatusBadRequest || code != "invalid_device_id" {
		t.Errorf("POST /dev/canStream/%s?deviceId=../x: %d %q, want 400 invalid_device_id", uid, status, code)
	}
	if status, code := send(t, srv, "POST", "/dev/canStream/", ""); status != http.StatusNotFound || code != "not_found" {
		t.Errorf("POST /dev/canStream/: %d %q, want 404 not_found", status, code)
	}
	if status, code := send(t, srv, "GET", "/dev/", ""); status != http.StatusNotFound || code != "not_found" {
		t.Errorf("GET /dev/ (no Static): %d %q, want 404 not_found", status, code)
	}
}

// TestDotOnlyIDs: a uid or device id of only dots is 400 (invalid_uid,
// invalid_device_id), also when the dots are percent-encoded, which
// ServeMux does not clean; nothing is written.
func TestDotOnlyIDs(t *testing.T) {
	t.Parallel()
	srv, store := inputServer(t)
	lid := "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a"
	var cases []struct{ method, path, body, code string }
	for _, u := range []string{"...", "%2E", "%2E%2E", "%2e%2E", ".%2E", "%2e.", "%2E%2E%2E", "....."} {
		cases = append(cases, []struct{ method, path, body, code string }{
			{"POST", "/dev/canStream/" + u, "", "invalid_uid"},
			{"GET", "/dev/canStream/" + u + "?deviceId=tv", "", "invalid_uid"},
			{"POST", "/dev/heartbeat/" + u + "/" + lid, "", "invalid_uid"},
			{"POST", "/dev/endStream/" + u + "/" + lid, "", "invalid_uid"},
			{"GET", "/dev/streams/" + u, "", "invalid_uid"},
			{"POST", "/dev/streams/" + u + "/end", "", "invalid_uid"},
			{"PUT", "/dev/admin/accounts/" + u + "/limit", `{"maxStreams":2}`, "invalid_uid"},
			{"PUT", "/dev/admin/accounts/" + u + "/policy", `{"policy":"evict_oldest"}`, "invalid_uid"},
		}...)
	}
	uid := leasetest.UID(t, "u")
	for _, d := range []string{".", "..", "..."} {
		cases = append(cases, struct{ method, path, body, code string }{"POST", "/dev/canStream/" + uid, `{"deviceId":"` + d + `"}`, "invalid_device_id"})
		cases = append(cases, struct{ method, path, body, code string }{"POST", "/dev/canStream/" + uid + "?deviceId=" + d, "", "invalid_device_id"})
	}
	for _, c := range cases {
		if status, code := send(t, srv, c.method, c.path, c.body); status != http.StatusBadRequest || code != c.code {
			t.Errorf("%s %s %s: %d %q, want 400 %s", c.method, c.path, c.body, status, code, c.code)
		}
	}
	untouched(t, store, uid)
}
