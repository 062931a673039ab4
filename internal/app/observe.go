package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/streamlimit/streamlimit/infra"
	"github.com/streamlimit/streamlimit/observe"
)

// LOG_UID and METRICS values.
const (
	LogUIDHashed = "hashed" // LOG_UID: uids logged as a keyed hash (default)
	LogUIDPlain  = "plain"  // LOG_UID: uids logged as they are
	MetricsEMF   = "emf"    // METRICS: CloudWatch EMF lines (default)
	MetricsOff   = "off"    // METRICS: none
)

// MinLogUIDKeyLen is the shortest LOG_UID_KEY accepted.
const MinLogUIDKeyLen = 16

// loadObserve reads the logging, metrics and tracing settings; it returns
// one message per malformed variable.
func (c *Config) loadObserve(getenv func(string) string) []string {
	var errs []string
	c.LogUID = strings.ToLower(or(getenv("LOG_UID"), LogUIDHashed))
	if c.LogUID != LogUIDHashed && c.LogUID != LogUIDPlain {
		errs = append(errs, fmt.Sprintf("LOG_UID=%q is not hashed or plain", c.LogUID))
	}
	c.LogUIDKey = getenv("LOG_UID_KEY")
	if c.LogUIDKey != "" && len(c.LogUIDKey) < MinLogUIDKeyLen {
		errs = append(errs, fmt.Sprintf("LOG_UID_KEY has %d bytes; want at least %d", len(c.LogUIDKey), MinLogUIDKeyLen))
	}
	switch v := strings.ToLower(or(getenv("METRICS"), MetricsEMF)); v {
	case MetricsEMF:
		c.Metrics = true
	case MetricsOff:
	default:
		errs = append(errs, fmt.Sprintf("METRICS=%q is not emf or off", v))
	}
	c.MetricsNamespace = or(getenv("METRICS_NAMESPACE"), observe.DefaultNamespace)
	if len(c.MetricsNamespace) > 255 || strings.ContainsAny(c.MetricsNamespace, ":") {
		errs = append(errs, fmt.Sprintf("METRICS_NAMESPACE=%q must be 1-255 characters without ':'", c.MetricsNamespace))
	}
	c.XRayDaemon = getenv("AWS_XRAY_DAEMON_ADDRESS")
	c.Lambda = getenv("AWS_LAMBDA_FUNCTION_NAME") != ""
	return errs
}

// observability builds the request Observer (log lines, EMF metrics) and,
// when AWS_XRAY_DAEMON_ADDRESS is set, the X-Ray tracing middleware (nil
// otherwise: then nothing touches the X-Ray SDK).
func (c Config) observability(log *slog.Logger) (*observe.Observer, func(string, http.Handler) http.Handler, error) {
	oc := observe.Config{
		Logger: log, Namespace: c.MetricsNamespace, Stage: c.Stage,
		PlainUID: c.LogUID == LogUIDPlain, UIDKey: []byte(c.LogUIDKey),
	}
	if c.Metrics {
		oc.Metrics = c.MetricsOutput
	}
	obs := observe.New(oc)
	if c.XRayDaemon == "" {
		return obs, nil, nil
	}
	x, err := infra.NewXRay(infra.XRayConfig{DaemonAddress: c.XRayDaemon, Lambda: c.Lambda, Stage: c.Stage, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	return obs, x.Trace, nil
}
