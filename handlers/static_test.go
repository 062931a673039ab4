package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// testStatic stands in for package web's files (the real ones are served by
// cmd/local's tests and the browser end-to-end tests).
var testStatic = fstest.MapFS{
	"index.html":       {Data: []byte("<!doctype html><title>demo</title>")},
	"demo.js":          {Data: []byte("import './streamlimit.js';")},
	"demo.css":         {Data: []byte("body { margin: 0 }")},
	"streamlimit.js":   {Data: []byte("export class StreamLimitClient {}")},
	"streamlimit.d.ts": {Data: []byte("export declare class StreamLimitClient {}")},
	"testcard.mp4":     {Data: []byte("\x00\x00\x00\x18ftypiso5 fragmented video")},
	"testcard.m3u8":    {Data: []byte("#EXTM3U\n#EXT-X-ENDLIST\n")},
	"embed.go":         {Data: []byte("package web")}, // not a served type
	"sub/x.js":         {Data: []byte("nested")},      // only top-level files are served
}

// walkStatic gets the demo page and each client file, validating every
// exchange against the spec (TestOpenAPIWalk).
func walkStatic(t *testing.T, h *harness) {
	t.Helper()
	for _, c := range []staticGet{
		{"/dev/", "index.html", "text/html; charset=utf-8", ""},
		{"/dev/client/index.html", "index.html", "text/html; charset=utf-8", ""},
		{"/dev/client/streamlimit.js", "streamlimit.js", "text/javascript; charset=utf-8", ""},
		{"/dev/client/streamlimit.d.ts", "streamlimit.d.ts", "text/plain; charset=utf-8", ""},
		{"/dev/client/demo.js", "demo.js", "text/javascript; charset=utf-8", ""},
		{"/dev/client/demo.css", "demo.css", "text/css; charset=utf-8", ""},
		{"/dev/client/testcard.m3u8", "testcard.m3u8", "application/vnd.apple.mpegurl", ""},
		{"/dev/client/testcard.mp4", "testcard.mp4", "video/mp4", ""},
		// The playlist names byte ranges of the video: a part of it, 206.
		{"/dev/client/testcard.mp4", "testcard.mp4", "video/mp4", "bytes=4-11"},
	} {
		h.getStatic(c)
	}
	for _, p := range []string{"/dev/client/nope.js", "/dev/client/embed.go"} {
		h.do(call{method: "GET", path: p, status: 404, code: "not_found"})
	}
}

// staticGet is one GET of a static file: path serves file as ctype; with a
// Range header (rng, "bytes=a-b"), only those bytes, 206.
type staticGet struct{ path, file, ctype, rng string }

// getStatic gets c.path, checks the answer is c.file (or the range of it)
// with c.ctype, and validates the exchange against the spec.
func (h *harness) getStatic(c staticGet) {
	h.t.Helper()
	path := c.path
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	want, status := testStatic[c.file].Data, http.StatusOK
	if c.rng != "" {
		req.Header.Set("Range", c.rng)
		var from, to int
		if _, err := fmt.Sscanf(c.rng, "bytes=%d-%d", &from, &to); err != nil {
			h.t.Fatalf("range %q: %v", c.rng, err)
		}
		want, status = want[from:to+1], http.StatusPartialContent
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != c.ctype || string(data) != string(want) {
		h.t.Fatalf("GET %s (Range %q): %d %q %q, want %d %q with %q", path, c.rng, resp.StatusCode, resp.Header.Get("Content-Type"), data, status, c.ctype, want)
	}

	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	vreq, _ := http.NewRequest(http.MethodGet, localOrigin+path, nil)
	vreq.Header = req.Header.Clone()
	route, params, err := h.router.FindRoute(vreq)
	if err != nil {
		h.t.Fatalf("GET %s: the spec has no route for it: %v", path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		h.t.Fatalf("GET %s: request does not match the spec: %v", path, err)
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	rin.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		h.t.Fatalf("GET %s: answer does not match the spec: %v\nheaders: %v", path, err, resp.Header)
	}
	h.seen[outcome{opName(route.Method, route.Path), resp.StatusCode, ""}] = true
}

func staticServer(t *testing.T, prefix string, static handlers.Config) *httptest.Server {
	t.Helper()
	svc := leasetest.NewService(t, memstore.New(), leasetest.NewClock())
	static.Prefix = prefix
	srv := httptest.NewServer(handlers.NewServer(svc, static))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

func TestStaticRevalidation(t *testing.T) {
	t.Parallel()
	srv := staticServer(t, "/dev", handlers.Config{Static: testStatic})
	resp, body := get(t, srv, "/dev/client/streamlimit.js")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || body != string(testStatic["streamlimit.js"].Data) || etag == "" ||
		resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("first GET: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	resp, body = get(t, srv, "/dev/client/streamlimit.js", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET with If-None-Match %s: %d %q, want 304 and no body", etag, resp.StatusCode, body)
	}
	if other, _ := get(t, srv, "/dev/client/demo.js"); other.Header.Get("ETag") == etag {
		t.Errorf("two files share the ETag %s", etag)
	}
}

func TestStaticPaths(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		prefix string
		static bool
		path   string
		status int
		body   string
	}{
		{"page", "/dev", true, "/dev/", 200, "<!doctype html>"},
		{"prefix without slash", "/dev", true, "/dev", http.StatusTemporaryRedirect, ""},
		{"not the subtree", "/dev", true, "/dev/nope", 404, `"not_found"`},
		{"no prefix", "/dev", true, "/", 404, `"not_found"`},
		{"nested file", "/dev", true, "/dev/client/sub/x.js", 404, `"not_found"`},
		{"traversal", "/dev", true, "/dev/client/..%2fembed.go", 404, `"not_found"`},
		{"unserved type", "/dev", true, "/dev/client/embed.go", 404, `"not_found"`},
		{"root prefix page", "", true, "/", 200, "<!doctype html>"},
		{"root prefix catch-all", "", true, "/nope", 404, `"not_found"`},
		{"root prefix client", "", true, "/client/streamlimit.js", 200, "export class"},
		{"no Static: page", "/dev", false, "/dev/", 404, `"not_found"`},
		{"no Static: client", "/dev", false, "/dev/client/streamlimit.js", 404, `"not_found"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := handlers.Config{}
			if tc.static {
				cfg.Static = testStatic
			}
			srv := staticServer(t, tc.prefix, cfg)
			resp, body := get(t, srv, tc.path)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("GET %s (prefix %q): %d %q, want %d containing %q", tc.path, tc.prefix, resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}
