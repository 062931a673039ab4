// Package dynamoconns is the DynamoDB wsconn.ConnStore: the connection
// bindings the DynamoDB lease store keeps beside the leases in its table
// (dynamostore.Binding: the item layout, like every item's, is the store's),
// served to wsconn.Service.
//
// Bind is one PutItem, Lookup one strongly consistent GetItem, Unbind one
// DeleteItem, each on the connection's own item: no item is shared between
// connections (the lease id is the connection's own; see package wsconn).
// TTL only collects garbage: Lookup filters on expiresAt.
package dynamoconns

import (
	"context"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/wsconn"
)

// Store is the DynamoDB wsconn.ConnStore.
type Store struct {
	items *dynamostore.Store
}

var _ wsconn.ConnStore = (*Store)(nil)

// New returns the connection bindings in the table of the lease store
// items.
func New(items *dynamostore.Store) *Store { return &Store{items: items} }

// Beside returns the connection bindings beside a lease store: in its
// table when it is the DynamoDB store, else in memory (STORE=memory).
func Beside(leases lease.Store) wsconn.ConnStore {
	if items, ok := leases.(*dynamostore.Store); ok {
		return New(items)
	}
	return wsconn.NewMemConns()
}

// Bind implements wsconn.ConnStore.
func (s *Store) Bind(ctx context.Context, b wsconn.Binding) error {
	return s.items.PutBinding(ctx, dynamostore.Binding(b))
}

// Lookup implements wsconn.ConnStore with a strongly consistent read, so a
// heartbeat right after the connect sees its binding.
func (s *Store) Lookup(ctx context.Context, connID string, now time.Time) (wsconn.Binding, error) {
	b, ok, err := s.items.GetBinding(ctx, connID)
	switch {
	case err != nil:
		return wsconn.Binding{}, err
	case !ok || !now.Before(b.ExpiresAt):
		return wsconn.Binding{}, wsconn.ErrNotBound
	}
	return wsconn.Binding(b), nil
}

// Unbind implements wsconn.ConnStore.
func (s *Store) Unbind(ctx context.Context, b wsconn.Binding) error {
	return s.items.DeleteBinding(ctx, b.ConnID)
}
