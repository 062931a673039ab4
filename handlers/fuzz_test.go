package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// fuzzServer is the real handler over a fresh in-memory store.
func fuzzServer(t *testing.T) (http.Handler, *lease.Service) {
	t.Helper()
	svc, err := lease.New(memstore.New())
	if err != nil {
		t.Fatal(err)
	}
	return handlers.NewServer(svc, handlers.Config{Prefix: "/dev", AllowedOrigins: []string{"*"}}), svc
}

// fuzzAnswer checks what every answer must be: JSON with "result" success
// (200) or error (with an error code), never a 500 and never a redirect
// (an unclean path, such as the "//" of an empty uid, is a 404 not_found);
// it returns the body.
func fuzzAnswer(t *testing.T, rec *httptest.ResponseRecorder, target string, allowed ...int) map[string]any {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || rec.Code == s
	}
	if !ok {
		t.Fatalf("%s: status %d, want one of %v; body %s", target, rec.Code, allowed, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d: body is not JSON: %v: %q", rec.Code, err, rec.Body)
	}
	switch {
	case rec.Code == http.StatusOK && body["result"] != "success":
		t.Fatalf("200 without result success: %s", rec.Body)
	case rec.Code != http.StatusOK && (body["result"] != "error" || body["error"] == nil || body["error"] == ""):
		t.Fatalf("%d without an error code: %s", rec.Code, rec.Body)
	}
	return body
}

// liveCount is the account's live leases, or -1 for a uid the service
// rejects.
func liveCount(t *testing.T, svc *lease.Service, uid string) int {
	t.Helper()
	l, err := svc.List(t.Context(), uid)
	if err != nil {
		return -1
	}
	return l.StreamCount
}

// FuzzCanStream sends canStream with arbitrary uid, body, deviceId query and
// User-Agent. Bad input must get a clear JSON error (400 or 413; 404 when
// the uid reshapes the path) and write nothing; a 200 is a grant with a
// canonical lease id, counted once.
func FuzzCanStream(f *testing.F) {
	f.Add("alice", `{"deviceId":"tv-1"}`, "", "Mozilla/5.0")
	f.Add("alice", ``, "phone", "")
	f.Add("alice", `{"deviceId":"tv-1","client":{"userAgent":"x","title":"Movie"}}`, "", "")
	f.Add("user@example.com", `{"deviceId":null}`, "", "")
	f.Add("a#b", `{}`, "", "")
	f.Add("alice", `[1,2]`, "", "")
	f.Add("alice", `{"deviceId":"tv 1"}`, "", "")
	f.Add("alice", `{"deviceId":"x"} {"deviceId":"y"}`, "", "")
	f.Add("alice", `{"client":{"title":"`+strings.Repeat("é", 300)+`"}}`, "", "")
	f.Add("alice", `{"deviceId":"`+strings.Repeat("a", 5000)+`"}`, "", "")
	f.Add("alice", "{\"client\":{\"userAgent\":\"\xff\xfe\"}}", "", "\xff")
	f.Add("", `{}`, "", "")
	f.Add("../heartbeat/alice", ``, "", "")
	f.Add("..", ``, "", "")
	f.Add(".", `{"deviceId":"tv-1"}`, "", "")
	f.Fuzz(func(t *testing.T, uid, body, device, ua string) {
		h, svc := fuzzServer(t)
		target := "/dev/canStream/" + url.PathEscape(uid)
		if device != "" {
			target += "?deviceId=" + url.QueryEscape(device)
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL, _ = url.Parse(target)
		req.RequestURI = target
		req.Header.Set("User-Agent", ua)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := fuzzAnswer(t, rec, target, 200, 400, 404, 413)
		n := liveCount(t, svc, uid)
		if rec.Code != http.StatusOK {
			if n > 0 {
				t.Fatalf("%d answer but the store holds %d leases for %q", rec.Code, n, uid)
			}
			return
		}
		if got["canStream"] != true || !lease.ValidLeaseID(str(got["leaseId"])) || n != 1 {
			t.Fatalf("200 for %q: %s; store holds %d leases", uid, rec.Body, n)
		}
	})
}

// FuzzLeasePaths sends heartbeat and endStream with arbitrary uid and lease
// id to an empty store: nothing exists, so no answer may be a success that
// renews (200 heartbeat) or removes anything, and none may be a 500.
func FuzzLeasePaths(f *testing.F) {
	f.Add("alice", "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a")
	f.Add("alice", "0D9F1C8E-2B6A-4C1E-9A57-6F3B2D1E0C4A")
	f.Add("alice", "{0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a}")
	f.Add("alice", "")
	f.Add("", "0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a")
	f.Add("alice", "..")
	f.Add("a/b", "x")
	f.Add("alice", "0d9f1c8e2b6a4c1e9a576f3b2d1e0c4a")
	f.Fuzz(func(t *testing.T, uid, id string) {
		h, svc := fuzzServer(t)
		for _, op := range []string{"heartbeat", "endStream"} {
			target := "/dev/" + op + "/" + url.PathEscape(uid) + "/" + url.PathEscape(id)
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			req.URL, _ = url.Parse(target)
			req.RequestURI = target
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if op == "heartbeat" {
				fuzzAnswer(t, rec, target, 400, 404, 410)
				continue
			}
			got := fuzzAnswer(t, rec, target, 200, 400, 404)
			if rec.Code == http.StatusOK && got["removedStream"] != false {
				t.Fatalf("endStream of nothing: %s", rec.Body)
			}
		}
		if n := liveCount(t, svc, uid); n > 0 {
			t.Fatalf("store holds %d leases for %q", n, uid)
		}
	})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
