package handlers

import (
	"net/http"
	"strings"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
)

// observed names the operation of one route (path as in the route table,
// "" for the catch-all) in the request's observe.Request, with the matched
// pattern and the path's uid, and has the Observer trace h under it.
func (s *server) observed(path string, h http.Handler) http.Handler {
	op := operationOf(path)
	h = s.obs.Trace(op, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := observe.From(r.Context())
		rec.Operation, rec.Route, rec.UID = op, r.Pattern, r.PathValue("uid")
		h.ServeHTTP(w, r)
	})
}

// operationOf names a route by the literal segments of its path, without
// the {wildcards} (so never a uid): /canStream/{uid} is canStream,
// /streams/{uid}/{session}/end is streams.end; "" is unmatched.
func operationOf(path string) string {
	var parts []string
	for _, seg := range strings.Split(path, "/") {
		if seg != "" && !strings.HasPrefix(seg, "{") {
			parts = append(parts, seg)
		}
	}
	if len(parts) == 0 {
		return "unmatched"
	}
	return strings.Join(parts, ".")
}

// decided reports the handler's decision for the request's logs, metrics
// and trace.
func decided(r *http.Request, decision string) { observe.From(r.Context()).Decision = decision }

// decidedGrant reports a canStream answer.
func decidedGrant(r *http.Request, d lease.Decision) {
	rec := observe.From(r.Context())
	rec.Grant(d.Granted, d.Resumed, d.Degraded)
	rec.Reclaimed, rec.Evicted = d.Reclaimed, len(d.Evicted)
}
