// Command local runs the streamlimit HTTP API as a local server (default
// http://localhost:3000/dev/...) against DynamoDB Local or AWS, configured
// from the environment (see README.md, "Configuration").
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/cmd/internal/cli"
	"github.com/streamlimit/streamlimit/cmd/internal/wire"
	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/web"
	"github.com/streamlimit/streamlimit/wsapi"
	"github.com/streamlimit/streamlimit/wsapi/sockets"
	"github.com/streamlimit/streamlimit/wsconn"
	"github.com/streamlimit/streamlimit/wsconn/dynamoconns"
)

func main() {
	cli.Main(func(ctx context.Context) int {
		if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "streamlimit:", err)
			return 1
		}
		return 0
	})
}

// run starts the server and blocks until ctx is done, then shuts down
// gracefully. It prints the base URL once it is listening.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := observe.NewLogger(stderr, cfg.LogFormat)
	if cfg.RandomTokenKey() {
		log.Info(config.RandomTokenKeyNote) // one process: every token is its own
	}
	if cfg.DevIssuer {
		stopIssuer, err := devIssuer(&cfg, stdout)
		if err != nil {
			return err
		}
		defer stopIssuer()
	}
	prefix := cfg.Prefix()
	h, socks, obs, err := newServer(ctx, cfg, getenv, stderr, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	fmt.Fprintf(stdout, "streamlimit listening on %s%s/ (store: %s, health: %s/healthz)\n", base, prefix, cfg.Store, base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	stopFlushing := flushMetrics(obs, cfg.MetricsFlush)
	// The metrics held are written last, whatever happens before: the
	// requests that Shutdown waits for and the WebSockets it closes are in
	// them.
	defer obs.Flush(context.Background())
	defer stopFlushing()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	// Shutdown does not wait for hijacked connections: close the
	// WebSockets (their leases are kept for a resume).
	if err := socks.Close(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// flushMetrics writes each metrics interval once it is over, also while no
// request comes to do it (Observer.FlushDue), until stop is called.
func flushMetrics(obs *observe.Observer, every time.Duration) (stop func()) {
	t := time.NewTicker(max(every/6, 100*time.Millisecond))
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-t.C:
				obs.FlushDue(context.Background())
			case <-done:
				return
			}
		}
	}()
	return func() {
		t.Stop()
		close(done)
		<-finished
	}
}

// newServer wires what the local server serves: the lease service over the
// configured stores, the HTTP API with its logs and EMF metrics on stderr,
// and the local stand-in of the WebSocket API at GET {prefix}/ws, both
// observed by one Observer (returned, for the metrics flushes), and the
// debug endpoints asked for (debug.go): with DEBUG_CAPACITY=true a meter
// counts the requests, events and DynamoDB calls per operation; with
// DEBUG_ADMISSION=true the admission limiter's state is served.
func newServer(ctx context.Context, cfg config.Config, getenv func(string) string, stderr io.Writer, log *slog.Logger) (http.Handler, *sockets.Sockets, *observe.Observer, error) {
	meter := debugCapacity(getenv)
	var (
		calls dynamostore.Observer
		sinks []observe.Sink
	)
	if meter != nil {
		calls, sinks = meter.Observe, []observe.Sink{meter}
	}
	verifier, admin, err := wire.Access(ctx, cfg, nil, log)
	if err != nil {
		return nil, nil, nil, err
	}
	// One Observer for HTTP requests and WebSocket events: the same log
	// stream, EMF lines, uid hashes, traces and capacity counters.
	obs, err := wire.Observability(cfg, stderr, log, sinks...)
	if err != nil {
		return nil, nil, nil, err
	}
	svc, store, err := stores.Service(ctx, cfg, calls)
	if err != nil {
		return nil, nil, nil, err
	}
	ws, err := wsconn.New(svc, dynamoconns.Beside(store))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("configuration: %w", err)
	}
	socks := sockets.New(ws, sockets.Config{
		Events:   wsapi.Events{StoreTimeout: cfg.StoreTimeout, Logger: log, Observer: obs},
		Verifier: verifier, AllowedOrigins: cfg.AllowedOrigins,
	})
	hc := handlers.ConfigFrom(cfg)
	if hc.Admission, err = wire.Admission(cfg); err != nil {
		return nil, nil, nil, err
	}
	hc.Logger, hc.Observer, hc.Static = log, obs, web.FS()
	hc.Identity, hc.Admin, hc.WebSocket = auth.Bearer(verifier), admin, socks
	h := withDebug(handlers.NewServer(svc, hc), meter, debugAdmission(getenv, hc.Admission))
	return h, socks, obs, nil
}
