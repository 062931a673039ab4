package wire

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/infra/xray"
	"github.com/streamlimit/streamlimit/observe"
)

// Observability builds the Observer of every request and event: log lines
// on log, EMF metrics on metrics (observe.ConfigFrom), X-Ray tracing when
// AWS_XRAY_DAEMON_ADDRESS is set (otherwise nothing touches the X-Ray SDK;
// sampled by XRAY_RESERVOIR and XRAY_SAMPLE_RATE outside Lambda),
// and sinks (cmd/local's capacity counters).
func Observability(c config.Config, metrics io.Writer, log *slog.Logger, sinks ...observe.Sink) (*observe.Observer, error) {
	oc := observe.ConfigFrom(c, log, metrics)
	oc.Sinks = sinks
	if c.XRayDaemon != "" {
		x, err := xray.New(xray.Config{
			DaemonAddress: c.XRayDaemon, Lambda: c.Lambda, Stage: c.Stage, Logger: log,
			Reservoir: c.XRayReservoir, Rate: c.XRaySampleRate,
		})
		if err != nil {
			return nil, fmt.Errorf("configuration: %w", err)
		}
		oc.Tracer = x
	}
	return observe.New(oc), nil
}
