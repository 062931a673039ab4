package wsconn

import (
	"context"
	"sync"
	"time"
)

// MemConns is an in-memory ConnStore for one process (the local server with
// STORE=memory, tests).
type MemConns struct {
	mu      sync.Mutex
	conns   map[string]Binding // by connection id
	lookups int
}

var _ ConnStore = (*MemConns)(nil)

// NewMemConns returns an empty MemConns.
func NewMemConns() *MemConns {
	return &MemConns{conns: map[string]Binding{}}
}

// Bind implements ConnStore.
func (m *MemConns) Bind(_ context.Context, b Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns[b.ConnID] = b
	return nil
}

// Lookup implements ConnStore.
func (m *MemConns) Lookup(_ context.Context, connID string, now time.Time) (Binding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lookups++; m.lookups%256 == 0 {
		m.gc(now)
	}
	b, ok := m.conns[connID]
	if !ok || !now.Before(b.ExpiresAt) {
		return Binding{}, ErrNotBound
	}
	return b, nil
}

// Unbind implements ConnStore.
func (m *MemConns) Unbind(_ context.Context, b Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.conns, b.ConnID)
	return nil
}

// Len returns how many bindings are kept (tests).
func (m *MemConns) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

// gc forgets bindings past their expiry, as DynamoDB's TTL would, so a
// long-running process does not keep dropped connections forever. It runs
// on every 256th Lookup, with the caller's clock.
func (m *MemConns) gc(now time.Time) {
	for id, b := range m.conns {
		if !now.Before(b.ExpiresAt) {
			delete(m.conns, id)
		}
	}
}
