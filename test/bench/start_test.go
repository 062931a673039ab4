package bench_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// builds caches the binaries built for the start benchmarks.
var builds sync.Map // package path -> *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// build compiles pkg for this machine with the Lambda build's flags into a
// temporary folder, once per test binary.
func build(b *testing.B, pkg string) string {
	b.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		dir, err := os.MkdirTemp("", "bench-bin-")
		if err != nil {
			r.err = err
			return
		}
		r.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", r.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if r.err != nil {
		b.Fatal(r.err)
	}
	return r.path
}

func freePort(b *testing.B) int {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// BenchmarkStartLocal is process start to first answer for cmd/local: from
// exec until GET /healthz answers 200 (with DynamoDB, /healthz reads the
// table, so the first DynamoDB call is included).
func BenchmarkStartLocal(b *testing.B) {
	for _, store := range []string{"memory", "dynamodb"} {
		b.Run("store="+store, func(b *testing.B) {
			bin := build(b, "github.com/streamlimit/streamlimit/cmd/local")
			env := append(os.Environ(), "STORE="+store, "AWS_REGION=us-east-1", "METRICS=off")
			if store == "dynamodb" {
				localDynamo(b)
				env = append(env, "DYNAMODB_ENDPOINT="+ddb.endpoint, "TABLE_NAME="+newTable(b))
			}
			client := &http.Client{Timeout: time.Second}
			b.ResetTimer()
			for range b.N {
				port := freePort(b)
				cmd := exec.Command(bin)
				cmd.Env = append(env, fmt.Sprintf("PORT=%d", port))
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
				for {
					resp, err := client.Get(url)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
					if time.Since(start) > 30*time.Second {
						_ = cmd.Process.Kill()
						_ = cmd.Wait()
						b.Fatalf("no 200 from %s within 30 s", url)
					}
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkStartLambda is process start to first answer for the Lambda
// bootstrap (cmd/api, built as `make package` builds it, for this machine's
// architecture): from exec until it posts its answer to a fake Lambda
// Runtime API that hands it one API Gateway HTTP API event, GET /healthz.
// A real cold start adds Lambda's own sandbox and download time.
func BenchmarkStartLambda(b *testing.B) {
	event, err := os.ReadFile("../../cmd/api/testdata/healthz.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, store := range []string{"memory", "dynamodb"} {
		b.Run("store="+store, func(b *testing.B) {
			bin := build(b, "github.com/streamlimit/streamlimit/cmd/api")
			env := append(os.Environ(), "STORE="+store, "AWS_REGION=us-east-1", "METRICS=off", "ROUTE_PREFIX=")
			if store == "dynamodb" {
				localDynamo(b)
				env = append(env, "DYNAMODB_ENDPOINT="+ddb.endpoint, "TABLE_NAME="+newTable(b))
			}
			b.ResetTimer()
			for i := range b.N {
				answered := make(chan string, 1)
				id := fmt.Sprintf("req-%d", i)
				served := false
				var mu sync.Mutex
				rt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch {
					case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/runtime/invocation/next"):
						mu.Lock()
						first := !served
						served = true
						mu.Unlock()
						if !first {
							<-r.Context().Done() // no second event
							return
						}
						w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
						w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
						w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
						_, _ = w.Write(event)
					case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/extension/register"):
						// cmd/api registers an internal extension, so that
						// Lambda sends it SIGTERM before shutdown.
						w.Header().Set("Lambda-Extension-Identifier", "ext-"+id)
						_, _ = w.Write([]byte(`{}`))
					case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/extension/event/next"):
						<-r.Context().Done() // registered for no event
					case r.Method == http.MethodPost:
						body, _ := io.ReadAll(r.Body)
						w.WriteHeader(http.StatusAccepted)
						select {
						case answered <- r.URL.Path + " " + string(body):
						default:
						}
					}
				}))
				cmd := exec.Command(bin)
				cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.URL, "http://"))
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var got string
				select {
				case got = <-answered:
				case <-ctx.Done():
				}
				cancel()
				b.StopTimer()
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				rt.CloseClientConnections()
				rt.Close()
				if !strings.Contains(got, "/invocation/"+id+"/response") || !strings.Contains(got, `\"status\":\"ok\"`) {
					b.Fatalf("bootstrap answered %q, want the healthz response for %s (started %v ago)", got, id, time.Since(start))
				}
				b.StartTimer()
			}
		})
	}
}
