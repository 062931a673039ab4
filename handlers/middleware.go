package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/observe"
)

// cors answers preflight requests and adds CORS headers for allowed origins.
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (s.anyOrig || s.origins[origin])
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
			if s.anyOrig {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
			}
		}
		if r.Method == http.MethodOptions {
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler wrote, in the request's
// observe.Request (so tracing sees it before the request line is written).
type statusRecorder struct {
	http.ResponseWriter
	rec *observe.Request
}

// Unwrap gives http.ResponseController (and the WebSocket upgrade, which
// hijacks the connection) the wrapped writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	if r.rec.Status == 0 {
		r.rec.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.rec.Status == 0 {
		r.rec.Status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests puts an observe.Request in the request's context, for the
// route and the handler to fill in, and when the request ends has the
// Observer write its one log line (request id, route, status, latency,
// decision, the uid hashed, the error if any) and its metrics.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, rec := s.obs.Start(r)
		next.ServeHTTP(&statusRecorder{ResponseWriter: w, rec: rec}, r)
		if rec.Status == 0 {
			rec.Status = http.StatusOK // nothing written: net/http answers 200
		}
		if rec.Operation == "" && r.Method == http.MethodOptions {
			rec.Operation = "preflight"
		}
		s.obs.Finish(r.Context(), rec, time.Since(start))
	})
}

// recoverPanics turns a panic into a 500 JSON answer without a stack trace;
// the request's log line reports it.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				rec := observe.From(r.Context())
				rec.Err, rec.StoreError = fmt.Errorf("panic: %v", v), false
				apierr.Write(w, http.StatusInternalServerError, "internal", "Internal error; nothing was changed.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
