package handlers

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/wsconn"
)

// Sockets serves the local stand-in of the WebSocket API at GET
// {prefix}/ws (Config.Sockets). It keeps the open sockets so that Close can
// end them when the server stops.
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
//   - the server closes it because its lease was lost (CloseLeaseLost) or
//     it reached wsconn.MaxConnectionAge (1001, going away, as API
//     Gateway's 2-hour cap): Disconnect, as API Gateway's $disconnect;
//   - the server stops (Close): 1001, and the lease is kept for a resume.
type Sockets struct {
	svc *wsconn.Service

	mu      sync.Mutex
	open    map[*socket]bool
	closing bool
	wg      sync.WaitGroup
}

// NewSockets returns the local WebSocket endpoint over svc.
func NewSockets(svc *wsconn.Service) *Sockets {
	return &Sockets{svc: svc, open: map[*socket]bool{}}
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
	conn *websocket.Conn
	id   string
	why  atomic.Int32
}

// closeWith closes the socket from the server side, once, remembering why.
func (sk *socket) closeWith(why int32, code websocket.StatusCode, reason string) {
	if sk.why.CompareAndSwap(closeNone, why) {
		_ = sk.conn.Close(code, reason)
	}
}

// webSocket is GET {prefix}/ws: the local WebSocket endpoint.
func (s *server) webSocket(w http.ResponseWriter, r *http.Request) {
	ss := s.cfg.Sockets
	if ss == nil {
		writeError(w, http.StatusNotFound, "not_found", "No such route: "+r.URL.Path+".")
		return
	}
	// Everything that can refuse the connection is checked before the
	// lease is taken, so a bad request leaves the table untouched.
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		writeError(w, http.StatusUpgradeRequired, "upgrade_required",
			"This is a WebSocket endpoint: open ws://HOST"+r.URL.Path+"?uid=… with a WebSocket client.")
		return
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" || len(r.Header.Values("Sec-WebSocket-Key")) != 1 {
		w.Header().Set("Sec-WebSocket-Version", "13")
		writeError(w, http.StatusBadRequest, "invalid_handshake", "The WebSocket handshake must be version 13 with one Sec-WebSocket-Key.")
		return
	}
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, "origin_not_allowed", "This origin may not open WebSockets here (ALLOWED_ORIGINS).")
		return
	}
	q := r.URL.Query()
	uid := q.Get("uid")
	if s.cfg.Identity != nil {
		id, err := s.cfg.Identity(r)
		switch {
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="streamlimit"`)
			s.fail(w, r, err)
			return
		case uid == "":
			uid = id
		case uid != id:
			s.fail(w, r, auth.ErrForbidden)
			return
		}
	}
	connID, err := newConnID()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := s.storeContext(r)
	c, err := ss.svc.Connect(ctx, wsconn.ConnectRequest{
		ConnID: connID, UID: uid, DeviceID: q.Get("deviceId"), DeviceSecret: q.Get("deviceSecret"), LeaseID: q.Get("leaseId"),
		Client: lease.Client{UserAgent: truncateUTF8(r.UserAgent(), maxHeaderUA)},
	})
	cancel()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !c.Granted {
		encode(w, http.StatusForbidden, refusal(c))
		return
	}
	conn, err := websocket.Accept(clearDeadlines{w}, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin was checked above, against ALLOWED_ORIGINS
	})
	if err != nil {
		// Accept has answered; give back what Connect took.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.StoreTimeout)
		defer cancel()
		if c.Resumed {
			_, err = ss.svc.Drop(ctx, connID)
		} else {
			_, err = ss.svc.Disconnect(ctx, connID)
		}
		if err != nil {
			s.log.WarnContext(ctx, "websocket: releasing a failed upgrade", "error", err.Error())
		}
		return
	}
	s.serveSocket(ss, &socket{conn: conn, id: connID})
}

// serveSocket reads the socket's messages until it ends, then lets its lease
// go as the way it ended says (see Sockets).
func (s *server) serveSocket(ss *Sockets, sk *socket) {
	if !ss.add(sk) {
		sk.closeWith(closeShutdown, websocket.StatusGoingAway, "server shutting down: reconnect with your leaseId")
		s.endSocket(ss, sk, nil)
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
			s.endSocket(ss, sk, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
		reply, lost := wsReply(ctx, ss.svc, s.log, sk.id, data)
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		err = sk.conn.Write(ctx, websocket.MessageText, reply)
		cancel()
		if err != nil {
			continue // the next Read reports how the socket ended
		}
		if lost != "" {
			sk.closeWith(closeLeaseLost, CloseLeaseLost, lost)
		}
	}
}

// endSocket releases or keeps the lease of a socket that ended.
func (s *server) endSocket(ss *Sockets, sk *socket, readErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	var (
		c   wsconn.Closed
		err error
		how string
	)
	switch why := sk.why.Load(); {
	case why == closeShutdown:
		how = "server shutdown"
		c, err = ss.svc.Drop(ctx, sk.id)
	case why == closeLeaseLost, why == closeAge:
		how = "closed by the server"
		c, err = ss.svc.Disconnect(ctx, sk.id)
	case websocket.CloseStatus(readErr) != -1:
		how = "closed by the player"
		c, err = ss.svc.Disconnect(ctx, sk.id)
	default:
		how = "dropped without a close frame"
		c, err = ss.svc.Drop(ctx, sk.id)
	}
	_ = sk.conn.CloseNow()
	if err != nil {
		s.log.WarnContext(ctx, "websocket: releasing the lease of a closed socket", "how", how, "error", err.Error())
		return
	}
	s.log.InfoContext(ctx, "websocket closed", "how", how, "removedStream", c.Release.Removed)
}

// originAllowed reports whether a browser's Origin may open a socket: no
// Origin (not a browser), the same host, or an allowed CORS origin.
func (s *server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || s.anyOrig || s.origins[origin] {
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
