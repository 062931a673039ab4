package config

import "strings"

// LOG_UID and METRICS values.
const (
	LogUIDHashed = "hashed" // LOG_UID: uids logged as a keyed hash (default)
	LogUIDPlain  = "plain"  // LOG_UID: uids logged as they are
	MetricsEMF   = "emf"    // METRICS: CloudWatch EMF lines (default)
	MetricsOff   = "off"    // METRICS: none
)

// MinLogUIDKeyLen is the shortest LOG_UID_KEY accepted.
const MinLogUIDKeyLen = 16

// loadObserve reads the logging, metrics and tracing settings.
func (c *Config) loadObserve(e *env) {
	c.LogUID = e.oneOf("LOG_UID", LogUIDHashed, LogUIDHashed, LogUIDPlain)
	c.LogUIDKey = e.secret("LOG_UID_KEY", MinLogUIDKeyLen, "bytes")
	c.Metrics = e.oneOf("METRICS", MetricsEMF, MetricsEMF, MetricsOff) == MetricsEMF
	c.MetricsNamespace = or(e.getenv("METRICS_NAMESPACE"), DefaultNamespace)
	if len(c.MetricsNamespace) > 255 || strings.ContainsAny(c.MetricsNamespace, ":") {
		e.bad("METRICS_NAMESPACE=%q must be 1-255 characters without ':'", c.MetricsNamespace)
	}
	c.XRayDaemon = e.getenv("AWS_XRAY_DAEMON_ADDRESS")
	c.Lambda = e.getenv("AWS_LAMBDA_FUNCTION_NAME") != ""
}
