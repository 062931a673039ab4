package wsconn_test

import (
	"testing"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/memstore"
	"github.com/streamlimit/streamlimit/wsconn"
	"github.com/streamlimit/streamlimit/wsconn/wsconntest"
)

func TestConformanceMemory(t *testing.T) {
	wsconntest.Run(t, wsconntest.Harness{
		New: func(t *testing.T) (lease.Store, wsconn.ConnStore) { return memstore.New(), wsconn.NewMemConns() },
	})
}

func TestValidConnID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"R1kmxc2VNjMCFIA=": true, "a-b_c+d/e": true, "": false, "a#b": false, "a b": false,
		string(make([]byte, 129)): false,
	} {
		if got := wsconn.ValidConnID(id); got != want {
			t.Errorf("ValidConnID(%q) = %v, want %v", id, got, want)
		}
	}
}
