package bench_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/internal/stores"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

// BenchmarkHandler measures the service's own overhead: the HTTP handler
// (routing, JSON, validation, the lease service) over the in-memory store,
// called in-process without a network. p50/p99 are per request.
func BenchmarkHandler(b *testing.B) {
	newServer := func(b *testing.B) (http.Handler, *lease.Service) {
		svc, err := lease.New(memstore.New())
		if err != nil {
			b.Fatal(err)
		}
		return handlers.NewServer(svc, handlers.Config{Prefix: "/dev", AllowedOrigins: []string{"*"}}), svc
	}
	serve := func(b *testing.B, h http.Handler, method, path, body string, want int) time.Duration {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != want {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return d
	}
	b.Run("canStream", func(b *testing.B) {
		h, _ := newServer(b)
		lat := make(latencies, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			lat = append(lat, serve(b, h, "POST", fmt.Sprintf("/dev/canStream/u%d", i), `{"deviceId":"tv-1"}`, 200))
		}
		b.StopTimer()
		lat.report(b, time.Microsecond, "µs")
	})
	b.Run("heartbeat", func(b *testing.B) {
		h, svc := newServer(b)
		d, err := svc.CanStream(context.Background(), "alice", lease.Request{})
		if err != nil {
			b.Fatal(err)
		}
		path := "/dev/heartbeat/alice/" + d.Lease.ID
		lat := make(latencies, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			lat = append(lat, serve(b, h, "POST", path, "", 200))
		}
		b.StopTimer()
		lat.report(b, time.Microsecond, "µs")
	})
	b.Run("endStream", func(b *testing.B) {
		h, svc := newServer(b)
		paths := make([]string, b.N)
		for i := range b.N {
			uid := fmt.Sprintf("u%d", i)
			d, err := svc.CanStream(context.Background(), uid, lease.Request{})
			if err != nil {
				b.Fatal(err)
			}
			paths[i] = "/dev/endStream/" + uid + "/" + d.Lease.ID
		}
		lat := make(latencies, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for _, p := range paths {
			lat = append(lat, serve(b, h, "POST", p, "", 200))
		}
		b.StopTimer()
		lat.report(b, time.Microsecond, "µs")
	})
	b.Run("invalid", func(b *testing.B) {
		h, _ := newServer(b)
		lat := make(latencies, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			lat = append(lat, serve(b, h, "POST", "/dev/canStream/a%23b", "", 400))
		}
		b.StopTimer()
		lat.report(b, time.Microsecond, "µs")
	})
}

// startServer runs the real API (handlers over the configured store, as
// the binaries wire it, without access checks, tracing or metrics) on a
// loopback httptest server, against DynamoDB Local or, with store
// "memory", the in-memory store.
func startServer(b *testing.B, store string) (base string, svc *lease.Service) {
	b.Helper()
	env := map[string]string{"STORE": store, "AWS_REGION": "us-east-1", "METRICS": "off"}
	if store == "dynamodb" {
		localDynamo(b)
		env["DYNAMODB_ENDPOINT"] = ddb.endpoint
		env["TABLE_NAME"] = newTable(b)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	svc, _, err = stores.Service(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(handlers.NewServer(svc, handlers.ConfigFrom(cfg)))
	b.Cleanup(srv.Close)
	return srv.URL + "/dev", svc
}

// BenchmarkServerHeartbeat is the local server's heartbeat throughput over
// loopback HTTP: 32 concurrent clients heartbeat 64 leases. Read req/s;
// the machine's 2 cores run the client, the server and DynamoDB Local.
func BenchmarkServerHeartbeat(b *testing.B) {
	for _, store := range []string{"dynamodb", "memory"} {
		b.Run("store="+store, func(b *testing.B) {
			base, svc := startServer(b, store)
			var paths []string
			for k := range 64 {
				uid := fmt.Sprintf("tp%d", k)
				l := grant(b, svc, uid, "tv")
				paths = append(paths, base+"/heartbeat/"+uid+"/"+l.ID)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
			var next, failed atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p := paths[next.Add(1)%int64(len(paths))]
					resp, err := client.Post(p, "", nil)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			b.ReportMetric(float64(failed.Load())/float64(b.N), "non-200/op")
		})
	}
}
