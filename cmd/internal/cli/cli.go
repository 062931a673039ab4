// Package cli is what the command-line binaries (cmd/local, cmd/loadgen,
// cmd/streamctl) share around their run function, which takes everything
// it uses as arguments (so tests call it): a context that SIGINT and
// SIGTERM cancel, and the process's exit.
package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs run with a context that SIGINT and SIGTERM cancel, then exits
// with the code run returns. Once run has returned, a signal acts as it
// does by default again.
func Main(run func(ctx context.Context) (exitCode int)) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}
