package observetest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// Buffer collects what a server writes to its log stream (request lines
// and EMF documents); writes may come from many goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Reset forgets everything written so far.
func (l *Buffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// Lines returns the non-empty lines written so far.
func (l *Buffer) Lines() []string {
	var out []string
	for _, s := range strings.Split(l.String(), "\n") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// JSONLines decodes every line, failing the test on one that is not JSON.
func (l *Buffer) JSONLines(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, s := range l.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			tb.Fatalf("not a JSON line: %q", s)
		}
		out = append(out, m)
	}
	return out
}
