// Package faultproxy is a TCP proxy for fault-injection tests: it forwards
// loopback connections to a target and, on command, adds latency, drops every
// open connection, refuses new ones, swallows them (accepts and never
// answers, like a network black hole), or holds back one request until told
// to let it go (a write delayed in the network). Test infrastructure only.
package faultproxy

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the proxy treats new connections.
type Mode int32

// Modes.
const (
	// Forward passes connections through (after Latency).
	Forward Mode = iota
	// Refuse closes each new connection at once (like a dead process).
	Refuse
	// Blackhole accepts each new connection and never forwards or answers.
	Blackhole
)

// Proxy forwards 127.0.0.1:<port> to a target address.
type Proxy struct {
	// Addr is the proxy's listening address (host:port).
	Addr   string
	target string
	ln     net.Listener

	mode    atomic.Int32
	latency atomic.Int64 // ns, added before forwarding each chunk
	hold    atomic.Pointer[hold]
	done    chan struct{} // closed by Close: releases any held chunk
	close   sync.Once

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	accepted, dropped atomic.Int64
}

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is http://Addr.
func (p *Proxy) URL() string { return "http://" + p.Addr }

// SetMode changes how new connections are treated. Open connections keep
// flowing unless DropAll is called too.
func (p *Proxy) SetMode(m Mode) { p.mode.Store(int32(m)) }

// SetLatency adds d before each chunk forwarded, in both directions.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// hold is one armed HoldNext.
type hold struct {
	pattern  []byte
	held     chan struct{} // closed when the matching chunk arrives
	released chan struct{} // closed by the release function
	once     sync.Once
}

// HoldNext holds back the next chunk sent towards the target whose bytes
// contain pattern: the proxy stops forwarding that connection's requests
// (the chunk and everything after it) until release is called or the
// proxy is closed. Other connections keep flowing, so one request can be
// delayed "in the network" for as long as a test needs, for example the
// first write naming a given key (an HTTP client with a connection pool,
// such as the AWS SDK's, sends its other calls on other connections). held
// is closed when the chunk arrives: the request was sent and is now in
// flight. Only one hold is armed at a time (a new call replaces an unfired
// one), and it fires once. A chunk is what one read returned: choose a
// pattern short enough to sit inside one request's headers or small body.
// release is idempotent.
func (p *Proxy) HoldNext(pattern []byte) (held <-chan struct{}, release func()) {
	h := &hold{pattern: bytes.Clone(pattern), held: make(chan struct{}), released: make(chan struct{})}
	p.hold.Store(h)
	return h.held, func() { h.once.Do(func() { close(h.released) }) }
}

// DropAll closes every open connection (both sides) at once.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
		p.dropped.Add(1)
	}
	clear(p.conns)
}

// Stats returns how many connections were accepted and dropped so far.
func (p *Proxy) Stats() (accepted, dropped int64) { return p.accepted.Load(), p.dropped.Load() }

// Close stops listening, drops every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() {
	p.close.Do(func() { close(p.done) })
	_ = p.ln.Close()
	p.DropAll()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.accepted.Add(1)
		switch Mode(p.mode.Load()) {
		case Refuse:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, like a closed port
			}
			_ = c.Close()
			continue
		case Blackhole:
			p.track(c) // held open until DropAll or Close
			continue
		}
		// Tracked from the accept on, so a DropAll while the upstream is
		// being dialed closes it too (it must not outlive a fault).
		p.track(c)
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.untrack(c)
		return
	}
	p.track(up)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(up, c, true) }()
	go func() { defer wg.Done(); p.pipe(c, up, false) }()
	wg.Wait()
	p.untrack(c)
	p.untrack(up)
}

// pipe copies src to dst, sleeping the latency before each chunk and, going
// towards the target, waiting on an armed hold whose pattern the chunk
// contains; when either side fails it closes both, so the other direction
// ends too.
func (p *Proxy) pipe(dst, src net.Conn, toTarget bool) {
	buf := make([]byte, 32<<10)
	defer func() { _ = dst.Close(); _ = src.Close() }()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if h := p.hold.Load(); toTarget && h != nil && bytes.Contains(buf[:n], h.pattern) && p.hold.CompareAndSwap(h, nil) {
				close(h.held)
				select {
				case <-h.released:
				case <-p.done:
				}
			}
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a dropped connection
		}
	}
}
