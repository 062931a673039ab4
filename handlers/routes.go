package handlers

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/streamlimit/streamlimit/apierr"
)

// Route is one method and path of the API, without the stage prefix.
type Route struct {
	Method string
	Path   string
}

// route is one entry of the route table.
type route struct {
	methods []string
	path    string
	handle  func(*server, http.ResponseWriter, *http.Request)
	// prefixed routes live under Config.Prefix; /healthz does not.
	prefixed bool
}

// table is every route of the API, in one place. GET is accepted on the
// player routes so they can be tried from a browser's address bar; the
// account controls and admin routes take only their own methods.
// account(...) routes act for the path's {uid} (Config.Identity checks the
// caller); admin(...) routes need the admin credential (Config.Admin).
var table = []route{
	{[]string{"GET", "POST"}, "/canStream/{uid}", account((*server).canStream), true},
	{[]string{"GET", "POST"}, "/heartbeat/{uid}/{leaseId}", account((*server).heartbeat), true},
	{[]string{"GET", "POST"}, "/heartbeat/{uid}", (*server).missingLeaseID, true},
	{[]string{"GET", "POST"}, "/endStream/{uid}/{leaseId}", account((*server).endStream), true},
	{[]string{"GET", "POST"}, "/endStream/{uid}", (*server).missingLeaseID, true},
	{[]string{"GET"}, "/streams/{uid}", account((*server).streams), true},
	{[]string{"POST"}, "/streams/{uid}/end", account((*server).endAll), true},
	{[]string{"POST"}, "/streams/{uid}/{session}/end", account((*server).kick), true},
	{[]string{"PUT", "DELETE"}, "/admin/accounts/{uid}/limit", admin(limitRoute), true},
	{[]string{"PUT", "DELETE"}, "/admin/accounts/{uid}/policy", admin(policyRoute), true},
	{[]string{"POST"}, "/admin/accounts/{uid}/sessions/{session}/revoke", admin((*server).adminRevoke), true},
	{[]string{"GET"}, "/healthz", (*server).healthz, false},
	// The demo page and the browser client (Config.Static). "/" is the
	// prefix's root only (/dev/), not everything under it.
	{[]string{"GET"}, "/", (*server).demoPage, true},
	{[]string{"GET"}, "/client/{file}", (*server).clientFile, true},
}

// Routes lists every method and path the API serves, without the prefix and
// sorted; serverless.yml must declare exactly these.
func Routes() []Route {
	var out []Route
	for _, r := range table {
		for _, m := range r.methods {
			out = append(out, Route{Method: m, Path: r.path})
		}
	}
	slices.SortFunc(out, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// localOnly are routes of the local server that are not part of the HTTP
// API, so Routes() (and with it serverless.yml and openapi.yaml) leaves them
// out: GET /ws is the local stand-in of the WebSocket API, which API Gateway
// serves as a separate WebSocket API (cmd/ws), not as an HTTP API route.
var localOnly = []route{
	{[]string{"GET"}, "/ws", (*server).webSocket, true},
}

// webSocket is GET {prefix}/ws: Config.WebSocket, or 404 without one.
func (s *server) webSocket(w http.ResponseWriter, r *http.Request) {
	if s.cfg.WebSocket == nil {
		apierr.Write(w, http.StatusNotFound, "not_found", "No such route: "+r.URL.Path+".")
		return
	}
	s.cfg.WebSocket.ServeHTTP(w, r)
}

// routes returns the handler of every route: the table's and localOnly's
// routes under their prefix, and a JSON 404 for any other path, including
// a path that is not clean (see canonicalPaths).
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, r := range slices.Concat(table, localOnly) {
		path := r.path
		if r.prefixed {
			path = s.cfg.Prefix + path
		}
		path = staticPattern(path)
		handle := r.handle
		mux.Handle(path, s.observed(r.path, methods(r.methods, func(w http.ResponseWriter, req *http.Request) { handle(s, w, req) })))
	}
	notFound := s.observed("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, http.StatusNotFound, "not_found", "No such route: "+r.URL.Path+".")
	}))
	mux.Handle("/", notFound)
	return canonicalPaths(mux, notFound)
}

// canonicalPaths sends a request whose path is not clean to notFound
// instead of next. ServeMux would answer such a path (an empty segment
// "//", a "." or ".." segment) with a bare redirect to its cleaned form,
// which may be another route ("/canStream/../heartbeat/u"); no route of
// the table has such a path, so it is answered 404 not_found like any
// other path that names no route. It looks at the path as ServeMux
// matches it, still escaped: "%2E%2E" is a uid the route rejects, not a
// ".." segment. A trailing slash is not unclean: ServeMux keeps it too.
func canonicalPaths(next, notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); !isClean(p) {
			notFound.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isClean reports whether ServeMux leaves path p as it is: p starts with
// "/" and path.Clean changes nothing but a trailing slash.
func isClean(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// methods answers 405 with an Allow header and a JSON error for any method
// not in allowed.
func methods(allowed []string, h http.HandlerFunc) http.Handler {
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", allow)
			apierr.Write(w, http.StatusMethodNotAllowed, "method_not_allowed",
				"Method "+r.Method+" is not allowed here; use "+allow+".")
			return
		}
		h(w, r)
	})
}
