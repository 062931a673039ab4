// Package handlers is the HTTP API of streamlimit: every route, JSON in and
// out, one table from domain errors to HTTP statuses, CORS. The same
// http.Handler serves the local server and every Lambda function (through
// the API Gateway adapter), so local and deployed behaviour cannot drift.
// It never imports the AWS SDK.
package handlers

import (
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
)

// Config configures the HTTP API.
type Config struct {
	// Prefix is put before every route except /healthz, for example "/dev"
	// locally (the stage) and "" behind an HTTP API's $default stage.
	Prefix string
	// AllowedOrigins lists the origins CORS allows; "*" allows any.
	// Empty means none (no CORS headers).
	AllowedOrigins []string
	// StoreTimeout bounds the store work of one request, so a hung store
	// answers 503 instead of hanging (default 1.5s).
	StoreTimeout time.Duration
	// Admission, when set, admits the store work of every request that
	// calls the lease service (all but /healthz, the static files and CORS
	// preflights) before its first store operation (lease.Admitter), within
	// StoreTimeout: a request it refuses is answered 503 overloaded with
	// Retry-After at once, without touching the store; one that never
	// reaches the store (a heartbeat answered from its renewal token) is
	// never refused. Nil: every request goes to the store.
	Admission *admission.Limiter
	// Logger receives what is not a request line (WebSocket events) and,
	// when Observer is nil, one line per request, which carries the
	// request's error if it had one.
	Logger *slog.Logger
	// Observer writes each request's log line and metrics and, when it has
	// a Tracer, traces every route under its uid-free operation name
	// (canStream, heartbeat, streams.end, ...). The handler reports its
	// decision in the request's observe.Request. Nil: one on Logger, uids
	// hashed with a random key, no metrics, no tracing.
	Observer *observe.Observer
	// Identity, when set, binds every account route to the caller: the
	// account it names must be the path's {uid} (else 403 forbidden), and
	// a request it cannot identify is answered 401. Nil: no check.
	Identity auth.Identity
	// Admin guards the admin routes (/admin/...). Nil disables them (403).
	Admin auth.AdminAuth
	// WebSocket, when set, serves the local WebSocket endpoint GET
	// {Prefix}/ws (wsapi.Sockets; see localOnly in routes.go). Nil: that
	// route is 404. The HTTP API only mounts it, so a binary that does not
	// serve it links no WebSocket code.
	WebSocket http.Handler
	// Static holds the browser client and the demo page (package web's FS),
	// served at {Prefix}/ (index.html) and {Prefix}/client/{file}. Nil:
	// those routes answer 404.
	Static fs.FS
}

type server struct {
	svc     *lease.Service
	cfg     Config
	log     *slog.Logger
	obs     *observe.Observer
	origins map[string]bool
	anyOrig bool
	static  map[string]asset
}

// NewServer returns the HTTP API over svc.
func NewServer(svc *lease.Service, cfg Config) http.Handler {
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 1500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	s := &server{svc: svc, cfg: cfg, log: cfg.Logger, obs: cfg.Observer, origins: map[string]bool{}}
	static, err := loadStatic(cfg.Static)
	if err != nil {
		panic("handlers: reading Config.Static: " + err.Error()) // a broken embed is a build bug
	}
	s.static = static
	if s.obs == nil {
		s.obs = observe.New(observe.Config{Logger: cfg.Logger})
	}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			s.anyOrig = true
		}
		s.origins[o] = true
	}
	return s.logRequests(s.recoverPanics(s.cors(s.routes())))
}
