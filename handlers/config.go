package handlers

import "github.com/streamlimit/streamlimit/config"

// ConfigFrom is the part of the HTTP API's Config the environment decides:
// the route prefix (config.Config.Prefix), the CORS origins and the store
// timeout. The binary adds what it wires itself (Logger, Observer, the
// access checks, WebSocket, Static).
func ConfigFrom(c config.Config) Config {
	return Config{Prefix: c.Prefix(), AllowedOrigins: c.AllowedOrigins, StoreTimeout: c.StoreTimeout}
}
