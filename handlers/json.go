package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
)

// MaxBodyBytes is the largest request body accepted (413 beyond).
const MaxBodyBytes = 4 << 10

// encode writes v as JSON with status; headers are set before WriteHeader.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is every error answer.
type errorBody struct {
	Result  string `json:"result"`
	Error   string `json:"error"`
	Message string `json:"message"`
	// Reason says why a lease was revoked (lease_revoked only).
	Reason string `json:"reason,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	encode(w, status, errorBody{Result: "error", Error: code, Message: message})
}

// errBody* are request body errors.
var (
	errBodyTooLarge = errors.New("body too large")
	errBodyInvalid  = errors.New("body is not a JSON object")
)

// jsonSpace is the whitespace JSON allows around a value (RFC 8259).
const jsonSpace = " \t\r\n"

// readBody reads an optional JSON body of at most MaxBodyBytes into v (nil
// to only check the size). A missing or blank body is fine, whatever its
// Content-Type (sendBeacon sends text/plain). Otherwise the body must be
// exactly one JSON object, with nothing but JSON whitespace around it: a
// trailing "}" or any other byte after it is errBodyInvalid.
func readBody(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return errBodyInvalid
	}
	if len(data) > MaxBodyBytes {
		return errBodyTooLarge
	}
	data = bytes.Trim(data, jsonSpace)
	if len(data) == 0 || v == nil {
		return nil
	}
	// json.Unmarshal, unlike a Decoder, rejects anything after the value.
	if data[0] != '{' || json.Unmarshal(data, v) != nil {
		return errBodyInvalid
	}
	return nil
}

// httpError is one row of the error table.
type httpError struct {
	status  int
	code    string
	message string
}

// errorTable maps every error the API can meet to its status and JSON code:
// the one place where domain errors become HTTP. Routing answers its own
// errors in the same shape (routes.go): 404 not_found for a path that names
// no route, including an unclean one ("//", "/./", "/../", never
// redirected), 405 method_not_allowed, and 400 missing_lease_id.
var errorTable = []struct {
	err error
	httpError
}{
	{lease.ErrInvalidUID, httpError{400, "invalid_uid", "The uid must be 1-128 characters of A-Z, a-z, 0-9 and - _ . : @ + =, not only dots."}},
	{lease.ErrInvalidLeaseID, httpError{400, "invalid_lease_id", "The lease id must be the canonical UUID that canStream returned."}},
	{lease.ErrInvalidDeviceID, httpError{400, "invalid_device_id", "The deviceId must be 1-128 characters of A-Z, a-z, 0-9 and - _ . : @ + =, not only dots."}},
	{lease.ErrInvalidSecret, httpError{400, "invalid_device_secret", "The deviceSecret must be 16-128 characters of A-Z, a-z, 0-9, - and _."}},
	{lease.ErrInvalidClient, httpError{400, "invalid_client", "The client description must be valid UTF-8 and at most 512 bytes in all."}},
	{lease.ErrInvalidLimit, httpError{400, "invalid_limit", `The body must be {"maxStreams": n} with n between 1 and ` + strconv.Itoa(lease.MaxLimit) + "."}},
	{errBodyInvalid, httpError{400, "invalid_body", `The body must be empty or one JSON object such as {"deviceId": "tv-1"}, with nothing after it.`}},
	{errBodyTooLarge, httpError{413, "body_too_large", "The body must be at most 4096 bytes."}},
	{lease.ErrInvalidPolicy, httpError{400, "invalid_policy", "The policy must be block_new or evict_oldest."}},
	{lease.ErrInvalidHandle, httpError{400, "invalid_session", "The session handle must be the 16 hex digits shown in the streams listing."}},
	{lease.ErrSessionNotFound, httpError{404, "session_not_found", "No live session of this account has that handle."}},
	{auth.ErrUnauthenticated, httpError{401, "unauthorized", "A valid credential is required in the Authorization header (Bearer scheme)."}},
	{auth.ErrForbidden, httpError{403, "forbidden", "The credential does not allow acting for this account."}},
	{auth.ErrAdminDisabled, httpError{403, "admin_disabled", "The admin routes are disabled: no admin credential is configured."}},
	{lease.ErrLeaseExpired, httpError{410, "lease_expired", "The lease has expired, was ended, or is unknown: call canStream again."}},
	{lease.ErrLeaseRevoked, httpError{410, "lease_revoked", "The lease was ended by the account holder, an operator or a newer stream: stop playing, or call canStream again."}},
	{lease.ErrContention, httpError{503, "contention", "Too many concurrent changes to this account; retry shortly."}},
	{lease.ErrConflict, httpError{503, "contention", "Too many concurrent changes to this account; retry shortly."}},
	{lease.ErrUnavailable, httpError{503, "store_unavailable", "The lease store is unavailable; retry shortly."}},
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

// RetryAfterSeconds is sent with every 503.
const RetryAfterSeconds = "1"

// fail writes the answer for err; unknown errors are answered 500 without
// detail. The error behind a 5xx is logged once, in the request's line.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			if row.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", RetryAfterSeconds)
			}
			failed(r, err, row.status)
			body := errorBody{Result: "error", Error: row.code, Message: row.message}
			var revoked *lease.RevokedError
			if errors.As(err, &revoked) {
				body.Reason, body.Message = revoked.Reason, revokedMessage(revoked.Reason, row.message)
			}
			encode(w, row.status, body)
			return
		}
	}
	failed(r, err, http.StatusInternalServerError)
	writeError(w, http.StatusInternalServerError, "internal", "Internal error; nothing was changed.")
}

// timestamp formats t as RFC 3339 UTC.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
