package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/auth"
	"github.com/streamlimit/streamlimit/auth/issuer"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/testenv/idp"
	"github.com/streamlimit/streamlimit/lease"
)

// The harness's faultStore fails the account-control store calls too.

func (f *faultStore) SetLimit(ctx context.Context, uid string, limit int) error {
	if err := f.fault("SetLimit"); err != nil {
		return err
	}
	return f.Store.SetLimit(ctx, uid, limit)
}

func (f *faultStore) SetPolicy(ctx context.Context, uid string, p lease.Policy) error {
	if err := f.fault("SetPolicy"); err != nil {
		return err
	}
	return f.Store.SetPolicy(ctx, uid, p)
}

func (f *faultStore) Revoke(ctx context.Context, uid string, rs []lease.Revocation) error {
	if err := f.fault("Revoke"); err != nil {
		return err
	}
	return f.Store.Revoke(ctx, uid, rs)
}

// presentCredential is the spec validator's authentication: a request meets
// a security scheme when it carries that scheme's kind of credential (the
// server decides whether it is valid).
func presentCredential(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	authz := in.RequestValidationInput.Request.Header.Get("Authorization")
	switch s := in.SecurityScheme; {
	case s.Type == "http" && s.Scheme == "bearer" && strings.HasPrefix(authz, "Bearer "):
		return nil
	case s.Type == "apiKey" && strings.HasPrefix(authz, "AWS4-HMAC-SHA256 "):
		return nil
	}
	return fmt.Errorf("no %s credential", in.SecuritySchemeName)
}

const testAdminToken = "a-test-admin-token"

// bearer returns an Authorization header.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// withIdentityAndAdmin configures AUTH_MODE=jwt (tokens of p) and an admin
// token.
func withIdentityAndAdmin(t *testing.T, p *idp.Provider) func(*handlers.Config) {
	return func(c *handlers.Config) {
		v, err := auth.NewJWKS(t.Context(), auth.JWKSConfig{URL: p.JWKSURL, Issuer: idp.Issuer, Audience: idp.Audience})
		if err != nil {
			t.Fatal(err)
		}
		c.Identity, c.Admin = auth.Bearer(v), auth.AdminToken(testAdminToken)
	}
}

// grantIDs acquires one lease per device for uid and returns their ids.
func (h *harness) grantIDs(uid string, header map[string]string, devices ...string) []string {
	h.t.Helper()
	var ids []string
	for _, d := range devices {
		g := h.do(call{method: "POST", path: "/dev/canStream/" + uid, ctype: "application/json",
			body: `{"deviceId":"` + d + `"}`, header: header, status: 200})
		id, _ := g["leaseId"].(string)
		if g["canStream"] != true || id == "" {
			h.t.Fatalf("grant %s/%s: %v", uid, d, g)
		}
		ids = append(ids, id)
	}
	return ids
}

// handles returns the session handles of uid's listing, by device.
func (h *harness) handles(uid string, header map[string]string) map[string]string {
	h.t.Helper()
	l := h.do(call{method: "GET", path: "/dev/streams/" + uid, header: header, status: 200})
	out := map[string]string{}
	for _, s := range l["streams"].([]any) {
		m := s.(map[string]any)
		dev, _ := m["deviceId"].(string)
		out[dev] = m["session"].(string)
	}
	return out
}

// walkControls drives every documented answer of the account controls and
// admin routes, and the identity answers (401, 403) of every account route:
// on h (no identity, admin disabled) and on a second API with JWT
// identities and an admin token, whose answers count for h's tally.
func walkControls(t *testing.T, h *harness) {
	const ctJSON = "application/json"
	getPost := []string{http.MethodGet, http.MethodPost}
	big := strings.Repeat("x", handlers.MaxBodyBytes+1)
	unavailable := fmt.Errorf("%w: injected outage", lease.ErrUnavailable)
	unexpected := errors.New("injected bug")
	const handle0 = "0123456789abcdef"
	adminH := bearer(testAdminToken)

	// --- Kick and end-all, without identities. ---
	uid := "kick-1"
	ids := h.grantIDs(uid, nil, "tv", "phone", "laptop")
	hs := h.handles(uid, nil)
	k := h.do(call{method: "POST", path: "/dev/streams/" + uid + "/" + hs["tv"] + "/end", status: 200})
	if k["removedStream"] != true || k["streamCount"] != float64(2) || k["session"] != hs["tv"] {
		t.Fatalf("kick: %v", k)
	}
	for _, m := range getPost {
		r := h.do(call{method: m, path: "/dev/heartbeat/" + uid + "/" + ids[0], status: 410, code: "lease_revoked"})
		if r["reason"] != "kicked" {
			t.Fatalf("heartbeat of a kicked lease: %v; want reason kicked", r)
		}
	}
	if e := h.do(call{method: "POST", path: "/dev/endStream/" + uid + "/" + ids[0], status: 200}); e["removedStream"] != false {
		t.Fatalf("endStream of a kicked lease: %v", e)
	}
	// A kicked player does not come back with its old lease id.
	if r := h.do(call{method: "POST", path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"deviceId": "tv", "leaseId": "` + ids[0] + `"}`,
		status: 410, code: "lease_revoked"}); r["reason"] != "kicked" {
		t.Fatalf("canStream with a kicked lease id: %v; want reason kicked", r)
	}
	h.do(call{method: "POST", path: "/dev/streams/" + uid + "/" + hs["tv"] + "/end", status: 404, code: "session_not_found"})
	h.do(call{method: "POST", path: "/dev/streams/" + uid + "/NOT-A-HANDLE/end", status: 400, code: "invalid_session", specRejects: true})
	h.do(call{method: "POST", path: "/dev/streams/bad!uid/" + handle0 + "/end", status: 400, code: "invalid_uid", specRejects: true})
	h.do(call{method: "POST", path: "/dev/streams/bad!uid/end", status: 400, code: "invalid_uid", specRejects: true})
	if e := h.do(call{method: "POST", path: "/dev/streams/" + uid + "/end", status: 200}); e["removedStream"] != true || e["streamCount"] != float64(0) {
		t.Fatalf("end all: %v", e)
	}
	for _, id := range ids[1:] {
		if r := h.do(call{method: "GET", path: "/dev/heartbeat/" + uid + "/" + id, status: 410, code: "lease_revoked"}); r["reason"] != "kicked" {
			t.Fatalf("heartbeat after end all: %v", r)
		}
	}
	if e := h.do(call{method: "POST", path: "/dev/streams/" + uid + "/end", status: 200}); e["removedStream"] != false {
		t.Fatalf("end all on an empty account: %v", e)
	}
	for _, p := range []string{"/dev/streams/" + uid + "/end", "/dev/streams/" + uid + "/" + handle0 + "/end"} {
		h.doRaw(call{method: "POST", path: p, status: 400, code: "invalid_body"},
			"POST "+p+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n")
		h.do(call{method: "POST", path: p, ctype: "text/plain", body: big, status: 413, code: "body_too_large", specRejects: true})
		h.store.inject("Load", unavailable)
		h.do(call{method: "POST", path: p, status: 503, code: "store_unavailable"})
		h.storeBusy("Load", call{method: "POST", path: p})
		h.store.inject("Load", unexpected)
		h.do(call{method: "POST", path: p, status: 500, code: "internal"})
		h.store.inject("Load", lease.ErrConflict)
		h.do(call{method: "POST", path: p, status: 503, code: "contention"})
		h.store.inject("", nil)
	}

	// --- Admin routes are disabled without an admin credential. ---
	admin := []call{
		{method: "PUT", path: "/dev/admin/accounts/" + uid + "/limit", ctype: ctJSON, body: `{"maxStreams": 2}`},
		{method: "DELETE", path: "/dev/admin/accounts/" + uid + "/limit"},
		{method: "PUT", path: "/dev/admin/accounts/" + uid + "/policy", ctype: ctJSON, body: `{"policy": "evict_oldest"}`},
		{method: "DELETE", path: "/dev/admin/accounts/" + uid + "/policy"},
		{method: "POST", path: "/dev/admin/accounts/" + uid + "/sessions/" + handle0 + "/revoke"},
	}
	for _, c := range admin {
		c.header, c.status, c.code = adminH, 403, "admin_disabled"
		h.do(c)
	}
	if l := h.do(call{method: "GET", path: "/dev/streams/" + uid, status: 200}); l["maxStreams"] != float64(3) || l["policy"] != "block_new" {
		t.Fatalf("a disabled admin route changed the account: %v", l)
	}

	// --- With JWT identities and an admin token. ---
	p := idp.Start(t)
	j := newHarness(t, withIdentityAndAdmin(t, p))
	defer func() {
		for o := range j.seen {
			h.seen[o] = true
		}
	}()
	x, y := "viewer-x", "viewer-y"
	xTok, yTok := p.Bearer(t, x), p.Bearer(t, y)
	expired := bearer(p.Signed(t, p.KID(issuer.ES256), x, time.Now().Add(-2*time.Hour), time.Hour))
	xIDs := j.grantIDs(x, xTok, "tv", "phone")
	xh := j.handles(x, xTok)
	accountCalls := []call{
		{method: "GET", path: "/dev/canStream/" + x},
		{method: "POST", path: "/dev/canStream/" + x},
		{method: "GET", path: "/dev/heartbeat/" + x + "/" + xIDs[0]},
		{method: "POST", path: "/dev/heartbeat/" + x + "/" + xIDs[0]},
		{method: "GET", path: "/dev/endStream/" + x + "/" + xIDs[0]},
		{method: "POST", path: "/dev/endStream/" + x + "/" + xIDs[0]},
		{method: "GET", path: "/dev/streams/" + x},
		{method: "POST", path: "/dev/streams/" + x + "/end"},
		{method: "POST", path: "/dev/streams/" + x + "/" + xh["tv"] + "/end"},
	}
	for _, c := range accountCalls {
		none, other, bad := c, c, c
		none.status, none.code = 401, "unauthorized"
		j.do(none)
		other.header, other.status, other.code = yTok, 403, "forbidden"
		j.do(other)
		bad.header, bad.status, bad.code = bearer("not.a.jwt"), 401, "unauthorized"
		j.do(bad)
		late := c
		late.header, late.status, late.code = expired, 401, "unauthorized"
		j.do(late)
	}
	if l := j.do(call{method: "GET", path: "/dev/streams/" + x, header: xTok, status: 200}); l["streamCount"] != float64(2) {
		t.Fatalf("y's calls changed x's account: %v", l)
	}
	// Lease ids stay capabilities: y, on its own path, cannot use x's lease.
	j.do(call{method: "POST", path: "/dev/heartbeat/" + y + "/" + xIDs[0], header: yTok, status: 410, code: "lease_expired"})
	if e := j.do(call{method: "POST", path: "/dev/endStream/" + y + "/" + xIDs[0], header: yTok, status: 200}); e["removedStream"] != false {
		t.Fatalf("y ended x's lease: %v", e)
	}
	j.do(call{method: "POST", path: "/dev/streams/" + y + "/" + xh["tv"] + "/end", header: yTok, status: 404, code: "session_not_found"})
	j.do(call{method: "POST", path: "/dev/heartbeat/" + x + "/" + xIDs[0], header: xTok, status: 200})

	// Admin: 401 without or with a wrong token.
	for _, c := range admin {
		missing, wrong := c, c
		missing.status, missing.code, missing.specRejects = 401, "unauthorized", true
		j.do(missing)
		wrong.header, wrong.status, wrong.code = bearer(testAdminToken+"x"), 401, "unauthorized"
		j.do(wrong)
	}
	if l := j.do(call{method: "GET", path: "/dev/streams/" + x, header: xTok, status: 200}); l["maxStreams"] != float64(3) {
		t.Fatalf("a refused admin call changed the limit: %v", l)
	}
	// Plan limit and policy, and their effect on canStream.
	adm := "/dev/admin/accounts/" + x
	if r := j.do(call{method: "PUT", path: adm + "/limit", ctype: ctJSON, body: `{"maxStreams": 2}`, header: adminH, status: 200}); r["maxStreams"] != float64(2) || r["override"] != true {
		t.Fatalf("set limit: %v", r)
	}
	if r := j.do(call{method: "POST", path: "/dev/canStream/" + x, header: xTok, status: 200}); r["canStream"] != false || r["maxStreams"] != float64(2) {
		t.Fatalf("canStream after limit 2 with 2 live: %v", r)
	}
	if r := j.do(call{method: "PUT", path: adm + "/policy", ctype: ctJSON, body: `{"policy": "evict_oldest"}`, header: adminH, status: 200}); r["policy"] != "evict_oldest" || r["override"] != true {
		t.Fatalf("set policy: %v", r)
	}
	ev := j.do(call{method: "POST", path: "/dev/canStream/" + x, ctype: ctJSON, body: `{"deviceId":"laptop"}`, header: xTok, status: 200})
	// (The harness's clock stands still: tv and phone are equally old.)
	evicted, _ := ev["evicted"].([]any)
	if ev["canStream"] != true || len(evicted) != 1 {
		t.Fatalf("evict_oldest newcomer: %v; want one session evicted", ev)
	}
	gone, _ := evicted[0].(map[string]any)["deviceId"].(string)
	goneID := map[string]string{"tv": xIDs[0], "phone": xIDs[1]}[gone]
	if r := j.do(call{method: "GET", path: "/dev/heartbeat/" + x + "/" + goneID, header: xTok, status: 410, code: "lease_revoked"}); r["reason"] != "evicted_oldest" {
		t.Fatalf("evicted heartbeat: %v", r)
	}
	cd := j.do(call{method: "POST", path: "/dev/canStream/" + x, ctype: ctJSON, body: `{"deviceId":"` + gone + `"}`, header: xTok, status: 200})
	if cd["canStream"] != false || cd["cooldownUntil"] == nil {
		t.Fatalf("the evicted tv evicts back: %v; want refused with cooldownUntil", cd)
	}
	if r := j.do(call{method: "DELETE", path: adm + "/policy", header: adminH, status: 200}); r["policy"] != "block_new" || r["override"] != false {
		t.Fatalf("clear policy: %v", r)
	}
	if r := j.do(call{method: "DELETE", path: adm + "/limit", header: adminH, status: 200}); r["maxStreams"] != float64(3) || r["override"] != false {
		t.Fatalf("clear limit: %v", r)
	}
	// Operator revocation of the one that stayed.
	kept := map[string]string{"tv": "phone", "phone": "tv"}[gone]
	keptID := map[string]string{"tv": xIDs[0], "phone": xIDs[1]}[kept]
	xh = j.handles(x, xTok)
	rv := j.do(call{method: "POST", path: adm + "/sessions/" + xh[kept] + "/revoke", header: adminH, status: 200})
	if rv["removedStream"] != true || rv["streamCount"] != float64(1) {
		t.Fatalf("admin revoke: %v", rv)
	}
	if r := j.do(call{method: "POST", path: "/dev/heartbeat/" + x + "/" + keptID, header: xTok, status: 410, code: "lease_revoked"}); r["reason"] != "admin" {
		t.Fatalf("heartbeat after admin revoke: %v", r)
	}
	j.do(call{method: "POST", path: adm + "/sessions/" + xh[kept] + "/revoke", header: adminH, status: 404, code: "session_not_found"})
	j.do(call{method: "POST", path: adm + "/sessions/XYZ/revoke", header: adminH, status: 400, code: "invalid_session", specRejects: true})

	// Bad admin requests change nothing.
	bad := []call{
		{method: "PUT", path: adm + "/limit", ctype: ctJSON, body: `{"maxStreams": 0}`, code: "invalid_limit"},
		{method: "PUT", path: adm + "/limit", ctype: ctJSON, body: `{"maxStreams": 51}`, code: "invalid_limit"},
		{method: "PUT", path: adm + "/limit", ctype: ctJSON, body: `{}`, code: "invalid_limit"},
		{method: "PUT", path: adm + "/limit", ctype: ctJSON, body: `{"maxStreams": "2"}`, code: "invalid_body"},
		{method: "PUT", path: adm + "/limit", ctype: ctJSON, body: `[2]`, code: "invalid_body"},
		{method: "PUT", path: adm + "/policy", ctype: ctJSON, body: `{"policy": "lottery"}`, code: "invalid_policy"},
		{method: "PUT", path: adm + "/policy", ctype: ctJSON, body: `{}`, code: "invalid_policy"},
		{method: "PUT", path: adm + "/policy", ctype: ctJSON, body: `{"policy": 1}`, code: "invalid_body"},
		{method: "PUT", path: "/dev/admin/accounts/bad!uid/limit", ctype: ctJSON, body: `{"maxStreams": 2}`, code: "invalid_uid"},
		{method: "DELETE", path: "/dev/admin/accounts/bad!uid/limit", code: "invalid_uid"},
		{method: "PUT", path: "/dev/admin/accounts/bad!uid/policy", ctype: ctJSON, body: `{"policy": "block_new"}`, code: "invalid_uid"},
		{method: "DELETE", path: "/dev/admin/accounts/bad!uid/policy", code: "invalid_uid"},
		{method: "POST", path: "/dev/admin/accounts/bad!uid/sessions/" + handle0 + "/revoke", code: "invalid_uid"},
	}
	for _, c := range bad {
		c.header, c.status, c.specRejects = adminH, 400, true
		j.do(c)
	}
	for _, c := range admin {
		c.path = strings.Replace(c.path, "/"+uid+"/", "/"+x+"/", 1)
		if c.method != "PUT" {
			j.doRaw(call{method: c.method, path: c.path, status: 400, code: "invalid_body"},
				c.method+" "+c.path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testAdminToken+
					"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n")
		}
		tooBig := c
		tooBig.header, tooBig.ctype, tooBig.body, tooBig.status, tooBig.code, tooBig.specRejects = adminH, "text/plain", big, 413, "body_too_large", true
		j.do(tooBig)
		storeMethod := map[string]string{"limit": "SetLimit", "policy": "SetPolicy", "revoke": "Load"}[c.path[strings.LastIndex(c.path, "/")+1:]]
		c.header = adminH
		j.store.inject(storeMethod, unavailable)
		c.status, c.code = 503, "store_unavailable"
		j.do(c)
		j.storeBusy(storeMethod, c)
		j.store.inject(storeMethod, unexpected)
		c.status, c.code = 500, "internal"
		j.do(c)
		if storeMethod == "Load" {
			j.store.inject(storeMethod, lease.ErrConflict)
			c.status, c.code = 503, "contention"
			j.do(c)
		}
		j.store.inject("", nil)
	}
	if l := j.do(call{method: "GET", path: "/dev/streams/" + x, header: xTok, status: 200}); l["maxStreams"] != float64(3) || l["policy"] != "block_new" || l["streamCount"] != float64(1) {
		t.Fatalf("bad admin requests changed the account: %v", l)
	}
}

// TestOpenAPISecurity: the spec's security follows the handler: every
// route that answers 401 without a credential when identity is on declares
// playerJwt (an admin route: adminToken and adminIam), alongside {} (no
// credential when identity is off) for the player's, and every route that
// does not declares no scheme.
func TestOpenAPISecurity(t *testing.T) {
	p := idp.Start(t)
	h := newHarness(t, withIdentityAndAdmin(t, p))
	fill := strings.NewReplacer("{uid}", "sec-check", "{leaseId}", uuid.NewString(), "{session}", "0123456789abcdef",
		"{file}", "streamlimit.js")
	for _, r := range handlers.Routes() {
		op := h.doc.Paths.Find(r.Path).GetOperation(r.Method)
		schemes := map[string]bool{}
		anonymous := false
		if op.Security != nil {
			for _, req := range *op.Security {
				if len(req) == 0 {
					anonymous = true
				}
				for name := range req {
					schemes[name] = true
				}
			}
		}
		checks := h.status(r.Method, localPrefix(t, h.doc, r.Path)+fill.Replace(r.Path)) == http.StatusUnauthorized
		admin := strings.HasPrefix(r.Path, "/admin/")
		switch {
		case checks && admin && !(schemes["adminToken"] && schemes["adminIam"] && !anonymous && !schemes["playerJwt"]):
			t.Errorf("%s %s: 401 without a credential; security %v, want adminToken and adminIam only", r.Method, r.Path, schemes)
		case checks && !admin && !(schemes["playerJwt"] && anonymous && len(schemes) == 1):
			t.Errorf("%s %s: 401 without a token; security %v (anonymous %v), want playerJwt and {}", r.Method, r.Path, schemes, anonymous)
		case !checks && len(schemes) > 0:
			t.Errorf("%s %s: answers without a credential, but its security names %v", r.Method, r.Path, schemes)
		}
		if checks && op.Responses.Status(http.StatusUnauthorized) == nil {
			t.Errorf("%s %s: answers 401, which its responses do not document", r.Method, r.Path)
		}
		if checks && !admin && op.Responses.Status(http.StatusForbidden) == nil {
			t.Errorf("%s %s: a player route without a documented 403", r.Method, r.Path)
		}
	}
	bearer := h.doc.Components.SecuritySchemes["playerJwt"].Value
	if bearer.Type != "http" || bearer.Scheme != "bearer" || bearer.BearerFormat != "JWT" {
		t.Errorf("playerJwt is %s %s %s, want http bearer JWT", bearer.Type, bearer.Scheme, bearer.BearerFormat)
	}
}
