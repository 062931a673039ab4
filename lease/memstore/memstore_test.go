package memstore_test

import (
	"testing"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/leasetest"
	"github.com/streamlimit/streamlimit/lease/memstore"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	leasetest.Run(t, leasetest.Harness{
		NewStore:   func(*testing.T) lease.Store { return memstore.New() },
		ItemCount:  func(_ *testing.T, s lease.Store) int { return s.(*memstore.Store).Len() },
		RaceRounds: 100, // 2,000 uid races of 100 goroutines each
		ModelSeeds: 200, ModelSteps: 150,
		AdversarySeeds: 200, AdversarySteps: 150,
	})
}
