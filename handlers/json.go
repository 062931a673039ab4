package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/lease"
)

// MaxBodyBytes is the largest request body accepted (413 beyond).
const MaxBodyBytes = 4 << 10

// jsonSpace is the whitespace JSON allows around a value (RFC 8259).
const jsonSpace = " \t\r\n"

// readBody reads an optional JSON body of at most MaxBodyBytes into v (nil
// to only check the size). A missing or blank body is fine, whatever its
// Content-Type (sendBeacon sends text/plain). Otherwise the body must be
// exactly one JSON object, with nothing but JSON whitespace around it: a
// trailing "}" or any other byte after it is apierr.ErrBodyInvalid.
func readBody(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return apierr.ErrBodyInvalid
	}
	if len(data) > MaxBodyBytes {
		return apierr.ErrBodyTooLarge
	}
	data = bytes.Trim(data, jsonSpace)
	if len(data) == 0 || v == nil {
		return nil
	}
	// json.Unmarshal, unlike a Decoder, rejects anything after the value.
	if data[0] != '{' || json.Unmarshal(data, v) != nil {
		return apierr.ErrBodyInvalid
	}
	return nil
}

// respond is the shape of every route that calls the service: it runs call
// under the store timeout (Config.StoreTimeout), with its store work
// admitted by Config.Admission, and answers what call returns as 200 JSON,
// or call's error (or the admission's refusal) through the error table.
func (s *server) respond(w http.ResponseWriter, r *http.Request, call func(ctx context.Context) (any, error)) {
	s.respondWith(w, r, s.cfg.Admission, call)
}

// respondWith is respond under the admission lim (nil: none). The admission
// is asked before the request's first store operation (lease.Admitter), not
// before call: a call answered without the store takes no slot.
func (s *server) respondWith(w http.ResponseWriter, r *http.Request, lim *admission.Limiter, call func(ctx context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.StoreTimeout)
	defer cancel()
	var adm *admission.Request
	if lim != nil {
		adm = lim.Request()
		ctx = lease.ContextWithAdmitter(ctx, adm)
	}
	resp, err := call(ctx)
	if adm != nil {
		// Tell the limiter whether the store was in trouble (failed,
		// throttled, contended or out of time).
		adm.Done(ctx.Err() != nil || errors.Is(err, lease.ErrUnavailable) ||
			errors.Is(err, lease.ErrThrottled) || errors.Is(err, lease.ErrContention))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, resp)
}

// respondBody is respond after readBody(r, body): a body that is too large
// or not JSON is answered as such, and call is not run.
func (s *server) respondBody(w http.ResponseWriter, r *http.Request, body any, call func(ctx context.Context) (any, error)) {
	if err := readBody(r, body); err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, call)
}

// fail answers err through the error table (apierr.Fail).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) { apierr.Fail(w, r, err) }

// timestamp formats t as RFC 3339 UTC.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
