package handlers

import (
	"context"
	"net/http"

	"github.com/streamlimit/streamlimit/apierr"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/observe"
)

// clientJSON is a player's self-description.
type clientJSON struct {
	UserAgent string `json:"userAgent,omitempty"`
	Title     string `json:"title,omitempty"`
}

// canStreamRequest is the optional body of canStream.
type canStreamRequest struct {
	DeviceID string `json:"deviceId"`
	// DeviceSecret and LeaseID prove that the caller holds a live lease,
	// which it then takes over under a new lease id (resumed). The secret
	// is only ever read from the body, never from the query string, so
	// it stays out of access logs.
	DeviceSecret string      `json:"deviceSecret"`
	LeaseID      string      `json:"leaseId"`
	Client       *clientJSON `json:"client"`
}

// sessionJSON is a live session as shown to others: no lease id.
type sessionJSON struct {
	Session   string     `json:"session"`
	DeviceID  string     `json:"deviceId,omitempty"`
	Client    clientJSON `json:"client"`
	CreatedAt string     `json:"createdAt"`
	RenewedAt string     `json:"renewedAt"`
	ExpiresAt string     `json:"expiresAt"`
}

type canStreamResponse struct {
	Result                   string `json:"result"`
	UID                      string `json:"uid"`
	CanStream                bool   `json:"canStream"`
	StreamCount              int    `json:"streamCount"`
	MaxStreams               int    `json:"maxStreams"`
	LeaseID                  string `json:"leaseId,omitempty"`
	ExpiresAt                string `json:"expiresAt,omitempty"`
	HeartbeatIntervalSeconds int    `json:"heartbeatIntervalSeconds,omitempty"`
	// RenewalToken goes back with the first heartbeat (renewalToken).
	RenewalToken string `json:"renewalToken,omitempty"`
	Resumed      bool   `json:"resumed,omitempty"`
	// Evicted lists the sessions revoked to admit this one (evict_oldest).
	Evicted []sessionJSON `json:"evicted,omitempty"`
	Streams []sessionJSON `json:"streams,omitempty"`
	// CooldownUntil is set on a refusal because this device was itself
	// evicted less than the evict cooldown ago.
	CooldownUntil string `json:"cooldownUntil,omitempty"`
	// Degraded marks a fail-open grant (FAIL_OPEN=true, store unavailable).
	Degraded bool `json:"degraded,omitempty"`
}

type endStreamResponse struct {
	Result        string `json:"result"`
	UID           string `json:"uid"`
	RemovedStream bool   `json:"removedStream"`
	StreamCount   int    `json:"streamCount"`
}

type streamsResponse struct {
	Result      string        `json:"result"`
	UID         string        `json:"uid"`
	StreamCount int           `json:"streamCount"`
	MaxStreams  int           `json:"maxStreams"`
	Policy      string        `json:"policy"`
	Streams     []sessionJSON `json:"streams"`
}

func (s *server) canStream(w http.ResponseWriter, r *http.Request) {
	var body canStreamRequest
	s.respondBody(w, r, &body, func(ctx context.Context) (any, error) {
		req := lease.Request{DeviceID: body.DeviceID, DeviceSecret: body.DeviceSecret, LeaseID: body.LeaseID}
		if req.DeviceID == "" {
			req.DeviceID = r.URL.Query().Get("deviceId")
		}
		if body.Client != nil {
			req.Client = lease.Client{UserAgent: body.Client.UserAgent, Title: body.Client.Title}
		}
		if req.Client.UserAgent == "" {
			// The header fills in, within what the body's title leaves free.
			budget := min(apierr.MaxHeaderUA, lease.MaxClientBytes-len(req.Client.Title))
			req.Client.UserAgent = apierr.Truncate(r.UserAgent(), max(budget, 0))
		}
		uid := r.PathValue("uid")
		d, err := s.svc.CanStream(ctx, uid, req)
		if err != nil {
			return nil, err
		}
		decidedGrant(r, d)
		resp := canStreamResponse{
			Result: "success", UID: uid, CanStream: d.Granted,
			StreamCount: d.StreamCount, MaxStreams: d.MaxStreams,
		}
		if d.Granted {
			resp.LeaseID = d.Lease.ID
			resp.ExpiresAt = timestamp(d.Lease.ExpiresAt)
			resp.HeartbeatIntervalSeconds = int(d.HeartbeatInterval.Seconds())
			resp.Resumed = d.Resumed
			resp.RenewalToken = d.Token
			resp.Degraded = d.Degraded
			if d.Degraded {
				s.log.WarnContext(r.Context(), "fail-open: degraded grant while the store is unavailable", "route", r.Pattern)
			}
			if len(d.Evicted) > 0 {
				resp.Evicted = toSessions(d.Evicted)
			}
		} else {
			resp.Streams = toSessions(d.Sessions)
			if !d.CooldownUntil.IsZero() {
				resp.CooldownUntil = timestamp(d.CooldownUntil)
			}
		}
		return resp, nil
	})
}

// heartbeat renews a lease; the renewal token of the last grant or renewal
// comes back as the query parameter renewalToken (a query parameter works
// for GET, POST and sendBeacon alike, and needs no CORS preflight). A
// missing or invalid token is no error: the heartbeat writes.
func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	uid, id := r.PathValue("uid"), r.PathValue("leaseId")
	s.respondBody(w, r, nil, func(ctx context.Context) (any, error) {
		req := lease.HeartbeatRequest{Token: r.URL.Query().Get("renewalToken")}
		rn, err := s.svc.Heartbeat(ctx, uid, id, req)
		if err != nil {
			return nil, err
		}
		decided(r, observe.HeartbeatDecision(rn.Skipped))
		return apierr.HeartbeatOf(uid, id, rn), nil
	})
}

func (s *server) endStream(w http.ResponseWriter, r *http.Request) {
	uid, id := r.PathValue("uid"), r.PathValue("leaseId")
	s.respondBody(w, r, nil, func(ctx context.Context) (any, error) {
		rel, err := s.svc.EndStream(ctx, uid, id)
		if err != nil {
			return nil, err
		}
		observe.From(r.Context()).End(rel.Removed)
		return endStreamResponse{Result: "success", UID: uid, RemovedStream: rel.Removed, StreamCount: rel.StreamCount}, nil
	})
}

func (s *server) missingLeaseID(w http.ResponseWriter, r *http.Request) {
	apierr.Write(w, http.StatusBadRequest, "missing_lease_id",
		"The lease id is missing: use "+r.URL.Path+"/{leaseId} with the leaseId that canStream returned.")
}

func (s *server) streams(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("uid")
	s.respond(w, r, func(ctx context.Context) (any, error) {
		l, err := s.svc.List(ctx, uid)
		if err != nil {
			return nil, err
		}
		return streamsResponse{
			Result: "success", UID: uid, StreamCount: l.StreamCount, MaxStreams: l.MaxStreams,
			Policy: string(l.Policy), Streams: toSessions(l.Sessions),
		}, nil
	})
}

// healthz is not admitted (Config.Admission): a health check must say
// whether the store answers, also while the process sheds load.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	s.respondWith(w, r, nil, func(ctx context.Context) (any, error) {
		if err := s.svc.Ping(ctx); err != nil {
			return nil, err
		}
		return map[string]string{"result": "success", "status": "ok"}, nil
	})
}

func toSessions(in []lease.Session) []sessionJSON {
	out := make([]sessionJSON, 0, len(in))
	for _, s := range in {
		out = append(out, sessionJSON{
			Session:   s.Handle,
			DeviceID:  s.DeviceID,
			Client:    clientJSON{UserAgent: s.Client.UserAgent, Title: s.Client.Title},
			CreatedAt: timestamp(s.CreatedAt),
			RenewedAt: timestamp(s.RenewedAt),
			ExpiresAt: timestamp(s.ExpiresAt),
		})
	}
	return out
}
