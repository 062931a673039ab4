package handlers

import (
	"net/http"
	"slices"
	"strings"
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
// mutating routes so they can be tried from a browser's address bar.
var table = []route{
	{[]string{"GET", "POST"}, "/canStream/{uid}", (*server).canStream, true},
	{[]string{"GET", "POST"}, "/heartbeat/{uid}/{leaseId}", (*server).heartbeat, true},
	{[]string{"GET", "POST"}, "/heartbeat/{uid}", (*server).missingLeaseID, true},
	{[]string{"GET", "POST"}, "/endStream/{uid}/{leaseId}", (*server).endStream, true},
	{[]string{"GET", "POST"}, "/endStream/{uid}", (*server).missingLeaseID, true},
	{[]string{"GET"}, "/streams/{uid}", (*server).streams, true},
	{[]string{"GET"}, "/healthz", (*server).healthz, false},
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

func (s *server) routes(mux *http.ServeMux) {
	for _, r := range table {
		path := r.path
		if r.prefixed {
			path = s.cfg.Prefix + path
		}
		handle := r.handle
		mux.Handle(path, methods(r.methods, func(w http.ResponseWriter, req *http.Request) { handle(s, w, req) }))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "No such route: "+r.URL.Path+".")
	})
}

// methods answers 405 with an Allow header and a JSON error for any method
// not in allowed.
func methods(allowed []string, h http.HandlerFunc) http.Handler {
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				"Method "+r.Method+" is not allowed here; use "+allow+".")
			return
		}
		h(w, r)
	})
}
