package config

import (
	"strings"
	"time"
)

// LOG_UID, LOG_FORMAT and METRICS values.
const (
	LogUIDHashed = "hashed" // LOG_UID: uids logged as a keyed hash (default)
	LogUIDPlain  = "plain"  // LOG_UID: uids logged as they are
	LogJSON      = "json"   // LOG_FORMAT: one JSON object per line (default)
	LogText      = "text"   // LOG_FORMAT: key=value lines, for a terminal
	MetricsEMF   = "emf"    // METRICS: CloudWatch EMF lines (default)
	MetricsOff   = "off"    // METRICS: none
)

// Observability defaults.
const (
	// DefaultLogSampleRate is LOG_SAMPLE_RATE's default: one successful
	// request in a hundred is logged (errors, refusals and revocations
	// always are).
	DefaultLogSampleRate = 0.01
	// DefaultMetricsFlush is METRICS_FLUSH_SECONDS' default: CloudWatch's
	// standard resolution.
	DefaultMetricsFlush = time.Minute
	// DefaultXRaySampleRate and DefaultXRayReservoir are the long-running
	// server's trace sampling: 1 request a second, then 1 % of the rest.
	DefaultXRaySampleRate = 0.01
	DefaultXRayReservoir  = 1
)

// MinLogUIDKeyLen is the shortest LOG_UID_KEY accepted.
const MinLogUIDKeyLen = 16

// loadObserve reads the logging, metrics and tracing settings.
func (c *Config) loadObserve(e *env) {
	c.LogUID = e.oneOf("LOG_UID", LogUIDHashed, LogUIDHashed, LogUIDPlain)
	c.LogUIDKey = e.secret("LOG_UID_KEY", MinLogUIDKeyLen, "bytes")
	c.LogSampleRate = e.share("LOG_SAMPLE_RATE", DefaultLogSampleRate)
	c.LogFormat = e.oneOf("LOG_FORMAT", LogJSON, LogJSON, LogText)
	c.Metrics = e.oneOf("METRICS", MetricsEMF, MetricsEMF, MetricsOff) == MetricsEMF
	c.MetricsNamespace = or(e.getenv("METRICS_NAMESPACE"), DefaultNamespace)
	if len(c.MetricsNamespace) > 255 || strings.ContainsAny(c.MetricsNamespace, ":") {
		e.bad("METRICS_NAMESPACE=%q must be 1-255 characters without ':'", c.MetricsNamespace)
	}
	c.MetricsFlush = DefaultMetricsFlush
	if e.getenv("METRICS_FLUSH_SECONDS") != "" {
		c.MetricsFlush = time.Duration(e.num("METRICS_FLUSH_SECONDS", 60)) * time.Second
		if c.MetricsFlush < time.Second || c.MetricsFlush > time.Hour {
			e.bad("METRICS_FLUSH_SECONDS=%q is not 1-3600", e.getenv("METRICS_FLUSH_SECONDS"))
		}
	}
	c.XRaySampleRate = e.share("XRAY_SAMPLE_RATE", DefaultXRaySampleRate)
	c.XRayReservoir = e.num("XRAY_RESERVOIR", DefaultXRayReservoir)
	c.XRayDaemon = e.getenv("AWS_XRAY_DAEMON_ADDRESS")
	c.Lambda = e.getenv("AWS_LAMBDA_FUNCTION_NAME") != ""
}
