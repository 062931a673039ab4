package main

import (
	"net/http"
	"strings"

	"github.com/streamlimit/streamlimit/observe/capacity"
)

// debugCapacity turns on the capacity counters when DEBUG_CAPACITY is true:
// the store reports every DynamoDB call (with ReturnConsumedCapacity TOTAL)
// and GET /debug/capacity answers the calls and capacity units per API
// operation (see observe/capacity). For load tests and benchmarks only; it
// returns nil when the variable is not set.
func debugCapacity(getenv func(string) string) *capacity.Meter {
	switch strings.ToLower(getenv("DEBUG_CAPACITY")) {
	case "1", "true", "yes":
	default:
		return nil
	}
	return capacity.New()
}

// withCapacity serves GET /debug/capacity from m beside h. The requests and
// events themselves are counted by m as a sink of their observe records,
// under the operation names of the logs and metrics.
func withCapacity(m *capacity.Meter, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/capacity", m)
	mux.Handle("/", h)
	return mux
}
