package apierr

import (
	"time"

	"github.com/streamlimit/streamlimit/lease"
)

// MaxHeaderUA bounds how much of the User-Agent header a lease keeps when
// the request names no user agent of its own.
const MaxHeaderUA = 256

// Heartbeat is the answer to a heartbeat that renewed its lease: the HTTP
// API's body, and the WebSocket API's reply after its action. It carries no
// stream count: a heartbeat reads nothing.
type Heartbeat struct {
	Result                   string `json:"result"`
	UID                      string `json:"uid"`
	LeaseID                  string `json:"leaseId"`
	ExpiresAt                string `json:"expiresAt"`
	HeartbeatIntervalSeconds int    `json:"heartbeatIntervalSeconds"`
	// RenewalToken goes back with the next heartbeat (lease.HeartbeatRequest).
	RenewalToken string `json:"renewalToken"`
}

// HeartbeatOf is the answer to lease leaseID of uid renewed as rn.
func HeartbeatOf(uid, leaseID string, rn lease.Renewal) Heartbeat {
	return Heartbeat{
		Result: "success", UID: uid, LeaseID: leaseID,
		ExpiresAt:                rn.Lease.ExpiresAt.UTC().Format(time.RFC3339),
		HeartbeatIntervalSeconds: int(rn.HeartbeatInterval / time.Second),
		RenewalToken:             rn.Token,
	}
}
