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
	"os/signal"
	"syscall"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "streamlimit:", err)
		os.Exit(1)
	}
}

// run starts the server and blocks until ctx is done, then shuts down
// gracefully. It prints the base URL once it is listening.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	w := app.Wiring{
		MetricsOutput:  stderr, // EMF lines beside the request lines
		LocalWebSocket: true,   // GET /STAGE/ws, the WebSocket API's stand-in
	}
	meter := debugCapacity(getenv, &w)
	prefix := cfg.Prefix()
	a, err := app.New(ctx, cfg, w, prefix, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	handler := a.Handler
	if meter != nil {
		handler = withCapacity(meter, prefix, handler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	fmt.Fprintf(stdout, "streamlimit listening on %s%s/ (store: %s, health: %s/healthz)\n", base, prefix, cfg.Store, base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
	if err := a.Sockets.Close(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
