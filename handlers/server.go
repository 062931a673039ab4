// Package handlers is the HTTP API of streamlimit: every route, JSON in and
// out, one table from domain errors to HTTP statuses, CORS. The same
// http.Handler serves the local server and every Lambda function (through
// the API Gateway adapter), so local and deployed behaviour cannot drift.
// It never imports the AWS SDK.
package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/lease"
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
	// Logger receives one line per request and every unexpected error.
	Logger *slog.Logger
}

type server struct {
	svc     *lease.Service
	cfg     Config
	log     *slog.Logger
	origins map[string]bool
	anyOrig bool
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
	s := &server{svc: svc, cfg: cfg, log: cfg.Logger, origins: map[string]bool{}}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			s.anyOrig = true
		}
		s.origins[o] = true
	}
	mux := http.NewServeMux()
	s.routes(mux)
	return s.recoverPanics(s.logRequests(s.cors(mux)))
}
