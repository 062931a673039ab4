// Package sockets is the local stand-in of the WebSocket API: real
// WebSockets (github.com/coder/websocket) over the same messages and
// wsconn.Service as the API Gateway transport (package wsapi), mounted by
// the local server at GET {prefix}/ws. The Lambda functions do not link it.
package sockets

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/wsapi"
	"github.com/streamlimit/streamlimit/wsconn"
)

// Sockets serves the local stand-in of the WebSocket API: an http.Handler
// the local HTTP server mounts at GET {prefix}/ws (handlers.Config.WebSocket).
// It keeps the open sockets so that Close can end them when the server
// stops.
//
// How a socket ends decides what happens to its lease, as API Gateway's
// $disconnect would:
//
//   - the player closes it with a close frame: the lease ends at once
//     (wsconn.Service.Disconnect);
//   - it is dropped without a close frame (the TCP connection dies): the
//     lease is kept and expires by its TTL unless the player resumes it with
//     its leaseId (wsconn.Service.Drop). This is what a lost $disconnect
//     does behind API Gateway, whose delivery is best effort;
//   - the server closes it because its lease was lost (wsapi.CloseLeaseLost) or
//     it reached wsconn.MaxConnectionAge (1001, going away, as API
//     Gateway's 2-hour cap): Disconnect, as API Gateway's $disconnect;
//   - the server stops (Close): 1001, and the lease is kept for a resume.
type Sockets struct {
	svc     *wsconn.Service
	cfg     Config
	log     *slog.Logger
	origins map[string]bool
	anyOrig bool

	mu      sync.Mutex
	open    map[*socket]bool
	closing bool
	wg      sync.WaitGroup
}

// Config configures New.
type Config struct {
	// Events says how each event is observed, traced and bounded, as the
	// API Gateway transport's: every message (ws.heartbeat, or ws.message
	// for one that is not a heartbeat) and every socket's end
	// (ws.disconnect, with the way it ended as its reason) is a record of
	// its own. The upgrade request is the HTTP API's (operation ws), with
	// the connect's decision.
	wsapi.Events
	// Verifier, when set, checks the token an upgrade request carries
	// (wsapi.Handshake) and names the account a socket acts for: a uid
	// query parameter must then be absent or the same (wsapi.Account).
	Verifier auth.Verifier
	// AllowedOrigins lists the browser origins that may open a socket
	// besides the server's own ("*": any).
	AllowedOrigins []string
}

// New returns the local WebSocket endpoint over svc.
func New(svc *wsconn.Service, cfg Config) *Sockets {
	cfg.Events = cfg.Events.WithDefaults()
	ss := &Sockets{svc: svc, cfg: cfg, log: cfg.Logger, origins: map[string]bool{}, open: map[*socket]bool{}}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			ss.anyOrig = true
		}
		ss.origins[o] = true
	}
	return ss
}

// Close closes every open socket with 1001 (going away) and keeps their
// leases, which the players may resume on a new server; new sockets are
// refused. It waits until the sockets' goroutines are done or ctx ends.
func (ss *Sockets) Close(ctx context.Context) error {
	ss.mu.Lock()
	ss.closing = true
	open := make([]*socket, 0, len(ss.open))
	for sk := range ss.open {
		open = append(open, sk)
	}
	ss.mu.Unlock()
	for _, sk := range open {
		go sk.closeWith(closeShutdown, websocket.StatusGoingAway, "server shutting down: reconnect with your leaseId")
	}
	done := make(chan struct{})
	go func() { ss.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ss *Sockets) add(sk *socket) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	ss.open[sk] = true
	ss.wg.Add(1)
	return true
}

func (ss *Sockets) remove(sk *socket) {
	ss.mu.Lock()
	delete(ss.open, sk)
	ss.mu.Unlock()
	ss.wg.Done()
}

// Why the server closed a socket.
const (
	closeNone int32 = iota
	closeLeaseLost
	closeAge
	closeShutdown
)

// socket is one open WebSocket.
type socket struct {
	conn   *websocket.Conn
	id     string
	why    atomic.Int32
	events int // messages read (by the socket's one reading goroutine)
}

// closeWith closes the socket from the server side, once, remembering why.
func (sk *socket) closeWith(why int32, code websocket.StatusCode, reason string) {
	if sk.why.CompareAndSwap(closeNone, why) {
		_ = sk.conn.Close(code, reason)
	}
}

// ServeHTTP is GET {prefix}/ws: the local WebSocket endpoint.
func (ss *Sockets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Everything that can refuse the connection is checked before the
	// lease is taken, so a bad request leaves the table untouched.
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		apierr.Write(w, http.StatusUpgradeRequired, "upgrade_required",
			"This is a WebSocket endpoint: open ws://HOST"+r.URL.Path+"?uid=… with a WebSocket client.")
		return
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" || len(r.Header.Values("Sec-WebSocket-Key")) != 1 {
		w.Header().Set("Sec-WebSocket-Version", "13")
		apierr.Write(w, http.StatusBadRequest, "invalid_handshake", "The WebSocket handshake must be version 13 with one Sec-WebSocket-Key.")
		return
	}
	if !ss.originAllowed(r) {
		apierr.Write(w, http.StatusForbidden, "origin_not_allowed", "This origin may not open WebSockets here (ALLOWED_ORIGINS).")
		return
	}
	q := r.URL.Query()
	token, _, err := wsapi.Handshake(r.Header)
	if err != nil {
		wsapi.Fail(w, r, err)
		return
	}
	uid, err := wsapi.Account(r.Context(), q.Get("uid"), ss.cfg.Verifier, token)
	if err != nil {
		wsapi.Fail(w, r, err)
		return
	}
	connID, err := newConnID()
	if err != nil {
		apierr.Fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ss.cfg.StoreTimeout)
	c, err := ss.svc.Connect(ctx, wsconn.ConnectRequest{
		ConnID: connID, UID: uid, DeviceID: q.Get("deviceId"), DeviceSecret: q.Get("deviceSecret"), LeaseID: q.Get("leaseId"),
		Client: lease.Client{UserAgent: apierr.Truncate(r.UserAgent(), apierr.MaxHeaderUA)},
	})
	cancel()
	if err != nil {
		apierr.Fail(w, r, err)
		return
	}
	wsapi.Connected(r.Context(), uid, c)
	if !c.Granted {
		apierr.WriteJSON(w, http.StatusForbidden, wsapi.Refusal(c))
		return
	}
	conn, err := websocket.Accept(clearDeadlines{w}, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin was checked above, against ALLOWED_ORIGINS
		// Selected when offered (Handshake checked it is); the token's
		// subprotocol never is.
		Subprotocols: []string{wsapi.Subprotocol},
	})
	if err != nil {
		// Accept has answered; give back what Connect took.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), ss.cfg.StoreTimeout)
		defer cancel()
		if c.Resumed {
			_, err = ss.svc.Drop(ctx, connID)
		} else {
			_, err = ss.svc.Disconnect(ctx, connID)
		}
		if err != nil {
			ss.log.WarnContext(ctx, "websocket: releasing a failed upgrade", "error", err.Error())
		}
		return
	}
	ss.serveSocket(&socket{conn: conn, id: connID})
}

// serveSocket reads the socket's messages until it ends, then lets its lease
// go as the way it ended says (see Sockets).
func (ss *Sockets) serveSocket(sk *socket) {
	if !ss.add(sk) {
		sk.closeWith(closeShutdown, websocket.StatusGoingAway, "server shutting down: reconnect with your leaseId")
		ss.endSocket(sk, nil)
		return
	}
	defer ss.remove(sk)
	age := time.AfterFunc(ss.svc.MaxConnectionAge(), func() {
		sk.closeWith(closeAge, websocket.StatusGoingAway, "connection age limit: reconnect with your leaseId")
	})
	defer age.Stop()
	for {
		_, data, err := sk.conn.Read(context.Background())
		if err != nil {
			ss.endSocket(sk, err)
			return
		}
		// Each message is an event with its own record, logged, counted
		// and traced as the gateway's are (and as HTTP heartbeats are).
		sk.events++
		var (
			reply []byte
			lost  string
		)
		ss.cfg.Run(context.Background(), sk.id+"-"+strconv.Itoa(sk.events), wsapi.OperationOf(wsapi.RouteDefault), func(ctx context.Context) int {
			ctx, cancel := context.WithTimeout(ctx, ss.cfg.StoreTimeout)
			defer cancel()
			reply, lost = wsapi.Reply(ctx, ss.svc, sk.id, data)
			return http.StatusOK
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = sk.conn.Write(ctx, websocket.MessageText, reply)
		cancel()
		if err != nil {
			continue // the next Read reports how the socket ended
		}
		if lost != "" {
			sk.closeWith(closeLeaseLost, wsapi.CloseLeaseLost, lost)
		}
	}
}

// endSocket releases or keeps the lease of a socket that ended: an event
// of its own (ws.disconnect, as the gateway's $disconnect), whose record
// says how the socket ended (reason) and what became of its lease.
func (ss *Sockets) endSocket(sk *socket, readErr error) {
	ss.cfg.Run(context.Background(), sk.id+"-end", wsapi.OperationOf(wsapi.RouteDisconnect), func(ctx context.Context) int {
		ctx, cancel := context.WithTimeout(ctx, ss.cfg.StoreTimeout)
		defer cancel()
		// A socket lost without a close keeps its lease for a resume (Drop);
		// a closed one ends it (Disconnect), as API Gateway's $disconnect.
		disconnect, how := false, "dropped without a close frame"
		switch why := sk.why.Load(); {
		case why == closeShutdown:
			how = "server shutdown"
		case why == closeLeaseLost, why == closeAge:
			disconnect, how = true, "closed by the server"
		case websocket.CloseStatus(readErr) != -1:
			disconnect, how = true, "closed by the player"
		}
		end := ss.svc.Drop
		if disconnect {
			end = ss.svc.Disconnect
		}
		c, err := end(ctx, sk.id)
		_ = sk.conn.CloseNow()
		observe.From(ctx).Reason = how
		wsapi.Closed(ctx, c, !disconnect, err)
		return http.StatusOK
	})
}

// originAllowed reports whether a browser's Origin may open a socket: no
// Origin (not a browser), the same host, or an allowed CORS origin.
func (ss *Sockets) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || ss.anyOrig || ss.origins[origin] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// newConnID returns a random connection id shaped like API Gateway's.
func newConnID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// clearDeadlines lets the WebSocket outlive the http.Server's read and
// write timeouts: a hijacked connection keeps the deadlines the server set
// for the request, so they are cleared once it is taken over.
type clearDeadlines struct{ http.ResponseWriter }

// Hijack implements http.Hijacker through the wrapped writers.
func (w clearDeadlines) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		_ = conn.SetDeadline(time.Time{})
	}
	return conn, rw, err
}

// Unwrap gives http.ResponseController the wrapped writer.
func (w clearDeadlines) Unwrap() http.ResponseWriter { return w.ResponseWriter }
