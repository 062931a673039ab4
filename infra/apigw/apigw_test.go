package apigw_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/streamlimit/streamlimit/infra/apigw"
)

// TestConnections checks the management API calls against a stand-in
// endpoint on loopback: PostToConnection and DeleteConnection under the
// event's stage, signed, with the message as the body.
func TestConnections(t *testing.T) {
	t.Parallel()
	type call struct{ method, path, body, auth string }
	var (
		mu    sync.Mutex
		calls []call
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, call{r.Method, r.URL.Path, string(b), r.Header.Get("Authorization")})
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/gone") {
			w.Header().Set("X-Amzn-Errortype", "GoneException")
			w.WriteHeader(http.StatusGone)
			_, _ = io.WriteString(w, `{"message":"gone"}`)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	c := apigw.NewConnectionsFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	ctx := context.Background()
	endpoint := srv.URL + "/dev"
	if err := c.Post(ctx, endpoint, "CXW3pdRfIAMCIeA=", []byte(`{"action":"heartbeat"}`)); err != nil {
		t.Fatalf("Post: %v", err)
	}
	if err := c.Close(ctx, endpoint, "CXW3pdRfIAMCIeA="); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Post(ctx, endpoint, "gone", []byte(`{}`)); err == nil {
		t.Fatal("Post to a gone connection: no error")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []call{
		{"POST", "/dev/@connections/CXW3pdRfIAMCIeA=", `{"action":"heartbeat"}`, ""},
		{"DELETE", "/dev/@connections/CXW3pdRfIAMCIeA=", "", ""},
	}
	if len(calls) < len(want) {
		t.Fatalf("calls %+v", calls)
	}
	for i, w := range want {
		got := calls[i]
		if got.method != w.method || got.path != w.path || got.body != w.body || !strings.Contains(got.auth, "execute-api") {
			t.Errorf("call %d = %+v, want %s %s %q signed for execute-api", i, got, w.method, w.path, w.body)
		}
	}
}
