package config

import (
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// Admission is the overload protection of one process (package admission,
// and lease.WithAccountQueue / lease.WithCommitGuard), from ADMISSION,
// ADMISSION_MAX_WAIT_MS, ADMISSION_TARGET_MS, ADMISSION_MIN_INFLIGHT,
// ADMISSION_MAX_INFLIGHT and ACCOUNT_QUEUE.
type Admission struct {
	// On (ADMISSION=on, the default; off turns it off) bounds the store
	// work in flight and refuses the excess at once with 503 overloaded;
	// it also turns on the commit guard (a grant's write is not sent with
	// less time left than such writes take).
	On bool
	// MaxWait (ADMISSION_MAX_WAIT_MS; default STORE_TIMEOUT_MS minus
	// Target, 4/5 of it) is the longest estimated wait a request is queued
	// for: a queued request keeps at least Target for its store work.
	MaxWait time.Duration
	// Target (ADMISSION_TARGET_MS; default STORE_TIMEOUT_MS/5) is the
	// longest duration of store work the adaptive limit grows under (it
	// also stops growing at 4 times the fastest recent work).
	Target time.Duration
	// MinInFlight and MaxInFlight (ADMISSION_MIN_INFLIGHT 8,
	// ADMISSION_MAX_INFLIGHT 256) bound the adaptive limit; it starts at
	// 16 (or the nearest bound).
	MinInFlight, MaxInFlight int
	// AccountQueue (ACCOUNT_QUEUE=on, the default; off) makes one
	// account's canStream calls in this process take turns instead of
	// racing each other through the store (lease.WithAccountQueue).
	AccountQueue bool
}

// Admission defaults.
const (
	DefaultAdmissionMinInFlight = 8
	DefaultAdmissionMaxInFlight = 256
)

// loadAdmission reads the overload protection settings (after
// STORE_TIMEOUT_MS, whose shares are its defaults).
func (c *Config) loadAdmission(e *env) {
	a := &c.Admission
	budget := c.StoreTimeout
	if budget <= 0 {
		budget = 1500 * time.Millisecond // the HTTP API's own default
	}
	a.On = e.oneOf("ADMISSION", "on", "on", "off") == "on"
	a.AccountQueue = e.oneOf("ACCOUNT_QUEUE", "on", "on", "off") == "on"
	a.Target = time.Duration(e.num("ADMISSION_TARGET_MS", int(budget/5/time.Millisecond))) * time.Millisecond
	a.MaxWait = time.Duration(e.num("ADMISSION_MAX_WAIT_MS", int((budget-a.Target)/time.Millisecond))) * time.Millisecond
	a.MinInFlight = e.num("ADMISSION_MIN_INFLIGHT", DefaultAdmissionMinInFlight)
	a.MaxInFlight = e.num("ADMISSION_MAX_INFLIGHT", DefaultAdmissionMaxInFlight)
	switch {
	case a.Target <= 0 || a.Target >= budget:
		e.bad("ADMISSION_TARGET_MS=%d must be above 0 and below STORE_TIMEOUT_MS (%d)", a.Target.Milliseconds(), budget.Milliseconds())
	case a.MaxWait <= 0 || a.MaxWait >= budget:
		e.bad("ADMISSION_MAX_WAIT_MS=%d must be above 0 and below STORE_TIMEOUT_MS (%d)", a.MaxWait.Milliseconds(), budget.Milliseconds())
	case a.MinInFlight < 1 || a.MaxInFlight < a.MinInFlight:
		e.bad("ADMISSION_MIN_INFLIGHT=%d and ADMISSION_MAX_INFLIGHT=%d must satisfy 1 <= min <= max", a.MinInFlight, a.MaxInFlight)
	}
}

// overloadOptions are the lease options of the overload protection.
func (c Config) overloadOptions() []lease.Option {
	return []lease.Option{lease.WithAccountQueue(c.Admission.AccountQueue), lease.WithCommitGuard(c.Admission.On)}
}
