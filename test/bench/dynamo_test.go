package bench_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/observe"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

// BenchmarkOp runs each API operation through the lease service on
// DynamoDB Local, sequentially, and reports its latency (p50, p99, mean),
// the Go side's CPU time per operation (cpu-µs/op: this process; DynamoDB
// Local is another) and what it costs: DynamoDB calls and the pricing
// model's capacity units per operation.
func BenchmarkOp(b *testing.B) {
	b.Run("canStream=grant", func(b *testing.B) {
		m := capacity.New()
		svc := observedService(b, m)
		var lat latencies
		b.ResetTimer()
		cpu := processCPU()
		for i := range b.N {
			ctx, cancel := opCtx("canStream")
			start := time.Now()
			d, err := svc.CanStream(ctx, uniq("grant", i), lease.Request{DeviceID: "tv"})
			lat = append(lat, time.Since(start))
			cancel()
			if err != nil || !d.Granted {
				b.Fatalf("canStream: %+v, %v", d, err)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu, b.N)
		lat.report(b, time.Millisecond, "ms")
		reportCapacity(b, m, "canStream", b.N)
	})
	b.Run("canStream=refused", func(b *testing.B) {
		m := capacity.New()
		svc := observedService(b, m)
		for k := range 3 {
			grant(b, svc, "full", fmt.Sprint("dev", k))
		}
		var lat latencies
		b.ResetTimer()
		cpu := processCPU()
		for range b.N {
			ctx, cancel := opCtx("canStream")
			start := time.Now()
			d, err := svc.CanStream(ctx, "full", lease.Request{DeviceID: "late"})
			lat = append(lat, time.Since(start))
			cancel()
			if err != nil || d.Granted {
				b.Fatalf("canStream at the limit: %+v, %v", d, err)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu, b.N)
		lat.report(b, time.Millisecond, "ms")
		reportCapacity(b, m, "canStream", b.N)
	})
	heartbeat := func(b *testing.B, withToken bool) {
		m := capacity.New()
		svc := observedService(b, m)
		l := grant(b, svc, uniq("hb", 0), "tv")
		var req lease.HeartbeatRequest
		if withToken {
			r, err := svc.Heartbeat(context.Background(), l.UID, l.ID, req)
			if err != nil {
				b.Fatal(err)
			}
			req.Token = r.Token
		}
		var lat latencies
		b.ResetTimer()
		cpu := processCPU()
		for range b.N {
			ctx, cancel := opCtx("heartbeat")
			start := time.Now()
			_, err := svc.Heartbeat(ctx, l.UID, l.ID, req)
			lat = append(lat, time.Since(start))
			cancel()
			if err != nil {
				b.Fatalf("heartbeat: %v", err)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu, b.N)
		lat.report(b, time.Millisecond, "ms")
		reportCapacity(b, m, "heartbeat", b.N)
	}
	// Without a renewal token every heartbeat writes (one UpdateItem).
	b.Run("heartbeat", func(b *testing.B) { heartbeat(b, false) })
	// With its token, back-to-back heartbeats are all answered from it
	// (no store call): the best case. A player heartbeating every 30 s
	// at the defaults writes on every other one.
	b.Run("heartbeat=token-skip", func(b *testing.B) { heartbeat(b, true) })
	b.Run("endStream", func(b *testing.B) {
		m := capacity.New()
		svc := observedService(b, m)
		leases := make([]lease.Lease, b.N)
		for i := range b.N {
			leases[i] = grant(b, svc, uniq("end", i), "tv")
		}
		var lat latencies
		b.ResetTimer()
		cpu := processCPU()
		for _, l := range leases {
			ctx, cancel := opCtx("endStream")
			start := time.Now()
			rel, err := svc.EndStream(ctx, l.UID, l.ID)
			lat = append(lat, time.Since(start))
			cancel()
			if err != nil || !rel.Removed {
				b.Fatalf("endStream: %+v, %v", rel, err)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu, b.N)
		lat.report(b, time.Millisecond, "ms")
		reportCapacity(b, m, "endStream", b.N)
	})
	b.Run("streams", func(b *testing.B) {
		m := capacity.New()
		svc := observedService(b, m)
		for k := range 3 {
			grant(b, svc, "listed", fmt.Sprint("dev", k))
		}
		var lat latencies
		b.ResetTimer()
		cpu := processCPU()
		for range b.N {
			ctx, cancel := opCtx("streams")
			start := time.Now()
			l, err := svc.List(ctx, "listed")
			lat = append(lat, time.Since(start))
			cancel()
			if err != nil || l.StreamCount != 3 {
				b.Fatalf("list: %+v, %v", l, err)
			}
		}
		b.StopTimer()
		reportCPU(b, cpu, b.N)
		lat.report(b, time.Millisecond, "ms")
		reportCapacity(b, m, "streams", b.N)
	})
}

// BenchmarkStoreCall runs each DynamoDB store method alone.
func BenchmarkStoreCall(b *testing.B) {
	newStore := func(b *testing.B, m *capacity.Meter) *dynamostore.Store {
		return dynamostore.New(dynamostore.Observed(localDynamo(b), m.Observe), dynamostore.WithTable(newTable(b)))
	}
	commit := func(ctx context.Context, s *dynamostore.Store, uid string, version int64) (lease.Lease, error) {
		now := time.Now().Truncate(time.Millisecond)
		l := lease.Lease{ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", version), UID: uid, DeviceID: "tv",
			CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(90 * time.Second).Truncate(time.Second)}
		return l, s.Commit(ctx, uid, lease.Change{Version: version, Grant: l, Count: 1})
	}
	for _, consistent := range []bool{true, false} {
		b.Run(fmt.Sprintf("Load/consistent=%v", consistent), func(b *testing.B) {
			m := capacity.New()
			s := newStore(b, m)
			for v := range int64(3) {
				if _, err := commit(context.Background(), s, "acct", v); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				ctx, cancel := opCtx("Load")
				_, err := s.Load(ctx, "acct", consistent)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCapacity(b, m, "Load", b.N)
		})
	}
	b.Run("Commit", func(b *testing.B) {
		m := capacity.New()
		s := newStore(b, m)
		b.ResetTimer()
		for i := range b.N {
			ctx, cancel := opCtx("Commit")
			_, err := commit(ctx, s, uniq("c", i), 0)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportCapacity(b, m, "Commit", b.N)
	})
	b.Run("Renew", func(b *testing.B) {
		m := capacity.New()
		s := newStore(b, m)
		l, err := commit(context.Background(), s, "acct", 0)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			ctx, cancel := opCtx("Renew")
			now := time.Now()
			_, err := s.Renew(ctx, "acct", l.ID, now, now.Add(90*time.Second).Truncate(time.Second))
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportCapacity(b, m, "Renew", b.N)
	})
	b.Run("Release", func(b *testing.B) {
		m := capacity.New()
		s := newStore(b, m)
		ids := make([]lease.Lease, b.N)
		for i := range b.N {
			l, err := commit(context.Background(), s, uniq("r", i), 0)
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = l
		}
		b.ResetTimer()
		for _, l := range ids {
			ctx, cancel := opCtx("Release")
			ok, err := s.Release(ctx, l.UID, l.ID, time.Now())
			cancel()
			if err != nil || !ok {
				b.Fatalf("release: %v %v", ok, err)
			}
		}
		b.StopTimer()
		reportCapacity(b, m, "Release", b.N)
	})
}

// BenchmarkContention races 100 canStream calls on one uid (limit 3), each
// under a store budget, once per iteration on a fresh uid:
// ns/op is one whole race; p50/p99 are per call. It fails if a race ever
// grants more than the limit. "unavailable/op" counts calls answered 503
// (contention budget or store timeout) per race.
func BenchmarkContention(b *testing.B) {
	// budget=1.5s is the server's default STORE_TIMEOUT_MS; budget=10s
	// shows how long the race takes when nobody gives up.
	for _, budget := range []time.Duration{storeTimeout, 10 * time.Second} {
		b.Run(fmt.Sprintf("budget=%v", budget), func(b *testing.B) { contention(b, budget) })
	}
}

func contention(b *testing.B, budget time.Duration) {
	const racers = 100
	m := capacity.New()
	svc := observedService(b, m)
	var lat latencies
	var unavailable, refused int
	b.ResetTimer()
	for i := range b.N {
		uid := uniq("race", i)
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		granted := 0
		for k := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(observe.NewContext(context.Background(), &observe.Request{Operation: "canStream"}), budget)
				defer cancel()
				t0 := time.Now()
				d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: fmt.Sprint("dev", k)})
				d0 := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, d0)
				switch {
				case errors.Is(err, lease.ErrUnavailable), errors.Is(err, lease.ErrContention):
					unavailable++
				case err != nil:
					b.Errorf("canStream: %v", err)
				case d.Granted:
					granted++
				default:
					refused++
				}
			}()
		}
		close(start)
		wg.Wait()
		if granted > 3 {
			b.Fatalf("race %d granted %d leases, limit 3", i, granted)
		}
	}
	b.StopTimer()
	lat.report(b, time.Millisecond, "ms")
	b.ReportMetric(float64(unavailable)/float64(b.N), "unavailable/op")
	b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
	b.ReportMetric(float64(m.Snapshot()["canStream"].CallsTotal)/float64(b.N*racers), "ddb-calls/call")
}
