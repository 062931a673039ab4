package handlers

import (
	"net/http"

	"github.com/streamlimit/streamlimit/auth"
)

// authorize checks that the caller may act for the path's uid: nil when no
// identity is configured or it names that uid.
func (s *server) authorize(r *http.Request) error {
	if s.cfg.Identity == nil {
		return nil
	}
	uid, err := s.cfg.Identity(r)
	if err != nil {
		return err
	}
	if uid != r.PathValue("uid") {
		return auth.ErrForbidden
	}
	return nil
}

// authorizeAdmin checks the admin credential; no AdminAuth configured means
// the admin routes are disabled.
func (s *server) authorizeAdmin(r *http.Request) error {
	if s.cfg.Admin == nil {
		return auth.ErrAdminDisabled
	}
	return s.cfg.Admin(r)
}

// handler is the type of a route's handler in the route table.
type handler = func(*server, http.ResponseWriter, *http.Request)

// account guards a route that acts for the path's {uid}: with
// Config.Identity set, the caller's credential must name that uid.
func account(h handler) handler { return guarded((*server).authorize, h) }

// admin guards an admin route with Config.Admin.
func admin(h handler) handler { return guarded((*server).authorizeAdmin, h) }

func guarded(check func(*server, *http.Request) error, h handler) handler {
	return func(s *server, w http.ResponseWriter, r *http.Request) {
		if err := check(s, r); err != nil {
			s.fail(w, r, err) // 401s carry WWW-Authenticate
			return
		}
		h(s, w, r)
	}
}
