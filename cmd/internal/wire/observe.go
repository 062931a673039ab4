package wire

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/infra/xray"
	"github.com/streamlimit/streamlimit/observe"
)

// Observability builds the request Observer (log lines, EMF metrics on
// metrics) and, when AWS_XRAY_DAEMON_ADDRESS is set, the X-Ray tracing
// middleware (nil otherwise: then nothing touches the X-Ray SDK).
func Observability(c config.Config, metrics io.Writer, log *slog.Logger) (*observe.Observer, func(string, http.Handler) http.Handler, error) {
	obs := observe.New(observe.ConfigFrom(c, log, metrics))
	if c.XRayDaemon == "" {
		return obs, nil, nil
	}
	x, err := xray.New(xray.Config{DaemonAddress: c.XRayDaemon, Lambda: c.Lambda, Stage: c.Stage, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	return obs, x.Trace, nil
}
