package handlers

import (
	"context"
	"net/http"

	"github.com/streamlimit/streamlimit/lease"
)

// kickResponse answers the end of one session by its handle.
type kickResponse struct {
	Result        string `json:"result"`
	UID           string `json:"uid"`
	Session       string `json:"session"`
	RemovedStream bool   `json:"removedStream"`
	StreamCount   int    `json:"streamCount"`
}

// limitRequest is the body of PUT /admin/accounts/{uid}/limit.
type limitRequest struct {
	MaxStreams *int `json:"maxStreams"`
}

// limitResponse is the limit in force after an admin change.
type limitResponse struct {
	Result     string `json:"result"`
	UID        string `json:"uid"`
	MaxStreams int    `json:"maxStreams"`
	// Override is true when the account has its own limit, false when the
	// deployment's default applies.
	Override bool `json:"override"`
}

// policyRequest is the body of PUT /admin/accounts/{uid}/policy.
type policyRequest struct {
	Policy string `json:"policy"`
}

// policyResponse is the at-limit policy in force after an admin change.
type policyResponse struct {
	Result   string `json:"result"`
	UID      string `json:"uid"`
	Policy   string `json:"policy"`
	Override bool   `json:"override"`
}

// kick ends one live session of the account by the handle the streams
// listing shows (reason kicked): its player's next heartbeat is told so.
func (s *server) kick(w http.ResponseWriter, r *http.Request) {
	s.revokeSession(w, r, lease.RevokedKicked)
}

// adminRevoke is kick for operators (reason admin).
func (s *server) adminRevoke(w http.ResponseWriter, r *http.Request) {
	s.revokeSession(w, r, lease.RevokedAdmin)
}

func (s *server) revokeSession(w http.ResponseWriter, r *http.Request, reason string) {
	uid, handle := r.PathValue("uid"), r.PathValue("session")
	s.respondBody(w, r, nil, func(ctx context.Context) (any, error) {
		rel, err := s.svc.Kick(ctx, uid, handle, reason)
		if err != nil {
			return nil, err
		}
		return kickResponse{
			Result: "success", UID: uid, Session: handle, RemovedStream: rel.Removed, StreamCount: rel.StreamCount,
		}, nil
	})
}

// endAll ends every live session of the account (reason kicked).
func (s *server) endAll(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("uid")
	s.respondBody(w, r, nil, func(ctx context.Context) (any, error) {
		rel, err := s.svc.EndAll(ctx, uid, lease.RevokedKicked)
		if err != nil {
			return nil, err
		}
		return endStreamResponse{Result: "success", UID: uid, RemovedStream: rel.Removed, StreamCount: rel.StreamCount}, nil
	})
}

func (s *server) setLimit(w http.ResponseWriter, r *http.Request) {
	var body limitRequest
	uid := r.PathValue("uid")
	s.respondBody(w, r, &body, func(ctx context.Context) (any, error) {
		if !lease.ValidUID(uid) {
			return nil, lease.ErrInvalidUID
		}
		if body.MaxStreams == nil {
			return nil, lease.ErrInvalidLimit
		}
		if err := s.svc.SetLimit(ctx, uid, *body.MaxStreams); err != nil {
			return nil, err
		}
		return limitResponse{Result: "success", UID: uid, MaxStreams: *body.MaxStreams, Override: true}, nil
	})
}

func (s *server) clearLimit(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("uid")
	s.respondBody(w, r, nil, func(ctx context.Context) (any, error) {
		if err := s.svc.ClearLimit(ctx, uid); err != nil {
			return nil, err
		}
		return limitResponse{Result: "success", UID: uid, MaxStreams: s.svc.MaxStreams()}, nil
	})
}

func (s *server) setPolicy(w http.ResponseWriter, r *http.Request) {
	var body policyRequest
	uid := r.PathValue("uid")
	s.respondBody(w, r, &body, func(ctx context.Context) (any, error) {
		if err := s.svc.SetPolicy(ctx, uid, lease.Policy(body.Policy)); err != nil {
			return nil, err
		}
		return policyResponse{Result: "success", UID: uid, Policy: body.Policy, Override: true}, nil
	})
}

func (s *server) clearPolicy(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("uid")
	s.respondBody(w, r, nil, func(ctx context.Context) (any, error) {
		if err := s.svc.ClearPolicy(ctx, uid); err != nil {
			return nil, err
		}
		return policyResponse{Result: "success", UID: uid, Policy: string(s.svc.Policy())}, nil
	})
}

// limitRoute serves PUT (set) and DELETE (clear) of an account's limit.
func limitRoute(s *server, w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.clearLimit(w, r)
		return
	}
	s.setLimit(w, r)
}

// policyRoute serves PUT (set) and DELETE (clear) of an account's policy.
func policyRoute(s *server, w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.clearPolicy(w, r)
		return
	}
	s.setPolicy(w, r)
}
