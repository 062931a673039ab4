package main

import (
	"net/http"
	"strings"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

// debugCapacity turns on the capacity counters when DEBUG_CAPACITY is true:
// the store reports every DynamoDB call (with ReturnConsumedCapacity TOTAL)
// and GET /debug/capacity answers the calls and capacity units per API
// operation (see observe/capacity). For load tests and benchmarks only; it
// returns nil when the variable is not set.
func debugCapacity(getenv func(string) string) *capacity.Meter {
	if !debugOn(getenv("DEBUG_CAPACITY")) {
		return nil
	}
	return capacity.New()
}

// debugAdmission returns lim when DEBUG_ADMISSION is true (and admission is
// on): GET /debug/admission then answers its state (admission.State: the
// limit, what is in flight and queued, the rate the waits are estimated
// from, and the counts of admitted, queued and refused requests) with the
// settings in force. It costs nothing to keep, but tells whoever can reach
// the port how loaded the process is, so it is off by default.
func debugAdmission(getenv func(string) string, lim *admission.Limiter) *admission.Limiter {
	if lim == nil || !debugOn(getenv("DEBUG_ADMISSION")) {
		return nil
	}
	return lim
}

func debugOn(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// withDebug serves the debug endpoints asked for beside h: GET
// /debug/capacity from m (the requests and events themselves are counted
// by m as a sink of their observe records, under the operation names of
// the logs and metrics) and GET /debug/admission from lim. Nil ones are
// not served.
func withDebug(h http.Handler, m *capacity.Meter, lim *admission.Limiter) http.Handler {
	if m == nil && lim == nil {
		return h
	}
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /debug/capacity", m)
	}
	if lim != nil {
		mux.Handle("GET /debug/admission", lim)
	}
	mux.Handle("/", h)
	return mux
}
