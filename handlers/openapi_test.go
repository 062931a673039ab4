package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// specFile is the OpenAPI description of the HTTP API.
const specFile = "../openapi.yaml"

// localOrigin is the origin of the documented local server. Requests are
// routed against the spec as if sent there, so the spec's servers (and the
// /dev prefix /healthz does not have) are part of what is checked.
const localOrigin = "http://localhost:3000"

// loadSpec loads and validates the OpenAPI document and builds its router.
func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specFile)
	if err != nil {
		t.Fatalf("loading %s: %v", specFile, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s: openapi %q, want 3.1", specFile, doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", specFile, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("building a router from %s: %v", specFile, err)
	}
	return doc, router
}

// specRoutes lists every method and path of the spec, sorted as
// handlers.Routes sorts them.
func specRoutes(doc *openapi3.T) []handlers.Route {
	var out []handlers.Route
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, handlers.Route{Method: method, Path: path})
		}
	}
	slices.SortFunc(out, compareRoutes)
	return out
}

func compareRoutes(a, b handlers.Route) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	return strings.Compare(a.Method, b.Method)
}

// localPrefix returns the path of the local server the spec gives path: the
// path item's own servers if it has any, else the document's.
func localPrefix(t *testing.T, doc *openapi3.T, path string) string {
	t.Helper()
	servers := doc.Servers
	if item := doc.Paths.Value(path); item != nil && len(item.Servers) > 0 {
		servers = item.Servers
	}
	for _, s := range servers {
		if strings.HasPrefix(s.URL, localOrigin) {
			u, err := url.Parse(s.URL)
			if err != nil {
				t.Fatalf("server %q of %s: %v", s.URL, path, err)
			}
			return strings.TrimSuffix(u.Path, "/")
		}
	}
	t.Fatalf("%s: no server under %s for %s", specFile, localOrigin, path)
	return ""
}

// faultStore is a lease.Store that fails one method on demand.
type faultStore struct {
	lease.Store
	mu     sync.Mutex
	method string
	err    error
}

// inject makes method return err until cleared (method "" clears).
func (f *faultStore) inject(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.method, f.err = method, err
}

func (f *faultStore) fault(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.method == method {
		return f.err
	}
	return nil
}

func (f *faultStore) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	if err := f.fault("Load"); err != nil {
		return lease.Account{}, err
	}
	return f.Store.Load(ctx, uid, consistent)
}

func (f *faultStore) Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (lease.Lease, error) {
	if err := f.fault("Renew"); err != nil {
		return lease.Lease{}, err
	}
	return f.Store.Renew(ctx, uid, leaseID, now, expiresAt)
}

func (f *faultStore) Release(ctx context.Context, uid, leaseID string, now time.Time) (bool, error) {
	if err := f.fault("Release"); err != nil {
		return false, err
	}
	return f.Store.Release(ctx, uid, leaseID, now)
}

func (f *faultStore) Ping(ctx context.Context) error {
	if err := f.fault("Ping"); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

// outcome is one documented answer of one operation: its status and, for
// errors, its code.
type outcome struct {
	op     string // "POST /canStream/{uid}"
	status int
	code   string
}

func (o outcome) String() string {
	if o.code == "" {
		return fmt.Sprintf("%s -> %d", o.op, o.status)
	}
	return fmt.Sprintf("%s -> %d %s", o.op, o.status, o.code)
}

// harness drives the real handler and validates every exchange against
// the spec.
type harness struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	srv    *httptest.Server
	store  *faultStore
	lim    *admission.Limiter
	seen   map[outcome]bool
}

// newHarness serves the API with Prefix /dev and CORS for any origin; each
// configure function may then change the configuration (identity, admin).
func newHarness(t *testing.T, configure ...func(*handlers.Config)) *harness {
	t.Helper()
	doc, router := loadSpec(t)
	store := &faultStore{Store: memstore.New()}
	svc := leasetest.NewService(t, store, leasetest.NewClock(),
		lease.WithRetry(3, time.Millisecond, 2*time.Millisecond))
	cfg := handlers.Config{Prefix: "/dev", AllowedOrigins: []string{"*"}, Static: testStatic, Admission: oneSlot(t)}
	for _, f := range configure {
		f(&cfg)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, cfg))
	t.Cleanup(srv.Close)
	return &harness{t: t, doc: doc, router: router, srv: srv, store: store, lim: cfg.Admission, seen: map[outcome]bool{}}
}

// serve serves the API over svc (whose store is store) with Prefix /dev
// and CORS for any origin, each exchange validated against the spec.
func serve(t *testing.T, store *faultStore, svc *lease.Service) *harness {
	t.Helper()
	return newServed(t, store, svc, nil)
}

// newServed is serve with the admission limiter lim (nil: none).
func newServed(t *testing.T, store *faultStore, svc *lease.Service, lim *admission.Limiter) *harness {
	t.Helper()
	doc, router := loadSpec(t)
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.Config{Prefix: "/dev", AllowedOrigins: []string{"*"}, Admission: lim}))
	t.Cleanup(srv.Close)
	return &harness{t: t, doc: doc, router: router, srv: srv, store: store, lim: lim, seen: map[outcome]bool{}}
}

// call is one scripted exchange.
type call struct {
	method string
	path   string // with the query, e.g. "/dev/canStream/u?deviceId=tv-1"
	ctype  string // Content-Type of body
	body   string
	header map[string]string
	status int    // the status the server must answer
	code   string // the error code it must answer ("" for success)
	// specRejects says the request deliberately breaks the spec: the spec
	// must have no route for it or ValidateRequest must reject it.
	specRejects bool
	// op names the operation whose responses describe the answer when the
	// spec has no route for the request ("GET /streams/{uid}"); "" means the
	// catch-all 404 of components/responses/NotFound.
	op string
}

func (c call) String() string { return c.method + " " + c.path }

// do sends c to the server, checks the status and error code, validates the
// request and the response against the spec, and returns the decoded body.
func (h *harness) do(c call) map[string]any {
	h.t.Helper()
	req, err := http.NewRequest(c.method, h.srv.URL+c.path, bodyReader(c.body))
	if err != nil {
		h.t.Fatalf("%v: %v", c, err)
	}
	h.setHeaders(req, c)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%v: %v", c, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatalf("%v: reading the answer: %v", c, err)
	}
	return h.check(c, resp.StatusCode, resp.Header, data, false)
}

// doRaw writes a raw HTTP/1.1 request (one the Go client will not send,
// such as a malformed chunked body) and checks the answer like do. Only the
// response is validated: the request is not well-formed HTTP.
func (h *harness) doRaw(c call, raw string) map[string]any {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		h.t.Fatalf("%v: %v", c, err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		h.t.Fatalf("%v: writing: %v", c, err)
	}
	req, _ := http.NewRequest(c.method, h.srv.URL+c.path, nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		h.t.Fatalf("%v: reading the answer: %v", c, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatalf("%v: reading the answer: %v", c, err)
	}
	return h.check(c, resp.StatusCode, resp.Header, data, true)
}

func (h *harness) setHeaders(req *http.Request, c call) {
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
}

func bodyReader(body string) io.Reader {
	if body == "" {
		return http.NoBody
	}
	return strings.NewReader(body)
}

func (h *harness) check(c call, status int, header http.Header, data []byte, raw bool) map[string]any {
	h.t.Helper()
	if status != c.status {
		h.t.Fatalf("%v: status %d, want %d; body: %s", c, status, c.status, data)
	}
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		h.t.Fatalf("%v: answer is not a JSON object: %v; body: %s", c, err, data)
	}
	if got, _ := body["error"].(string); got != c.code {
		h.t.Fatalf("%v: error code %q, want %q; body: %s", c, got, c.code, data)
	}

	ctx := context.Background()
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, RejectWhenRequestBodyNotSpecified: true,
		AuthenticationFunc: presentCredential}
	in := &openapi3filter.RequestValidationInput{Options: opts}
	vreq, err := http.NewRequest(c.method, localOrigin+c.path, bodyReader(c.body))
	if err != nil {
		h.t.Fatalf("%v: %v", c, err)
	}
	h.setHeaders(vreq, c)
	in.Request = vreq
	route, params, routeErr := h.router.FindRoute(vreq)
	switch {
	case routeErr != nil:
		if !c.specRejects {
			h.t.Fatalf("%v: the spec has no route for this request: %v", c, routeErr)
		}
		in.Route = h.opRoute(c)
	default:
		in.Route, in.PathParams = route, params
		if c.op != "" && c.op != opName(route.Method, route.Path) {
			h.t.Fatalf("%v: the spec routes this request to %s, want %s", c, opName(route.Method, route.Path), c.op)
		}
		if raw {
			break
		}
		err := openapi3filter.ValidateRequest(ctx, in)
		switch {
		case err != nil && !c.specRejects:
			h.t.Fatalf("%v: request does not match the spec (%s):\n%v", c, opName(route.Method, route.Path), err)
		case err == nil && c.specRejects:
			h.t.Fatalf("%v: the spec accepts this request (%s), but it was meant to break it (server answered %d %s)",
				c, opName(route.Method, route.Path), status, c.code)
		}
	}

	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	rin.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		h.t.Fatalf("%v: answer %d does not match the spec (%s):\n%v\nheaders: %v\nbody: %s",
			c, status, opName(in.Route.Method, in.Route.Path), err, header, data)
	}
	if in.Route.Path != "" {
		h.seen[outcome{opName(in.Route.Method, in.Route.Path), status, c.code}] = true
	}
	return body
}

func opName(method, path string) string { return method + " " + path }

// opRoute returns the route of c.op, or the catch-all: an operation whose
// only answer is components/responses/NotFound.
func (h *harness) opRoute(c call) *routers.Route {
	h.t.Helper()
	if c.op == "" {
		if c.status != http.StatusNotFound {
			h.t.Fatalf("%v: no route in the spec and no operation named to describe a %d", c, c.status)
		}
		nf := h.doc.Components.Responses["NotFound"]
		if nf == nil {
			h.t.Fatalf("%s: no components/responses/NotFound", specFile)
		}
		op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(http.StatusNotFound, nf))}
		return &routers.Route{Spec: h.doc, Method: c.method, Operation: op}
	}
	method, path, _ := strings.Cut(c.op, " ")
	item := h.doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		h.t.Fatalf("%v: no operation %s in the spec", c, c.op)
	}
	return &routers.Route{Spec: h.doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}
}

// documented lists every operation, status and error code of the spec.
func documented(t *testing.T, doc *openapi3.T) map[outcome]bool {
	t.Helper()
	out := map[outcome]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				var code int
				if _, err := fmt.Sscanf(status, "%d", &code); err != nil {
					t.Fatalf("%s %s: response %q is not a status", method, path, status)
				}
				mt := resp.Value.Content.Get("application/json")
				if mt == nil && code < 400 && len(resp.Value.Content) > 0 {
					// a static file (walkStatic): not JSON, no error code
					out[outcome{opName(method, path), code, ""}] = true
					continue
				}
				if mt == nil {
					t.Fatalf("%s %s %s: no application/json content", method, path, status)
				}
				codes := errorCodes(mt.Schema)
				if code >= 400 && len(codes) == 0 {
					t.Fatalf("%s %s %s: no error codes", method, path, status)
				}
				if len(codes) == 0 {
					codes = []string{""}
				}
				for _, c := range codes {
					out[outcome{opName(method, path), code, c}] = true
				}
			}
		}
	}
	return out
}

// errorCodes returns the codes an error answer's schema allows (the
// narrowest enum or const of its "error" property).
func errorCodes(s *openapi3.SchemaRef) []string {
	if s == nil || s.Value == nil {
		return nil
	}
	var codes []string
	if p := s.Value.Properties["error"]; p != nil && p.Value != nil {
		if c, ok := p.Value.Const.(string); ok {
			codes = []string{c}
		}
		for _, e := range p.Value.Enum {
			codes = append(codes, e.(string))
		}
	}
	for _, sub := range s.Value.AllOf {
		if c := errorCodes(sub); len(c) > 0 && (len(codes) == 0 || len(c) < len(codes)) {
			codes = c
		}
	}
	return codes
}

// TestOpenAPIRoutes checks that the spec and the router list the same
// methods and paths, and that the spec puts each under the right prefix:
// /dev for every route but /healthz.
func TestOpenAPIRoutes(t *testing.T) {
	h := newHarness(t)
	spec, routes := specRoutes(h.doc), handlers.Routes()
	for _, r := range routes {
		if _, found := slices.BinarySearchFunc(spec, r, compareRoutes); !found {
			t.Errorf("route %s %s of handlers.Routes() is not in %s", r.Method, r.Path, specFile)
		}
	}
	for _, r := range spec {
		if _, found := slices.BinarySearchFunc(routes, r, compareRoutes); !found {
			t.Errorf("%s documents %s %s, which handlers.Routes() does not serve", specFile, r.Method, r.Path)
		}
	}

	// (an invalid handle: a valid one of no session is a 404 of its own)
	fill := strings.NewReplacer("{uid}", "route-check", "{leaseId}", uuid.NewString(), "{session}", "not-a-handle",
		"{file}", "streamlimit.js")
	for _, r := range routes {
		prefix := localPrefix(t, h.doc, r.Path)
		path := fill.Replace(r.Path)
		if got := h.status(r.Method, prefix+path); got == http.StatusNotFound || got == http.StatusMethodNotAllowed {
			t.Errorf("%s %s%s (the spec's local URL of %s): status %d", r.Method, prefix, path, r.Path, got)
		}
		wrong := "/dev"
		if prefix == "/dev" {
			wrong = ""
		}
		if got := h.status(r.Method, wrong+path); got != http.StatusNotFound {
			t.Errorf("%s %s%s (not the spec's prefix for %s): status %d, want 404", r.Method, wrong, path, r.Path, got)
		}
	}
}

// sessionOf returns the session of device in a streams array.
func sessionOf(t *testing.T, streams any, device string) map[string]any {
	t.Helper()
	list, _ := streams.([]any)
	for _, x := range list {
		if s, _ := x.(map[string]any); s["deviceId"] == device {
			return s
		}
	}
	t.Fatalf("no session of %s in %v", device, streams)
	return nil
}

func (h *harness) status(method, path string) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOpenAPIWalk drives a scripted walk through every documented answer of
// every operation and validates each request and response against the spec.
func TestOpenAPIWalk(t *testing.T) {
	h := newHarness(t)
	const uid = "viewer-1"
	const ctJSON = "application/json"
	const ctText = "text/plain;charset=UTF-8"
	const (
		canStream = "/canStream/{uid}"
		heartbeat = "/heartbeat/{uid}/{leaseId}"
		endStream = "/endStream/{uid}/{leaseId}"
		streams   = "/streams/{uid}"
	)
	getPost := []string{http.MethodGet, http.MethodPost}

	// Three grants: JSON body (with the TV's device secret), query
	// parameter, sendBeacon-style text body.
	const tvSecret = "tv1-Secret_7f3a9c2e41b8"
	g1 := h.do(call{method: "POST", path: "/dev/canStream/" + uid, ctype: ctJSON,
		body: `{"deviceId": "tv-1", "deviceSecret": "` + tvSecret + `", "client": {"userAgent": "LivingRoomTV/2.1", "title": "Film"}}`, status: 200})
	g2 := h.do(call{method: "GET", path: "/dev/canStream/" + uid + "?deviceId=phone-1", status: 200})
	g3 := h.do(call{method: "POST", path: "/dev/canStream/" + uid, ctype: ctText, body: `{"deviceId": "laptop-1"}`, status: 200})
	ids := map[string]bool{}
	for i, g := range []map[string]any{g1, g2, g3} {
		if g["canStream"] != true || g["resumed"] != nil || g["streamCount"] != float64(i+1) {
			t.Fatalf("grant %d: %v, want canStream true, streamCount %d, no resumed", i+1, g, i+1)
		}
		ids[g["leaseId"].(string)] = true
	}
	if len(ids) != 3 {
		t.Fatalf("three grants gave lease ids %v", ids)
	}
	lease1, lease2 := g1["leaseId"].(string), g2["leaseId"].(string)

	// A fourth device is refused and told who is watching.
	r := h.do(call{method: "POST", path: "/dev/canStream/" + uid, status: 200})
	if r["canStream"] != false || len(r["streams"].([]any)) != 3 || r["leaseId"] != nil {
		t.Fatalf("refusal: %v, want canStream false with 3 streams and no lease id", r)
	}
	tvSession := sessionOf(t, r["streams"], "tv-1")

	// A device id is a label, never a proof: a player sending tv-1's or
	// phone-1's id without proof is a newcomer, refused at the limit. The
	// secret is read from the body only; in the query string it proves
	// nothing.
	for _, c := range []call{
		{method: "GET", path: "/dev/canStream/" + uid + "?deviceId=phone-1", status: 200},
		{method: "POST", path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"deviceId": "tv-1"}`, status: 200},
		{method: "POST", path: "/dev/canStream/" + uid + "?deviceId=tv-1&deviceSecret=" + tvSecret, status: 200},
	} {
		if r := h.do(c); r["canStream"] != false || r["leaseId"] != nil || r["streamCount"] != float64(3) {
			t.Fatalf("%v without proof: %v, want canStream false and no lease id", c, r)
		}
	}

	// With its secret the TV takes its lease over, under a new lease id:
	// same session, no new slot. Each retry gets a fresh id; only the last
	// one is renewable, the ones before are superseded.
	tvBody := `{"deviceId": "tv-1", "deviceSecret": "` + tvSecret + `"}`
	superseded := []string{lease1}
	for _, m := range getPost {
		again := h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: tvBody, status: 200})
		id, _ := again["leaseId"].(string)
		if again["canStream"] != true || again["resumed"] != true || again["streamCount"] != float64(3) ||
			slices.Contains(superseded, id) || ids[id] {
			t.Fatalf("%s retry from tv-1 with its secret: %v, want resumed under a new lease id, streamCount 3", m, again)
		}
		superseded = append(superseded, id)
	}
	lease1, superseded = superseded[len(superseded)-1], superseded[:len(superseded)-1]

	// The phone proves its lease with the lease id it held.
	byID := h.do(call{method: "POST", path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"leaseId": "` + lease2 + `"}`, status: 200})
	if byID["canStream"] != true || byID["resumed"] != true || byID["streamCount"] != float64(3) || byID["leaseId"] == lease2 {
		t.Fatalf("canStream with phone-1's lease id: %v, want resumed under a new lease id", byID)
	}
	superseded = append(superseded, lease2)
	lease2 = byID["leaseId"].(string)

	// A superseded id renews and ends nothing, and canStream naming it
	// says why: 410 lease_revoked, reason superseded.
	for _, old := range superseded {
		for _, m := range getPost {
			if e := h.do(call{method: m, path: "/dev/heartbeat/" + uid + "/" + old, status: 410, code: "lease_revoked"}); e["reason"] != "superseded" {
				t.Fatalf("heartbeat of the superseded %s: %v, want reason superseded", old, e)
			}
			if e := h.do(call{method: m, path: "/dev/endStream/" + uid + "/" + old, status: 200}); e["removedStream"] != false || e["streamCount"] != float64(3) {
				t.Fatalf("endStream of the superseded %s: %v, want removedStream false, streamCount 3", old, e)
			}
			if e := h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"leaseId": "` + old + `"}`,
				status: 410, code: "lease_revoked"}); e["reason"] != "superseded" {
				t.Fatalf("canStream with the superseded %s: %v, want reason superseded", old, e)
			}
		}
	}
	listed := h.do(call{method: "GET", path: "/dev/streams/" + uid, status: 200})
	if got := sessionOf(t, listed["streams"], "tv-1"); listed["streamCount"] != float64(3) ||
		got["session"] != tvSession["session"] || got["createdAt"] != tvSession["createdAt"] {
		t.Fatalf("after the takeovers: %v, want 3 streams and tv-1's session %v unchanged", listed, tvSession)
	}

	// Heartbeats, with and without an (ignored) beacon body.
	h.do(call{method: "POST", path: "/dev/heartbeat/" + uid + "/" + lease1, ctype: ctText, body: "beacon", status: 200})
	hb := h.do(call{method: "GET", path: "/dev/heartbeat/" + uid + "/" + lease2, status: 200})
	token, _ := hb["renewalToken"].(string)
	if hb["leaseId"] != lease2 || token == "" || hb["streamCount"] != nil {
		t.Fatalf("heartbeat: %v; want a renewalToken and no streamCount (a heartbeat reads nothing)", hb)
	}
	// With its token (or a tampered one: the query parameter is optional
	// and never an error), in both forms.
	for _, m := range getPost {
		again := h.do(call{method: m, path: "/dev/heartbeat/" + uid + "/" + lease2 + "?renewalToken=" + token, status: 200})
		if again["renewalToken"] != token || again["expiresAt"] != hb["expiresAt"] {
			t.Fatalf("heartbeat with its token: %v; want answered from the token (%s, %v)", again, token, hb["expiresAt"])
		}
		h.do(call{method: m, path: "/dev/heartbeat/" + uid + "/" + lease2 + "?renewalToken=" + strings.ToUpper(token), status: 200})
	}

	// endStream twice: the second is harmless; then heartbeats get 410.
	e := h.do(call{method: "POST", path: "/dev/endStream/" + uid + "/" + lease1, status: 200})
	if e["removedStream"] != true || e["streamCount"] != float64(2) {
		t.Fatalf("first endStream: %v", e)
	}
	e = h.do(call{method: "GET", path: "/dev/endStream/" + uid + "/" + lease1, status: 200})
	if e["removedStream"] != false || e["streamCount"] != float64(2) {
		t.Fatalf("second endStream: %v", e)
	}
	for _, m := range getPost {
		h.do(call{method: m, path: "/dev/heartbeat/" + uid + "/" + lease1, status: 410, code: "lease_expired"})
	}
	h.do(call{method: "POST", path: "/dev/endStream/" + uid + "/" + lease2, ctype: ctJSON, body: `{}`, status: 200})

	// Listings, of a busy and of an unknown account.
	s := h.do(call{method: "GET", path: "/dev/streams/" + uid, status: 200})
	if s["streamCount"] != float64(1) || len(s["streams"].([]any)) != 1 {
		t.Fatalf("streams: %v", s)
	}
	s = h.do(call{method: "GET", path: "/dev/streams/nobody", status: 200})
	if s["streamCount"] != float64(0) || s["streams"] == nil {
		t.Fatalf("streams of an unknown account: %v", s)
	}
	// An ended (or unknown, or expired) lease id proves nothing and is no
	// error: the call is a fresh request.
	fresh := h.do(call{method: "POST", path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"leaseId": "` + lease1 + `"}`, status: 200})
	if fresh["canStream"] != true || fresh["resumed"] != nil || fresh["streamCount"] != float64(2) || fresh["leaseId"] == lease1 {
		t.Fatalf("canStream with an ended lease id: %v, want a fresh grant", fresh)
	}
	h.do(call{method: "POST", path: "/dev/endStream/" + uid + "/" + fresh["leaseId"].(string), status: 200})
	h.do(call{method: "GET", path: "/healthz", status: 200})

	// Every 400 code of every operation.
	someLease := uuid.NewString()
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	for _, m := range getPost {
		h.do(call{method: m, path: "/dev/canStream/bad!uid", status: 400, code: "invalid_uid", specRejects: true})
		h.do(call{method: m, path: "/dev/canStream/%2E%2E", status: 400, code: "invalid_uid", specRejects: true})
		h.do(call{method: m, path: "/dev/canStream/" + uid + "?deviceId=...", status: 400, code: "invalid_device_id", specRejects: true})
		h.do(call{method: m, path: "/dev/canStream/" + uid + "?deviceId=bad!device", status: 400, code: "invalid_device_id", specRejects: true})
		h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"deviceId": "bad device"}`,
			status: 400, code: "invalid_device_id", specRejects: true})
		for _, secret := range []string{"short-secret", long("s", 129), "sixteen chars ok", "secret.with.dots.x"} {
			h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"deviceId": "tv-1", "deviceSecret": "` + secret + `"}`,
				status: 400, code: "invalid_device_secret", specRejects: true})
		}
		for _, id := range []string{"not-a-uuid", strings.ToUpper(someLease), someLease + "0"} {
			h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"leaseId": "` + id + `"}`,
				status: 400, code: "invalid_lease_id", specRejects: true})
		}
		// Each field fits the schema; together they exceed 512 bytes.
		h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON,
			body:   `{"client": {"userAgent": "` + long("u", 300) + `", "title": "` + long("t", 300) + `"}}`,
			status: 400, code: "invalid_client"})
		h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: `[1]`, status: 400, code: "invalid_body", specRejects: true})
		h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctJSON, body: `{"deviceId": 7}`, status: 400, code: "invalid_body", specRejects: true})
		// text/plain is checked as text only: its JSON is the server's business.
		h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctText, body: `deviceId=tv-1`, status: 400, code: "invalid_body"})
		h.do(call{method: m, path: "/dev/canStream/" + uid, ctype: ctText, body: `{"deviceId": "tv-1"}}`, status: 400, code: "invalid_body"})

		for _, p := range []string{"/dev/heartbeat/", "/dev/endStream/"} {
			h.do(call{method: m, path: p + "bad!uid/" + someLease, status: 400, code: "invalid_uid", specRejects: true})
			h.do(call{method: m, path: p + uid + "/" + strings.ToUpper(someLease), status: 400, code: "invalid_lease_id", specRejects: true})
			h.do(call{method: m, path: p + uid + "/not-a-uuid", status: 400, code: "invalid_lease_id", specRejects: true})
			// A body that cannot be read (malformed chunked encoding).
			path := p + uid + "/" + someLease
			h.doRaw(call{method: m, path: path, status: 400, code: "invalid_body"},
				m+" "+path+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n")
			h.do(call{method: m, path: p + uid, status: 400, code: "missing_lease_id"})
			h.do(call{method: m, path: p + "any%20uid", status: 400, code: "missing_lease_id"})
		}
	}
	h.do(call{method: "GET", path: "/dev/streams/" + long("u", 129), status: 400, code: "invalid_uid", specRejects: true})

	// 404: an empty last segment names no route; neither does a path
	// without (or, for /healthz, with) the prefix.
	empty404 := map[string]string{
		canStream: "/dev/canStream/", heartbeat: "/dev/heartbeat/" + uid + "/", endStream: "/dev/endStream/" + uid + "/",
		"/heartbeat/{uid}": "/dev/heartbeat/", "/endStream/{uid}": "/dev/endStream/", streams: "/dev/streams/",
		"/client/{file}": "/dev/client/",
	}
	for path, item := range h.doc.Paths.Map() {
		for m, op := range item.Operations() {
			// (a 404 that is not the router's not_found, such as
			// session_not_found, is produced by walkControls)
			if nf := op.Responses.Status(404); nf == nil || !slices.Contains(errorCodes(nf.Value.Content.Get("application/json").Schema), "not_found") {
				continue
			}
			p, ok := empty404[path]
			if !ok {
				t.Fatalf("no 404 request scripted for %s %s", m, path)
			}
			h.do(call{method: m, path: p, status: 404, code: "not_found", specRejects: true, op: opName(m, path)})
		}
	}
	for _, p := range []string{"/dev/nope", "/canStream/" + uid, "/dev/healthz", "/dev/streams/" + uid + "/extra"} {
		h.do(call{method: "GET", path: p, status: 404, code: "not_found", specRejects: true})
	}
	// An unclean path is a 404 too, not a redirect to its cleaned form.
	for _, p := range []string{"/dev/canStream//" + uid, "/dev//canStream/" + uid, "/dev/canStream/../heartbeat/" + uid, "/dev/./streams/" + uid, "//healthz"} {
		h.do(call{method: "GET", path: p, status: 404, code: "not_found", specRejects: true})
	}

	// 405 on every path, with its Allow header.
	fill := strings.NewReplacer("{uid}", uid, "{leaseId}", someLease, "{session}", "0123456789abcdef", "{file}", "demo.js")
	others := []string{http.MethodDelete, http.MethodPut, http.MethodPatch}
	i := 0
	for path, item := range h.doc.Paths.Map() {
		prefix := localPrefix(t, h.doc, path)
		for m := range item.Operations() {
			wrong := others[i%len(others)]
			for item.GetOperation(wrong) != nil { // a method this path serves
				i++
				wrong = others[i%len(others)]
			}
			h.do(call{method: wrong, path: prefix + fill.Replace(path), status: 405, code: "method_not_allowed",
				specRejects: true, op: opName(m, path)})
			i++
		}
	}

	// 413 on every route that reads its body.
	big := long("x", handlers.MaxBodyBytes+1)
	for _, m := range getPost {
		for _, p := range []string{"/dev/canStream/" + uid, "/dev/heartbeat/" + uid + "/" + someLease, "/dev/endStream/" + uid + "/" + someLease} {
			h.do(call{method: m, path: p, ctype: ctText, body: big, status: 413, code: "body_too_large", specRejects: true})
		}
	}

	// 503 and 500: the store fails.
	unavailable := fmt.Errorf("%w: injected outage", lease.ErrUnavailable)
	unexpected := errors.New("injected bug")
	storeCalls := []struct {
		method, path, storeMethod string
	}{
		{"GET", "/dev/canStream/" + uid, "Load"},
		{"POST", "/dev/canStream/" + uid, "Load"},
		{"GET", "/dev/heartbeat/" + uid + "/" + someLease, "Renew"},
		{"POST", "/dev/heartbeat/" + uid + "/" + someLease, "Renew"},
		{"GET", "/dev/endStream/" + uid + "/" + someLease, "Release"},
		{"POST", "/dev/endStream/" + uid + "/" + someLease, "Release"},
		{"GET", "/dev/streams/" + uid, "Load"},
		{"GET", "/healthz", "Ping"},
	}
	for _, sc := range storeCalls {
		h.store.inject(sc.storeMethod, unavailable)
		h.do(call{method: sc.method, path: sc.path, status: 503, code: "store_unavailable"})
		h.storeBusy(sc.storeMethod, call{method: sc.method, path: sc.path})
		h.store.inject(sc.storeMethod, unexpected)
		h.do(call{method: sc.method, path: sc.path, status: 500, code: "internal"})
		// Lost races beyond the retry budget, where the route retries.
		if sc.storeMethod == "Load" && strings.HasPrefix(sc.path, "/dev/canStream/") || sc.storeMethod == "Release" {
			h.store.inject(sc.storeMethod, lease.ErrConflict)
			h.do(call{method: sc.method, path: sc.path, status: 503, code: "contention"})
		}
		h.store.inject("", nil)
	}

	// The account controls and admin routes, on this API (no identity, no
	// admin credential) and on one with JWT identities and an admin token.
	walkControls(t, h)

	// The demo page and the browser client's files.
	walkStatic(t, h)

	// Every documented answer was produced and matched.
	want := documented(t, h.doc)
	var missing, extra []string
	for o := range want {
		if !h.seen[o] {
			missing = append(missing, o.String())
		}
	}
	for o := range h.seen {
		if !want[o] {
			extra = append(extra, o.String())
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("documented answers the walk never produced:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("answers produced but not documented:\n  %s", strings.Join(extra, "\n  "))
	}
}

// TestOpenAPIValidatorRejectsDrift makes sure the validation is not
// vacuous: answers that differ from the spec in small ways are rejected.
func TestOpenAPIValidatorRejectsDrift(t *testing.T) {
	doc, router := loadSpec(t)
	lid := uuid.NewString()
	cases := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
	}{
		{"extra field", "GET", "/dev/streams/u", 200, nil,
			`{"result":"success","uid":"u","streamCount":0,"maxStreams":3,"streams":[],"leaseIds":[]}`},
		{"missing field", "POST", "/dev/endStream/u/" + lid, 200, nil, `{"result":"success","uid":"u","streamCount":0}`},
		{"granted without lease id", "POST", "/dev/canStream/u", 200, nil,
			`{"result":"success","uid":"u","canStream":true,"streamCount":1,"maxStreams":3,"expiresAt":"2026-01-02T15:04:05Z","heartbeatIntervalSeconds":30}`},
		{"refusal with a lease id", "POST", "/dev/canStream/u", 200, nil,
			`{"result":"success","uid":"u","canStream":false,"streamCount":1,"maxStreams":1,"leaseId":"` + lid + `","streams":[{"client":{},"createdAt":"2026-01-02T15:04:05Z","renewedAt":"2026-01-02T15:04:05Z","expiresAt":"2026-01-02T15:04:05Z"}]}`},
		{"session with its lease id", "GET", "/dev/streams/u", 200, nil,
			`{"result":"success","uid":"u","streamCount":1,"maxStreams":3,"streams":[{"leaseId":"` + lid + `","client":{},"createdAt":"2026-01-02T15:04:05Z","renewedAt":"2026-01-02T15:04:05Z","expiresAt":"2026-01-02T15:04:05Z"}]}`},
		{"upper-case lease id", "GET", "/dev/heartbeat/u/" + lid, 200, nil,
			`{"result":"success","uid":"u","leaseId":"` + strings.ToUpper(lid) + `","expiresAt":"2026-01-02T15:04:05Z","heartbeatIntervalSeconds":30,"streamCount":1}`},
		{"error code of another route", "GET", "/dev/streams/u", 400, nil, `{"result":"error","error":"invalid_lease_id","message":"m"}`},
		{"canStream 410 lease_expired", "POST", "/dev/canStream/u", 410, nil, `{"result":"error","error":"lease_expired","message":"m"}`},
		{"unknown revocation reason", "POST", "/dev/heartbeat/u/" + lid, 410, nil,
			`{"result":"error","error":"lease_revoked","message":"m","reason":"taken"}`},
		{"undocumented status", "GET", "/healthz", 418, nil, `{"result":"error","error":"internal","message":"m"}`},
		{"503 without Retry-After", "GET", "/healthz", 503, http.Header{"Cache-Control": {"no-store"}},
			`{"result":"error","error":"store_unavailable","message":"m"}`},
		{"405 with a wrong Allow", "DELETE", "/healthz", 405, http.Header{"Cache-Control": {"no-store"}, "Allow": {"GET, POST"}},
			`{"result":"error","error":"method_not_allowed","message":"m"}`},
		{"cacheable answer", "GET", "/healthz", 200, http.Header{}, `{"result":"success","status":"ok"}`},
	}
	for _, tc := range cases {
		vreq, _ := http.NewRequest(tc.method, localOrigin+tc.path, nil)
		in := &openapi3filter.RequestValidationInput{Request: vreq}
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			if !errors.Is(err, routers.ErrMethodNotAllowed) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			item := doc.Paths.Value("/healthz")
			route = &routers.Route{Spec: doc, Path: "/healthz", PathItem: item, Method: "GET", Operation: item.Get}
		}
		in.Route, in.PathParams = route, params
		header := tc.header
		if header == nil {
			header = http.Header{"Cache-Control": {"no-store"}}
		}
		header.Set("Content-Type", "application/json; charset=utf-8")
		rin := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: tc.status, Header: header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}
		rin.SetBodyBytes(bytes.Clone([]byte(tc.body)))
		if err := openapi3filter.ValidateResponse(context.Background(), rin); err == nil {
			t.Errorf("%s: the spec accepts %d %s", tc.name, tc.status, tc.body)
		}
	}
}
