// Package apierr is the one place where domain errors become API answers:
// one table from errors to HTTP statuses and JSON error codes, shared by the
// HTTP API (package handlers) and the WebSocket API (package wsapi), and the
// JSON bodies they both send: the error body and the heartbeat answer. It
// records each failure in the request's observe.Request, so logs, metrics
// and traces see it once.
package apierr

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
)

// Error is one row of the error table.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Body is every error answer.
type Body struct {
	Result  string `json:"result"`
	Error   string `json:"error"`
	Message string `json:"message"`
	// Reason says why a lease was revoked (lease_revoked only).
	Reason string `json:"reason,omitempty"`
}

// Request body errors (the transports' own).
var (
	ErrBodyTooLarge = errors.New("body too large")
	ErrBodyInvalid  = errors.New("body is not a JSON object")
)

// Internal is the answer to an error the table does not know.
var Internal = Error{http.StatusInternalServerError, "internal", "Internal error; nothing was changed."}

// table maps every error the API can meet to its status and JSON code:
// the one place where domain errors become HTTP. Routing answers its own
// errors in the same shape (handlers/routes.go): 404 not_found for a path that names
// no route, including an unclean one ("//", "/./", "/../", never
// redirected), 405 method_not_allowed, and 400 missing_lease_id.
var table = []struct {
	err error
	Error
}{
	{lease.ErrInvalidUID, Error{400, "invalid_uid", "The uid must be 1-128 characters of A-Z, a-z, 0-9 and - _ . : @ + =, not only dots."}},
	{lease.ErrInvalidLeaseID, Error{400, "invalid_lease_id", "The lease id must be the canonical UUID that canStream returned."}},
	{lease.ErrInvalidDeviceID, Error{400, "invalid_device_id", "The deviceId must be 1-128 characters of A-Z, a-z, 0-9 and - _ . : @ + =, not only dots."}},
	{lease.ErrInvalidSecret, Error{400, "invalid_device_secret", "The deviceSecret must be 16-128 characters of A-Z, a-z, 0-9, - and _."}},
	{lease.ErrInvalidClient, Error{400, "invalid_client", "The client description must be valid UTF-8 and at most 512 bytes in all."}},
	{lease.ErrInvalidLimit, Error{400, "invalid_limit", `The body must be {"maxStreams": n} with n between 1 and ` + strconv.Itoa(lease.MaxLimit) + "."}},
	{ErrBodyInvalid, Error{400, "invalid_body", `The body must be empty or one JSON object such as {"deviceId": "tv-1"}, with nothing after it.`}},
	{ErrBodyTooLarge, Error{413, "body_too_large", "The body must be at most 4096 bytes."}},
	{lease.ErrInvalidPolicy, Error{400, "invalid_policy", "The policy must be block_new or evict_oldest."}},
	{lease.ErrInvalidHandle, Error{400, "invalid_session", "The session handle must be the 16 hex digits shown in the streams listing."}},
	{lease.ErrSessionNotFound, Error{404, "session_not_found", "No live session of this account has that handle."}},
	{auth.ErrUnauthenticated, Error{401, "unauthorized", "A valid credential is required in the Authorization header (Bearer scheme)."}},
	{auth.ErrInvalidRequest, Error{400, "invalid_request", "Send the access token one way only: the Authorization header or, on a WebSocket, the bearer subprotocol."}},
	{auth.ErrForbidden, Error{403, "forbidden", "The credential does not allow acting for this account."}},
	{auth.ErrAdminDisabled, Error{403, "admin_disabled", "The admin routes are disabled: no admin credential is configured."}},
	{lease.ErrLeaseExpired, Error{410, "lease_expired", "The lease has expired, was ended, or is unknown: call canStream again."}},
	{lease.ErrLeaseRevoked, Error{410, "lease_revoked", "The lease was ended by the account holder, an operator or a newer stream: stop playing, or call canStream again."}},
	{admission.ErrOverloaded, Error{503, "overloaded", "The server has as much work in flight as it can answer in time; nothing was read or written. Retry after Retry-After with the same request (for canStream the same deviceId and deviceSecret)."}},
	{lease.ErrThrottled, Error{503, "store_throttled", "The lease store is throttling requests; retry after Retry-After with the same request (for canStream the same deviceId and deviceSecret)."}},
	{lease.ErrContention, Error{503, "contention", "Too many concurrent changes to this account; retry shortly."}},
	{lease.ErrConflict, Error{503, "contention", "Too many concurrent changes to this account; retry shortly."}},
	{lease.ErrUnavailable, Error{503, "store_unavailable", "The lease store is unavailable; retry shortly."}},
}

// revokedMessages say, per revocation reason, why a lease_revoked player
// must stop.
var revokedMessages = map[string]string{
	lease.RevokedKicked:        "The account holder ended this stream from another device: stop playing.",
	lease.RevokedEvictedOldest: "A newer stream of this account took this slot (evict_oldest): stop playing, or call canStream again.",
	lease.RevokedAdmin:         "An operator ended this stream: stop playing.",
	lease.RevokedSuperseded:    "This stream was taken over by a newer player or connection of yours that proved it held the lease: stop this one.",
}

func revokedMessage(reason, fallback string) string {
	if m, ok := revokedMessages[reason]; ok {
		return m
	}
	return fallback
}

// Of returns the row for err and the body to answer with (a revoked
// lease's reason and the message that says why); ok is false for an error
// the table does not know, answered as Internal.
func Of(err error) (e Error, body Body, ok bool) {
	e = Internal
	for _, row := range table {
		if errors.Is(err, row.err) {
			e, ok = row.Error, true
			break
		}
	}
	body = Body{Result: "error", Error: e.Code, Message: e.Message}
	var revoked *lease.RevokedError
	if ok && errors.As(err, &revoked) {
		body.Reason, body.Message = revoked.Reason, revokedMessage(revoked.Reason, e.Message)
	}
	return e, body, ok
}

// RetryAfterSeconds is sent with every 503.
const RetryAfterSeconds = "1"

// Fail writes the answer for err (unknown errors: 500 without detail),
// with Retry-After on a 503 and WWW-Authenticate (Challenge) on a 401 and
// an invalid_request 400, and records it
// in the request's observe.Request: the outcome an expected error stands
// for (a lease expired or revoked), and the error itself behind a 5xx, so
// the request's line logs it once.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	e, body, _ := Of(err)
	FailWith(w, r, err, e, body)
}

// FailWith is Fail with the row and body a transport chose for err (its
// own errors first, then Of).
func FailWith(w http.ResponseWriter, r *http.Request, err error, e Error, body Body) {
	switch e.Status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", RetryAfterSeconds)
	}
	if c := Challenge(err); c != "" {
		w.Header().Set("WWW-Authenticate", c)
	}
	Record(r.Context(), err, e.Status)
	WriteJSON(w, e.Status, body)
}

// Challenge returns the WWW-Authenticate value of the answer to err (RFC
// 6750): auth.Challenge for a refused credential (401) or a token sent more
// than one way (400 invalid_request); "" for any other error.
func Challenge(err error) string {
	if errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrInvalidRequest) {
		return auth.Challenge(err)
	}
	return ""
}

// Record notes an error answered with status in the request's (or
// WebSocket event's) observe.Request: the outcome an expected error stands
// for (a lease expired or revoked), and the error itself behind a 5xx, so
// the record's line logs it once.
func Record(ctx context.Context, err error, status int) {
	rec := observe.From(ctx)
	switch {
	case errors.Is(err, lease.ErrLeaseRevoked):
		rec.Decision = observe.Revoked
	case errors.Is(err, lease.ErrLeaseExpired):
		rec.Decision = observe.Expired
	case errors.Is(err, admission.ErrOverloaded):
		// Shed before the store: not a store failure, and not worth an
		// error line per request under overload (the line says 503 and
		// the decision).
		rec.Decision = observe.Overloaded
		return
	}
	if status >= http.StatusInternalServerError {
		rec.Err, rec.StoreError = err, status == http.StatusServiceUnavailable
	}
}

// WriteJSON writes v as JSON with status; headers are set before
// WriteHeader.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Write writes an error answer of the transport's own (not from the table).
func Write(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, Body{Result: "error", Error: code, Message: message})
}

// Truncate cuts s to at most n bytes without splitting a character, and
// drops invalid bytes: how much of a User-Agent header a lease keeps.
func Truncate(s string, n int) string {
	s = toValidUTF8(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r != utf8.RuneError {
			out = append(out, r)
		}
	}
	return string(out)
}
