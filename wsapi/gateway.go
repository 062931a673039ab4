package wsapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/wsconn"
)

// Connections sends messages to, and closes, the connections of an API
// Gateway WebSocket API: the management API (@connections), whose endpoint
// is https://{domainName}/{stage}. apigw.Connections implements it with the
// AWS SDK; tests record the calls.
type Connections interface {
	// Post sends data to connection connID (PostToConnection).
	Post(ctx context.Context, endpoint, connID string, data []byte) error
	// Close closes connection connID (DeleteConnection); API Gateway then
	// sends its $disconnect.
	Close(ctx context.Context, endpoint, connID string) error
}

// GatewayConfig configures NewGateway.
type GatewayConfig struct {
	// Events says how each event is observed, traced and bounded.
	Events
	// Verifier, when set, checks the token a $connect carries (Handshake)
	// and names its account: a uid query parameter must then be absent or
	// the same (Account). Nil: the uid query parameter names the account.
	Verifier auth.Verifier
}

// The route keys of the WebSocket API (route selection $request.body.action).
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
	RouteHeartbeat  = actionHeartbeat
)

// WebSocketRoutes lists the route keys the WebSocket API must declare.
func WebSocketRoutes() []string {
	return []string{RouteConnect, RouteDisconnect, RouteDefault, RouteHeartbeat}
}

// NewGateway returns the Lambda handler of the WebSocket API:
//
//   - $connect takes uid, deviceId, deviceSecret and leaseId from the
//     query string, and the token from the headers (Handshake; the uid is
//     checked against it with cfg.Verifier set), and acquires or resumes a
//     lease bound to the connection: 200 (selecting the streamlimit
//     subprotocol when offered), or 403 over the limit (API Gateway then
//     refuses the connection), 400/401/403/410/503 on errors as over HTTP;
//   - heartbeat (and $default, which answers invalid_message or
//     unknown_action) replies through the management API; a lost lease is
//     told and the connection closed, which brings its $disconnect;
//   - $disconnect ends the connection's lease (a no-op when another
//     connection took it over).
//
// It is the same wsconn.Service and the same messages as the local server's
// GET /ws (package wsapi/sockets).
func NewGateway(ws *wsconn.Service, conns Connections, cfg GatewayConfig) func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	cfg.Events = cfg.Events.WithDefaults()
	g := &gateway{ws: ws, conns: conns, cfg: cfg, log: cfg.Logger}
	return g.handle
}

type gateway struct {
	ws    *wsconn.Service
	conns Connections
	cfg   GatewayConfig
	log   *slog.Logger
}

func (g *gateway) handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	var resp events.APIGatewayProxyResponse
	g.cfg.Run(ctx, rc.RequestID, operationOf(rc.RouteKey), func(ctx context.Context) int {
		switch rc.RouteKey {
		case RouteConnect:
			resp = g.connect(ctx, &req)
		case RouteDisconnect:
			resp = g.disconnect(ctx, &req)
		default:
			resp = g.message(ctx, &req)
		}
		return resp.StatusCode
	})
	return resp, nil
}

func (g *gateway) connect(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	q := req.QueryStringParameters
	token, protocol, err := Handshake(headers(req))
	if err != nil {
		return g.failure(ctx, err)
	}
	uid, err := Account(ctx, q["uid"], g.cfg.Verifier, token)
	if err != nil {
		return g.failure(ctx, err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.StoreTimeout)
	defer cancel()
	c, err := g.ws.Connect(ctx, wsconn.ConnectRequest{
		ConnID: req.RequestContext.ConnectionID, UID: uid, DeviceID: q["deviceId"], DeviceSecret: q["deviceSecret"], LeaseID: q["leaseId"],
		Client: lease.Client{UserAgent: apierr.Truncate(userAgent(req), apierr.MaxHeaderUA)},
	})
	if err != nil {
		return g.failure(ctx, err)
	}
	Connected(ctx, uid, c)
	if !c.Granted {
		return jsonResponse(http.StatusForbidden, Refusal(c))
	}
	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	if protocol != "" {
		// API Gateway puts it in the handshake's answer; without it a
		// browser that offered subprotocols drops the connection.
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": protocol}
	}
	return resp
}

// headers returns the $connect's request headers.
func headers(req *events.APIGatewayWebsocketProxyRequest) http.Header {
	h := http.Header{}
	if len(req.MultiValueHeaders) > 0 {
		for k, vs := range req.MultiValueHeaders {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		return h
	}
	for k, v := range req.Headers {
		h.Set(k, v)
	}
	return h
}

func (g *gateway) disconnect(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.StoreTimeout)
	defer cancel()
	c, err := g.ws.Disconnect(ctx, req.RequestContext.ConnectionID)
	// Nothing to answer whatever happened: the connection is gone. After an
	// error the lease expires by its TTL.
	Closed(ctx, c, false, err)
	observe.From(ctx).Reason = disconnectReason(req.RequestContext)
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

func (g *gateway) message(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := req.RequestContext
	endpoint := "https://" + rc.DomainName + "/" + rc.Stage
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		body = nil // binary frames carry no JSON message
	}
	sctx, cancel := context.WithTimeout(ctx, g.cfg.StoreTimeout)
	reply, lost := Reply(sctx, g.ws, rc.ConnectionID, body)
	cancel()
	if err := g.conns.Post(ctx, endpoint, rc.ConnectionID, reply); err != nil {
		g.log.WarnContext(ctx, "websocket reply not delivered", "error", err.Error())
	}
	if lost != "" {
		if err := g.conns.Close(ctx, endpoint, rc.ConnectionID); err != nil {
			g.log.WarnContext(ctx, "websocket close failed", "error", err.Error())
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

// failure answers a $connect that failed: the error table's status and body.
func (g *gateway) failure(ctx context.Context, err error) events.APIGatewayProxyResponse {
	e, body, _ := errorOf(err)
	apierr.Record(ctx, err, e.Status) // an unknown error is a 500: logged in the event's line
	resp := jsonResponse(e.Status, body)
	if c := apierr.Challenge(err); c != "" {
		resp.Headers["WWW-Authenticate"] = c
	}
	return resp
}

func jsonResponse(status int, v any) events.APIGatewayProxyResponse {
	data, _ := json.Marshal(v)
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:       string(data),
	}
}

// disconnectReason is what API Gateway says of a $disconnect: the close
// status code and reason, when it has them.
func disconnectReason(rc events.APIGatewayWebsocketProxyRequestContext) string {
	var parts []string
	if rc.DisconnectStatusCode != 0 {
		parts = append(parts, strconv.FormatInt(rc.DisconnectStatusCode, 10))
	}
	if rc.DisconnectReason != nil && *rc.DisconnectReason != "" {
		parts = append(parts, *rc.DisconnectReason)
	}
	return strings.Join(parts, " ")
}

// userAgent reads the User-Agent of the upgrade request.
func userAgent(req *events.APIGatewayWebsocketProxyRequest) string {
	for k, v := range req.Headers {
		if http.CanonicalHeaderKey(k) == "User-Agent" {
			return v
		}
	}
	return req.RequestContext.Identity.UserAgent
}
