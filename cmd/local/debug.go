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

// withCapacity serves GET /debug/capacity from m and counts every other
// request under its operation.
func withCapacity(m *capacity.Meter, prefix string, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/capacity", m)
	mux.Handle("/", capacity.Middleware(m, prefix, h))
	return mux
}
