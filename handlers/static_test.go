package handlers_test

import (
	"context"
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
	"embed.go":         {Data: []byte("package web")}, // not a served type
	"sub/x.js":         {Data: []byte("nested")},      // only top-level files are served
}

// walkStatic gets the demo page and each client file, validating every
// exchange against the spec (TestOpenAPIWalk).
func walkStatic(t *testing.T, h *harness) {
	t.Helper()
	for _, c := range []struct{ path, file, ctype string }{
		{"/dev/", "index.html", "text/html; charset=utf-8"},
		{"/dev/client/index.html", "index.html", "text/html; charset=utf-8"},
		{"/dev/client/streamlimit.js", "streamlimit.js", "text/javascript; charset=utf-8"},
		{"/dev/client/streamlimit.d.ts", "streamlimit.d.ts", "text/plain; charset=utf-8"},
		{"/dev/client/demo.js", "demo.js", "text/javascript; charset=utf-8"},
		{"/dev/client/demo.css", "demo.css", "text/css; charset=utf-8"},
	} {
		h.getStatic(c.path, c.file, c.ctype)
	}
	for _, p := range []string{"/dev/client/nope.js", "/dev/client/embed.go"} {
		h.do(call{method: "GET", path: p, status: 404, code: "not_found"})
	}
}

// getStatic gets path, checks it is file with ctype, and validates the
// exchange against the spec.
func (h *harness) getStatic(path, file, ctype string) {
	h.t.Helper()
	resp, err := h.srv.Client().Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || string(data) != string(testStatic[file].Data) {
		h.t.Fatalf("GET %s: %d %q %q, want 200 %q with %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), data, ctype, file)
	}

	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	vreq, _ := http.NewRequest(http.MethodGet, localOrigin+path, nil)
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
