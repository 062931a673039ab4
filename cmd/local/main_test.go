package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
)

var (
	endpoint string
	client   *dynamodb.Client
	skipMsg  string
)

func TestMain(m *testing.M) {
	ddblocal.Main(m, dynamo.Config{Timeout: 30 * time.Second}, func(ep string, c *dynamodb.Client, skip string) {
		endpoint, client, skipMsg = ep, c, skip
	})
}

// server is the real local server started by run() on a free port.
type server struct {
	base  string // http://localhost:PORT
	api   string // base + /dev
	table string
}

// startServer runs the real server against DynamoDB Local with a fresh
// table and env overrides, and stops it when the test ends.
func startServer(t *testing.T, env map[string]string) server {
	t.Helper()
	if endpoint == "" && env["DYNAMODB_ENDPOINT"] == "" {
		t.Skip(skipMsg)
	}
	table := fmt.Sprintf("e2e_%08x", rand.Uint32())
	vars := map[string]string{
		"PORT": "0", "STAGE": "dev", "DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table,
		"CREATE_TABLE": "true", "AWS_REGION": "us-east-1",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return vars[k] }, pw, io.Discard)
		pw.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`listening on (http://localhost:\d+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("server exited at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return server{base: base, api: base + "/dev", table: table}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, method, url, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s; want JSON", method, url, ct, raw)
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
	}
	return a
}

func (a answer) num(key string) int {
	f, _ := a.body[key].(float64)
	return int(f)
}

func (a answer) str(key string) string { s, _ := a.body[key].(string); return s }

func (a answer) expect(t *testing.T, status int, fields map[string]any) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, body %s; want %d", a.status, a.raw, status)
	}
	for k, want := range fields {
		got := a.body[k]
		if f, ok := got.(float64); ok {
			got = int(f)
		}
		if got != want {
			t.Fatalf("%s = %v (%T), body %s; want %v", k, a.body[k], a.body[k], a.raw, want)
		}
	}
	return a
}

func itemCount(t *testing.T, table string) int {
	t.Helper()
	out, err := client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return int(out.Count)
}

// TestSeedFlow walks the seed project's steps, with leases.
func TestSeedFlow(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	call(t, "GET", s.base+"/healthz", "", "").expect(t, 200, map[string]any{"status": "ok"})

	var leases []string
	for i := 1; i <= 3; i++ {
		a := call(t, "GET", s.api+"/canStream/alice", "", "").
			expect(t, 200, map[string]any{"result": "success", "uid": "alice", "canStream": true, "streamCount": i, "maxStreams": 3, "heartbeatIntervalSeconds": 30})
		exp, err := time.Parse(time.RFC3339, a.str("expiresAt"))
		if err != nil || !strings.HasSuffix(a.str("expiresAt"), "Z") || time.Until(exp) < 80*time.Second {
			t.Fatalf("expiresAt %q: want RFC 3339 UTC ~100 s ahead", a.str("expiresAt"))
		}
		leases = append(leases, a.str("leaseId"))
	}
	refused := call(t, "POST", s.api+"/canStream/alice", "application/json", `{"deviceId":"tv-4"}`).
		expect(t, 200, map[string]any{"canStream": false, "streamCount": 3, "maxStreams": 3})
	streams, _ := refused.body["streams"].([]any)
	if len(streams) != 3 || strings.Contains(refused.raw, leases[0]) || refused.str("leaseId") != "" {
		t.Fatalf("refusal %s: want 3 streams listed without lease ids", refused.raw)
	}

	first := call(t, "GET", s.api+"/canStream/alice", "", "") // still refused
	if first.body["canStream"] != false {
		t.Fatalf("grant over the limit: %s", first.raw)
	}
	before := call(t, "GET", s.api+"/streams/alice", "", "").expect(t, 200, map[string]any{"streamCount": 3, "maxStreams": 3})
	time.Sleep(1100 * time.Millisecond) // expiresAt has whole-second precision
	hb := call(t, "POST", s.api+"/heartbeat/alice/"+leases[0], "", "").
		expect(t, 200, map[string]any{"result": "success", "uid": "alice", "leaseId": leases[0], "streamCount": nil, "heartbeatIntervalSeconds": 30})
	old := before.body["streams"].([]any)[0].(map[string]any)["expiresAt"].(string)
	if hb.str("expiresAt") <= old {
		t.Fatalf("heartbeat expiresAt %s did not move past %s", hb.str("expiresAt"), old)
	}

	call(t, "POST", s.api+"/endStream/alice/"+leases[1], "text/plain;charset=UTF-8", "").
		expect(t, 200, map[string]any{"result": "success", "uid": "alice", "removedStream": true, "streamCount": 2})
	call(t, "GET", s.api+"/endStream/alice/"+leases[1], "", "").
		expect(t, 200, map[string]any{"removedStream": false, "streamCount": 2})
	call(t, "POST", s.api+"/heartbeat/alice/"+leases[1], "", "").
		expect(t, 410, map[string]any{"result": "error", "error": "lease_expired"})
	call(t, "POST", s.api+"/canStream/alice", "", "").
		expect(t, 200, map[string]any{"canStream": true, "streamCount": 3})
}

// TestConcurrentCanStream races 100 HTTP canStream calls for one uid.
func TestConcurrentCanStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"MAX_STREAMS": "3", "STORE_TIMEOUT_MS": "20000"})
	const n = 100
	statuses := make([]int, n)
	granted := make([]bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := http.Post(s.api+"/canStream/racer", "application/json", nil)
			if err != nil {
				statuses[i] = -1
				return
			}
			defer resp.Body.Close()
			var body struct {
				CanStream bool   `json:"canStream"`
				Error     string `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			statuses[i], granted[i] = resp.StatusCode, body.CanStream
			if resp.StatusCode != 200 {
				t.Logf("call %d: %d %+v", i, resp.StatusCode, body)
			}
		})
	}
	close(start)
	wg.Wait()
	grants := 0
	for i := range n {
		if statuses[i] != 200 {
			t.Fatalf("call %d: status %d; want 200 for every call", i, statuses[i])
		}
		if granted[i] {
			grants++
		}
	}
	if grants != 3 {
		t.Fatalf("%d grants; want exactly 3", grants)
	}
	call(t, "GET", s.api+"/streams/racer", "", "").expect(t, 200, map[string]any{"streamCount": 3})
}

// TestBadInput sends every kind of bad request and checks the documented
// status and JSON, and that the table is untouched.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	lease := call(t, "POST", s.api+"/canStream/bob", "", `{"deviceId":"tv"}`).expect(t, 200, map[string]any{"canStream": true}).str("leaseId")
	items := itemCount(t, s.table)
	big := `{"deviceId":"tv","client":{"title":"` + strings.Repeat("x", 5000) + `"}}`
	cases := []struct {
		method, path, ctype, body string
		status                    int
		code                      string
	}{
		{"GET", "/canStream/" + strings.Repeat("a", 129), "", "", 400, "invalid_uid"},
		{"GET", "/canStream/a%20b", "", "", 400, "invalid_uid"},
		{"GET", "/canStream/a%2Fb", "", "", 400, "invalid_uid"},
		{"GET", "/canStream/%C3%BC", "", "", 400, "invalid_uid"},
		{"GET", "/canStream/a%23b", "", "", 400, "invalid_uid"},
		{"POST", "/canStream/bob", "application/json", `{"deviceId":"tv 1"}`, 400, "invalid_device_id"},
		{"GET", "/canStream/bob?deviceId=a/b", "", "", 400, "invalid_device_id"},
		{"POST", "/canStream/bob", "application/json", `{"client":{"title":"` + strings.Repeat("t", 600) + `"}}`, 400, "invalid_client"},
		{"POST", "/canStream/bob", "application/json", `{"deviceId":"tv","deviceSecret":"too-short"}`, 400, "invalid_device_secret"},
		{"POST", "/canStream/bob", "application/json", `{"deviceId":"tv","deviceSecret":"not a secret: spaces"}`, 400, "invalid_device_secret"},
		{"POST", "/canStream/bob", "application/json", `{"leaseId":"not-a-uuid"}`, 400, "invalid_lease_id"},
		{"POST", "/canStream/bob", "application/json", `{"leaseId":"` + strings.ToUpper(lease) + `"}`, 400, "invalid_lease_id"},
		{"POST", "/canStream/bob", "application/json", `{"deviceId":`, 400, "invalid_body"},
		{"POST", "/canStream/bob", "application/json", `[1,2]`, 400, "invalid_body"},
		{"POST", "/canStream/bob", "application/json", `{"deviceId":5}`, 400, "invalid_body"},
		{"POST", "/canStream/bob", "application/json", `{} {}`, 400, "invalid_body"},
		{"POST", "/canStream/bob", "text/plain", `not json`, 400, "invalid_body"},
		{"POST", "/canStream/bob", "application/json", `{"deviceId":"tv2"}}`, 400, "invalid_body"},
		{"POST", "/canStream/bob", "text/plain", `{"deviceId":"tv2"}]`, 400, "invalid_body"},
		{"GET", "/canStream/%2E%2E", "", "", 400, "invalid_uid"},
		{"GET", "/canStream/...", "", "", 400, "invalid_uid"},
		{"POST", "/canStream/bob?deviceId=..", "", "", 400, "invalid_device_id"},
		{"POST", "/canStream/bob", "application/json", big, 413, "body_too_large"},
		{"POST", "/heartbeat/bob/" + lease, "text/plain", big, 413, "body_too_large"},
		{"POST", "/heartbeat/bob/not-a-uuid", "", "", 400, "invalid_lease_id"},
		{"POST", "/heartbeat/bob/" + strings.ToUpper(lease), "", "", 400, "invalid_lease_id"},
		{"POST", "/endStream/bob/" + lease + "x", "", "", 400, "invalid_lease_id"},
		{"POST", "/endStream/bob", "", "", 400, "missing_lease_id"},
		{"GET", "/heartbeat/bob", "", "", 400, "missing_lease_id"},
		{"GET", "/streams/bad%20uid", "", "", 400, "invalid_uid"},
		{"DELETE", "/canStream/bob", "", "", 405, "method_not_allowed"},
		{"PUT", "/endStream/bob/" + lease, "", "", 405, "method_not_allowed"},
		{"POST", "/streams/bob", "", "", 405, "method_not_allowed"},
		{"GET", "/nope/bob", "", "", 404, "not_found"},
		{"GET", "/canStream", "", "", 404, "not_found"},
		{"GET", "/canStream/bob/extra/segments", "", "", 404, "not_found"},
		{"POST", "/canStream//bob", "", "", 404, "not_found"},
		{"POST", "/canStream/../heartbeat/bob/" + lease, "", "", 404, "not_found"},
		{"POST", "/./endStream/bob/" + lease, "", "", 404, "not_found"},
	}
	for _, c := range cases {
		a := call(t, c.method, s.api+c.path, c.ctype, c.body)
		if a.status != c.status || a.str("result") != "error" || a.str("error") != c.code || a.str("message") == "" {
			t.Errorf("%s %s: %d %s; want %d with error %q and a message", c.method, c.path, a.status, a.raw, c.status, c.code)
		}
		if c.status == 405 && a.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
		if strings.Contains(a.raw, "goroutine") || strings.Contains(a.raw, ".go:") {
			t.Errorf("%s %s: answer leaks internals: %s", c.method, c.path, a.raw)
		}
	}
	if got := itemCount(t, s.table); got != items {
		t.Fatalf("bad requests changed the table: %d items, had %d", got, items)
	}
	call(t, "POST", s.api+"/heartbeat/bob/"+lease, "", "").expect(t, 200, map[string]any{"leaseId": lease})
}

// TestCORS checks the preflight and the allowed-origin header.
func TestCORS(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"ALLOWED_ORIGINS": "https://player.example, https://tv.example"})
	req, _ := http.NewRequest("OPTIONS", s.api+"/canStream/carol", nil)
	req.Header.Set("Origin", "https://tv.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://tv.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("GET", s.api+"/streams/carol", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a foreign origin was allowed: %v", resp.Header)
	}
}

// TestStoreDown: with DynamoDB Local stopped, or hung, canStream answers
// 503 JSON with Retry-After within 2 s, and /healthz says 503.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	if endpoint == "" {
		t.Skip(skipMsg)
	}
	own, err := ddblocal.Start(context.Background(), 0)
	if err != nil {
		t.Fatalf("start a second DynamoDB Local: %v", err)
	}
	// A listener that accepts connections and never answers: a hung store.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	// A 1 s store budget: the answer must come within 2 s even on a busy
	// CI machine running other test binaries beside this one.
	s := startServer(t, map[string]string{"DYNAMODB_ENDPOINT": own.Endpoint, "STORE_TIMEOUT_MS": "1000"})
	// Precondition: the store works. A freshly started DynamoDB Local on a
	// busy machine may miss the first requests' 1.5 s budget while its JVM
	// warms up, so wait for a first grant before taking it away.
	for deadline := time.Now().Add(30 * time.Second); ; {
		a := call(t, "POST", s.api+"/canStream/dave", "", "")
		if a.status == 200 || time.Now().After(deadline) {
			a.expect(t, 200, map[string]any{"canStream": true})
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	own.Stop()
	for name, srv := range map[string]server{"stopped": s, "hung": startServerNoCreate(t, "http://"+hung.Addr().String())} {
		for _, path := range []string{"/dev/canStream/dave", "/dev/streams/dave", "/healthz"} {
			start := time.Now()
			a := call(t, "GET", srv.base+path, "", "")
			took := time.Since(start)
			if a.status != 503 || a.str("error") != "store_unavailable" || a.header.Get("Retry-After") == "" {
				t.Errorf("%s store, %s: %d %s %v; want 503 store_unavailable with Retry-After", name, path, a.status, a.raw, a.header)
			}
			if took > 2*time.Second {
				t.Errorf("%s store, %s: answered in %v; want < 2 s", name, path, took)
			}
		}
	}
}

// startServerNoCreate starts the server without creating its table (the
// endpoint does not answer), so it starts even though the store is down.
func startServerNoCreate(t *testing.T, ep string) server {
	return startServer(t, map[string]string{"DYNAMODB_ENDPOINT": ep, "CREATE_TABLE": "false", "STORE_TIMEOUT_MS": "1000"})
}
