// Package wsapi is the WebSocket API of streamlimit, one connection one
// stream: the messages, and two thin transports over the same
// wsconn.Service. Deployed, it is an API Gateway WebSocket API served by
// cmd/ws (NewGateway); locally the same behaviour is served at GET
// {prefix}/ws (package wsapi/sockets, an http.Handler the HTTP API mounts). Both speak the
// messages below, check the caller the same way (Account) and answer errors
// from the same table as the HTTP API (package apierr), so they cannot
// drift.
//
// A player connects with ?uid=…[&deviceId=…][&deviceSecret=…][&leaseId=…]; over the limit the
// connection is refused with 403 (a plain canStream tells who is watching).
// With identity on, the connection carries the player's token (Handshake:
// the "bearer.<JWT>" subprotocol beside "streamlimit", or an Authorization
// header) and is refused with 401 or 403 before anything is written
// (Account).
// It sends {"action":"heartbeat"} about every heartbeatIntervalSeconds and
// gets wsHeartbeatReply, which carries its leaseId (to resume after a lost
// connection), the expiry and a renewalToken, which the next heartbeat sends
// back ({"action":"heartbeat","renewalToken":"…"}) so that it needs no read
// of the connection's binding and, with enough time left, no store call. A lost lease is answered with
// wsErrorReply and the connection is closed (locally with CloseLeaseLost).
package wsapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/wsconn"
)

// CloseLeaseLost is the WebSocket close code of a socket whose lease was
// lost (expired, ended or revoked): HTTP's 410 in the application range.
// The close reason is the error code (lease_expired, lease_revoked).
const CloseLeaseLost = 4410

// Message actions.
const (
	actionHeartbeat = "heartbeat"
	actionError     = "error"
)

// wsMessage is a message from a player. A heartbeat brings back the
// renewalToken of its connection's last heartbeat reply, when it has one.
type wsMessage struct {
	Action       string `json:"action"`
	RenewalToken string `json:"renewalToken"`
}

// wsHeartbeatReply answers a heartbeat: the HTTP API's heartbeat body
// after the action.
type wsHeartbeatReply struct {
	Action string `json:"action"`
	apierr.Heartbeat
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

// Operation names of WebSocket events in logs and metrics.
const (
	opConnect    = "ws.connect"
	opHeartbeat  = "ws.heartbeat"
	opMessage    = "ws.message" // $default: not a known action
	opDisconnect = "ws.disconnect"
)

// operationOf names the event of a route key.
func operationOf(routeKey string) string {
	switch routeKey {
	case RouteConnect:
		return opConnect
	case RouteDisconnect:
		return opDisconnect
	case RouteHeartbeat:
		return opHeartbeat
	}
	return opMessage
}

// OperationOf names the local sockets' events as the gateway's are named.
func OperationOf(routeKey string) string { return operationOf(routeKey) }

// Connected records a $connect's outcome (the local socket's upgrade
// request's) in the record of ctx, as a canStream's.
func Connected(ctx context.Context, uid string, c wsconn.Connected) {
	rec := observe.From(ctx)
	rec.UID = uid
	rec.Grant(c.Granted, c.Resumed, false)
}

// Closed records a $disconnect's (or a local socket's end) outcome in the
// record of ctx: the lease ended, or not live (wsconn.Service.Disconnect),
// or kept for a resume (wsconn.Service.Drop, kept set), or the error.
func Closed(ctx context.Context, c wsconn.Closed, kept bool, err error) {
	rec := observe.From(ctx)
	rec.UID = c.Binding.UID
	switch {
	case err != nil:
		e, _, _ := errorOf(err)
		apierr.Record(ctx, err, e.Status)
	case kept:
		rec.Decision = observe.Kept
	default:
		rec.End(c.Release.Removed)
	}
}

// errorOf is apierr.Of with the WebSocket API's own errors first.
func errorOf(err error) (apierr.Error, apierr.Body, bool) {
	for _, row := range []struct {
		err error
		e   apierr.Error
	}{{wsconn.ErrInvalidConnID, wsInvalidConn}, {ErrSubprotocol, wsSubprotocol}} {
		if errors.Is(err, row.err) {
			return row.e, apierr.Body{Result: "error", Error: row.e.Code, Message: row.e.Message}, true
		}
	}
	return apierr.Of(err)
}

// Refusal is the 403 body of a refused connection.
func Refusal(c wsconn.Connected) wsRefusal {
	return wsRefusal{
		Result: "error", Error: "stream_limit_reached",
		Message:     "The account already has as many live streams as its limit: ask canStream who is watching.",
		StreamCount: c.StreamCount, MaxStreams: c.MaxStreams,
	}
}

// wsErrors are the WebSocket-only errors.
var (
	wsInvalidConn    = apierr.Error{Status: 400, Code: "invalid_connection_id", Message: "The connection id is malformed."}
	wsSubprotocol    = apierr.Error{Status: 400, Code: "invalid_subprotocol", Message: "A client that offers WebSocket subprotocols must offer streamlimit (and, to send its token, bearer.<token>)."}
	wsInvalidMessage = apierr.Error{Status: 400, Code: "invalid_message", Message: `A message must be a JSON object such as {"action":"heartbeat"}.`}
	wsUnknownAction  = apierr.Error{Status: 400, Code: "unknown_action", Message: `The only action is "heartbeat".`}
)

// leaseLost reports whether err means the connection's lease is gone, so
// the connection must be closed (410 over HTTP).
func leaseLost(err error) bool {
	return errors.Is(err, lease.ErrLeaseExpired) || errors.Is(err, lease.ErrLeaseRevoked)
}

// Reply handles one message of connection connID and returns the reply
// to send and, when the lease is lost and the connection must be closed,
// the error code (lease_expired, lease_revoked) to close it with. The local
// sockets and the Lambda handler both call it.
func Reply(ctx context.Context, ws *wsconn.Service, connID string, body []byte) (reply []byte, lost string) {
	var m wsMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Action == "" {
		return errorReply(wsInvalidMessage), ""
	}
	if m.Action != actionHeartbeat {
		return errorReply(wsUnknownAction), ""
	}
	// The event is a heartbeat from here on: its store calls are counted
	// and traced as such.
	rec := observe.From(ctx)
	rec.Operation, rec.Route = opHeartbeat, opHeartbeat
	b, rn, err := ws.Heartbeat(ctx, connID, m.RenewalToken)
	rec.UID = b.UID
	if err != nil {
		e, body, _ := errorOf(err)
		apierr.Record(ctx, err, e.Status) // logged once, in the event's line
		if leaseLost(err) {
			lost = e.Code
		}
		return marshal(wsErrorReply{Action: actionHeartbeat, Result: "error", Error: body.Error, Message: body.Message, Reason: body.Reason}), lost
	}
	rec.Decision = observe.HeartbeatDecision(rn.Skipped)
	return marshal(wsHeartbeatReply{Action: actionHeartbeat, Heartbeat: apierr.HeartbeatOf(b.UID, b.LeaseID, rn)}), ""
}

// errorReply answers a message that named no known action.
func errorReply(e apierr.Error) []byte {
	return marshal(wsErrorReply{Action: actionError, Result: "error", Error: e.Code, Message: e.Message})
}

func marshal(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}
