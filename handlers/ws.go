package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/wsconn"
)

// The WebSocket variant: one connection is one stream. Deployed, it is an
// API Gateway WebSocket API served by cmd/ws (NewWebSocketGateway); locally
// the same behaviour is served at GET {prefix}/ws (Sockets). Both speak the
// messages below and call the same wsconn.Service, so they cannot drift.
//
// A player connects with ?uid=…[&deviceId=…][&leaseId=…]; over the limit the
// connection is refused with 403 (a plain canStream tells who is watching).
// It sends {"action":"heartbeat"} about every heartbeatIntervalSeconds and
// gets wsHeartbeatReply, which carries its leaseId (to resume after a lost
// connection) and the new expiry. A lost lease is answered with
// wsErrorReply and the connection is closed (locally with CloseLeaseLost).

// CloseLeaseLost is the WebSocket close code of a socket whose lease was
// lost (expired, ended or revoked): HTTP's 410 in the application range.
// The close reason is the error code (lease_expired, lease_revoked).
const CloseLeaseLost = 4410

// Message actions.
const (
	actionHeartbeat = "heartbeat"
	actionError     = "error"
)

// wsMessage is a message from a player.
type wsMessage struct {
	Action string `json:"action"`
}

// wsHeartbeatReply answers a heartbeat.
type wsHeartbeatReply struct {
	Action                   string `json:"action"`
	Result                   string `json:"result"`
	UID                      string `json:"uid"`
	LeaseID                  string `json:"leaseId"`
	ExpiresAt                string `json:"expiresAt"`
	HeartbeatIntervalSeconds int    `json:"heartbeatIntervalSeconds"`
	StreamCount              int    `json:"streamCount"`
}

// wsErrorReply answers a message that failed; Action is the message's
// action, or "error" for a message that named none or an unknown one.
type wsErrorReply struct {
	Action  string `json:"action"`
	Result  string `json:"result"`
	Error   string `json:"error"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

// wsRefusal is the body of a refused connection (403).
type wsRefusal struct {
	Result      string `json:"result"`
	Error       string `json:"error"`
	Message     string `json:"message"`
	StreamCount int    `json:"streamCount"`
	MaxStreams  int    `json:"maxStreams"`
}

func refusal(c wsconn.Connected) wsRefusal {
	return wsRefusal{
		Result: "error", Error: "stream_limit_reached",
		Message:     "The account already has as many live streams as its limit: ask canStream who is watching.",
		StreamCount: c.StreamCount, MaxStreams: c.MaxStreams,
	}
}

// wsErrors are the WebSocket-only errors.
var (
	wsInvalidMessage = httpError{400, "invalid_message", `A message must be a JSON object such as {"action":"heartbeat"}.`}
	wsUnknownAction  = httpError{400, "unknown_action", `The only action is "heartbeat".`}
	wsInvalidConn    = httpError{400, "invalid_connection_id", "The connection id is malformed."}
)

// errorOf finds err in the error table (wsconn's own errors first). ok is
// false for an unexpected error (answered as 500 internal).
func errorOf(err error) (e httpError, reason string, ok bool) {
	var revoked *lease.RevokedError
	if errors.As(err, &revoked) {
		reason = revoked.Reason
	}
	if errors.Is(err, wsconn.ErrInvalidConnID) {
		return wsInvalidConn, reason, true
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.httpError, reason, true
		}
	}
	return httpError{500, "internal", "Internal error; nothing was changed."}, reason, false
}

// leaseLost reports whether err means the connection's lease is gone, so
// the connection must be closed (410 over HTTP).
func leaseLost(err error) bool {
	return errors.Is(err, lease.ErrLeaseExpired) || errors.Is(err, lease.ErrLeaseRevoked)
}

// wsReply handles one message of connection connID and returns the reply
// to send and, when the lease is lost and the connection must be closed,
// the error code (lease_expired, lease_revoked) to close it with. The local
// sockets and the Lambda handler both call it.
func wsReply(ctx context.Context, ws *wsconn.Service, log *slog.Logger, connID string, body []byte) (reply []byte, lost string) {
	var m wsMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Action == "" {
		return errorReply(actionError, wsInvalidMessage, ""), ""
	}
	if m.Action != actionHeartbeat {
		return errorReply(actionError, wsUnknownAction, ""), ""
	}
	b, rn, err := ws.Heartbeat(ctx, connID)
	if err != nil {
		e, reason, known := errorOf(err)
		if !known || e.status == http.StatusServiceUnavailable {
			log.WarnContext(ctx, "websocket heartbeat failed", "error", err.Error())
		}
		if leaseLost(err) {
			lost = e.code
		}
		return errorReply(actionHeartbeat, e, reason), lost
	}
	data, _ := json.Marshal(wsHeartbeatReply{
		Action: actionHeartbeat, Result: "success", UID: b.UID, LeaseID: b.LeaseID,
		ExpiresAt:                timestamp(rn.Lease.ExpiresAt),
		HeartbeatIntervalSeconds: int(rn.HeartbeatInterval / time.Second),
		StreamCount:              rn.StreamCount,
	})
	return data, ""
}

func errorReply(action string, e httpError, reason string) []byte {
	msg := e.message
	if reason != "" {
		msg = revokedMessage(reason, msg)
	}
	data, _ := json.Marshal(wsErrorReply{Action: action, Result: "error", Error: e.code, Message: msg, Reason: reason})
	return data
}
