package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/loadgen"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/internal/testenv/faultproxy"
	"github.com/streamlimit/streamlimit/lease"
)

// Settings shared by the fault tests: a compressed heartbeat and a TTL long
// enough to ride out a restart of DynamoDB Local on a busy machine.
const (
	interval = 2 * time.Second
	ttl      = 40 * time.Second
	// answerBound is the bound on each answer while DynamoDB is
	// down; the server's store budget (STORE_TIMEOUT_MS) is 1.5 s.
	answerBound = 2 * time.Second
)

func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if ddblocal.Required() {
		t.Fatalf("DynamoDB Local is required (CI=true): %v", err)
	}
	t.Skipf("DynamoDB Local unavailable: %v", err)
}

// startAPI runs the real API over DynamoDB at endpoint on a loopback
// httptest server; it returns the API base (with /dev).
func startAPI(t *testing.T, endpoint, table string) string {
	t.Helper()
	env := map[string]string{
		"DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table, "CREATE_TABLE": "true", "AWS_REGION": "us-east-1",
		"HEARTBEAT_INTERVAL_SECONDS": fmt.Sprint(int(interval.Seconds())), "LEASE_TTL_SECONDS": fmt.Sprint(int(ttl.Seconds())),
		// As at the defaults, the players' heartbeats (which send back their
		// renewal tokens) write every other time, so outages meet writes.
		"RENEW_BELOW_SECONDS": fmt.Sprint(int((ttl - interval - time.Second).Seconds())),
		"METRICS":             "off",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var svc *lease.Service
	// The first calls to a fresh DynamoDB Local can outlast the store
	// budget on a busy machine (CreateTable at start): retry the start.
	for attempt := range 5 {
		if svc, _, err = stores.Service(t.Context(), cfg, nil); err == nil {
			break
		}
		t.Logf("start %d: %v", attempt+1, err)
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The HTTP API as the binaries serve it, without access checks,
	// tracing or metrics.
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.ConfigFrom(cfg)))
	t.Cleanup(srv.Close)
	warmUp(t, srv.URL+"/dev")
	return srv.URL + "/dev"
}

// warmUp grants and ends one lease of a uid no test uses, retrying while a
// fresh DynamoDB Local's first queries and transactions outlast the 1.5 s
// store budget on a busy machine, so that the faults, not a cold JVM,
// decide what the tests see.
func warmUp(t *testing.T, base string) {
	t.Helper()
	w := &player{base: base, uid: "warm-up"}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		r := w.acquire(t)
		if r.status == 200 {
			call(t, "endStream", "POST", base+"/endStream/warm-up/"+w.lease)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not warm up: %d %v", r.status, r.body)
		}
	}
}

// probe is one request made by the test itself.
type probe struct {
	op, method, path string
	status           int
	retryAfter       string
	took             time.Duration
	body             map[string]any
}

func call(t *testing.T, op, method, url string) probe {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	p := probe{op: op, method: method, path: url, took: time.Since(start)}
	if err != nil {
		t.Errorf("%s: %v", op, err)
		return p
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	p.took = time.Since(start)
	p.status, p.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	_ = json.Unmarshal(data, &p.body)
	return p
}

// player is the test's own player, used to probe the outage.
type player struct {
	base, uid, lease string
}

func (p *player) acquire(t *testing.T) probe {
	t.Helper()
	r := call(t, "canStream", "POST", p.base+"/canStream/"+p.uid)
	if r.status == 200 {
		p.lease, _ = r.body["leaseId"].(string)
	}
	return r
}

// down checks every operation answers 503 with Retry-After within
// answerBound while the store is unreachable; it returns how many rounds
// it made until stop closed.
func (p *player) down(t *testing.T, stop <-chan struct{}) int {
	t.Helper()
	rounds := 0
	for {
		select {
		case <-stop:
			return rounds
		default:
		}
		rounds++
		for _, r := range []probe{
			call(t, "canStream", "POST", p.base+"/canStream/"+p.uid+"-new"),
			call(t, "heartbeat", "POST", p.base+"/heartbeat/"+p.uid+"/"+p.lease),
			call(t, "endStream", "POST", p.base+"/endStream/"+p.uid+"/"+p.lease),
			call(t, "streams", "GET", p.base+"/streams/"+p.uid),
			call(t, "healthz", "GET", strings.TrimSuffix(p.base, "/dev")+"/healthz"),
		} {
			if r.status != http.StatusServiceUnavailable || r.retryAfter == "" || r.took >= answerBound {
				t.Errorf("store down: %s answered %d (Retry-After %q) in %v; want 503 with Retry-After within %v",
					r.op, r.status, r.retryAfter, r.took.Round(time.Millisecond), answerBound)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUp waits until /healthz answers 200.
func waitUp(t *testing.T, base string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if r := call(t, "healthz", "GET", strings.TrimSuffix(base, "/dev")+"/healthz"); r.status == 200 {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("service not back within %v", within)
	return 0
}

// loadConfig is the simulated players of a fault test.
func loadConfig(base string, reader loadgen.Reader, d time.Duration) loadgen.Config {
	return loadgen.Config{
		Base: base, Players: 30, UIDs: 12, UIDPrefix: fmt.Sprintf("f%04x-", rand.Uint32()&0xffff),
		Duration: d, Ramp: 3 * time.Second, SessionMin: 4 * time.Second, SessionMax: 12 * time.Second,
		PauseMax: time.Second, CrashShare: 0.1, TTL: ttl, Limit: 3, AuditEvery: time.Second, AuditSample: 12,
		Reader: reader, Allowed: []loadgen.Outcome{"503"}, SlowLimit: answerBound,
	}
}

// checkReport asserts the audit and the answers of a fault run.
func checkReport(t *testing.T, rep *loadgen.Report) {
	t.Helper()
	var buf strings.Builder
	rep.WriteText(&buf)
	t.Log("\n" + buf.String())
	a := rep.Audit
	if a.OverLimit != 0 || a.Lost != 0 || a.Invented != 0 || a.FinalLive != 0 || a.ProbeRefused != 0 {
		t.Errorf("audit: over limit %d, lost %d, invented %d, live after expiry %d, probes refused %d; want all 0",
			a.OverLimit, a.Lost, a.Invented, a.FinalLive, a.ProbeRefused)
	}
	if a.Moments < 5 {
		t.Errorf("audit sampled only %d moments", a.Moments)
	}
	for name, op := range rep.Ops {
		for oc, n := range op.Outcomes {
			if oc != "200" && oc != "503" {
				t.Errorf("%s: %d answers %q; only 200 and 503 (with Retry-After) are allowed", name, n, oc)
			}
		}
		if op.Slow > 0 {
			t.Errorf("%s: %d answers took %v or more", name, op.Slow, answerBound)
		}
	}
	if n := rep.Anomalies["heartbeat_410_live"]; n > 0 {
		t.Errorf("%d heartbeats of live leases were answered 410: leases lost", n)
	}
	if n := rep.Anomalies["expired_while_unavailable"]; n > 0 {
		t.Errorf("%d leases ran out while their players kept heartbeating through the outage", n)
	}
	if rep.Granted < 20 || rep.Ops["heartbeat"].Outcomes["200"] < 50 {
		t.Errorf("too little load to judge: %d grants, %d heartbeats answered 200", rep.Granted, rep.Ops["heartbeat"].Outcomes["200"])
	}
}

// TestDynamoKilledAndRestarted kills DynamoDB Local (its data on disk)
// under load, keeps it down a few seconds and starts it again.
func TestDynamoKilledAndRestarted(t *testing.T) {
	t.Parallel()
	ddb, err := ddblocal.StartOnDisk(t.Context(), 0, t.TempDir())
	if err != nil {
		skipOrFail(t, err)
	}
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); ddb.Stop(); mu.Unlock() })
	table := fmt.Sprintf("faults_%08x", rand.Uint32())
	base := startAPI(t, ddb.Endpoint, table)
	client, err := dynamo.New(t.Context(), dynamo.Config{Endpoint: ddb.Endpoint, Region: "us-east-1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	me := &player{base: base, uid: "probe-kill"}
	if r := me.acquire(t); r.status != 200 {
		t.Fatalf("probe canStream before the outage: %d %v", r.status, r.body)
	}
	reports := make(chan *loadgen.Report, 1)
	go func() {
		rep, err := loadgen.Run(context.Background(), loadConfig(base, loadgen.TableReader{API: client, Table: table}, 35*time.Second))
		if err != nil {
			t.Error(err)
		}
		reports <- rep
	}()

	time.Sleep(10 * time.Second)
	if r := call(t, "heartbeat", "POST", base+"/heartbeat/"+me.uid+"/"+me.lease); r.status != 200 {
		t.Fatalf("probe heartbeat before the outage: %d %v", r.status, r.body)
	}
	t.Log("killing DynamoDB Local")
	mu.Lock()
	ddb.Stop()
	mu.Unlock()
	stop := make(chan struct{})
	rounds := make(chan int, 1)
	go func() { rounds <- me.down(t, stop) }()
	time.Sleep(4 * time.Second)
	// Stop probing before the restart: a probe round must not meet the
	// store coming back (its endStream would end the probe's own lease).
	close(stop)
	t.Logf("store down: %d probe rounds, all 503 with Retry-After", <-rounds)
	t.Log("restarting DynamoDB Local")
	started := time.Now()
	mu.Lock()
	restarted, err := ddb.Restart(context.Background())
	if err == nil {
		ddb = restarted
	}
	mu.Unlock()
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("DynamoDB Local answered %v after the restart began; service back %v later",
		time.Since(started).Round(time.Millisecond), waitUp(t, base, 30*time.Second).Round(time.Millisecond))

	// Full service: the probe's lease survived (it is within its TTL) and
	// a new grant works.
	if r := call(t, "heartbeat", "POST", base+"/heartbeat/"+me.uid+"/"+me.lease); r.status != 200 {
		t.Errorf("heartbeat of the probe's lease after the restart: %d %v; want 200 (the lease outlived the outage)", r.status, r.body)
	}
	if r := call(t, "canStream", "POST", base+"/canStream/"+me.uid+"-after"); r.status != 200 || r.body["canStream"] != true {
		t.Errorf("canStream after the restart: %d %v", r.status, r.body)
	}
	rep := <-reports
	if rep == nil {
		t.Fatal("no report")
	}
	checkReport(t, rep)
	if rep.Ops["heartbeat"].Outcomes["503"] == 0 {
		t.Error("no heartbeat met the outage: the fault was not exercised")
	}
}

// TestProxyFaults puts a TCP proxy between the server and DynamoDB Local
// and, under load: adds latency, drops every connection repeatedly,
// swallows new connections (a network black hole), refuses them, then
// heals.
func TestProxyFaults(t *testing.T) {
	t.Parallel()
	ddb, err := ddblocal.Start(t.Context(), 0)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(ddb.Stop)
	proxy, err := faultproxy.Start(fmt.Sprintf("127.0.0.1:%d", ddb.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	table := fmt.Sprintf("faults_%08x", rand.Uint32())
	base := startAPI(t, proxy.URL(), table)
	client, err := dynamo.New(t.Context(), dynamo.Config{Endpoint: ddb.Endpoint, Region: "us-east-1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	me := &player{base: base, uid: "probe-proxy"}
	if r := me.acquire(t); r.status != 200 {
		t.Fatalf("probe canStream: %d %v", r.status, r.body)
	}
	reports := make(chan *loadgen.Report, 1)
	go func() {
		rep, err := loadgen.Run(context.Background(), loadConfig(base, loadgen.TableReader{API: client, Table: table}, 40*time.Second))
		if err != nil {
			t.Error(err)
		}
		reports <- rep
	}()

	time.Sleep(6 * time.Second)
	t.Log("latency: 150 ms per chunk each way")
	proxy.SetLatency(150 * time.Millisecond)
	time.Sleep(5 * time.Second)
	proxy.SetLatency(0)

	t.Log("dropping every connection every 300 ms")
	for range 15 {
		proxy.DropAll()
		time.Sleep(300 * time.Millisecond)
	}

	for _, m := range []struct {
		name string
		mode faultproxy.Mode
	}{{"black hole", faultproxy.Blackhole}, {"refused", faultproxy.Refuse}} {
		t.Logf("%s for 4 s", m.name)
		proxy.SetMode(m.mode)
		proxy.DropAll()
		stop := make(chan struct{})
		rounds := make(chan int, 1)
		go func() { rounds <- me.down(t, stop) }()
		time.Sleep(4 * time.Second)
		close(stop)
		<-rounds
		proxy.SetMode(faultproxy.Forward)
		proxy.DropAll() // release the swallowed connections
		t.Logf("service back %v after healing", waitUp(t, base, 20*time.Second).Round(time.Millisecond))
	}
	if r := call(t, "heartbeat", "POST", base+"/heartbeat/"+me.uid+"/"+me.lease); r.status != 200 {
		t.Errorf("heartbeat of the probe's lease after the faults: %d %v", r.status, r.body)
	}
	rep := <-reports
	if rep == nil {
		t.Fatal("no report")
	}
	accepted, dropped := proxy.Stats()
	t.Logf("proxy: %d connections accepted, %d dropped", accepted, dropped)
	checkReport(t, rep)
}
