package dynamostore_test

import (
	"testing"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
)

// With the account queue on DynamoDB Local: 100 racers on one account, and
// 4 accounts × 25 racers, through one process and through two; each
// account gets exactly its limit, nobody gets an error, and the Commits of
// one account from one process never overlap.
func TestAccountQueueOnDynamoDB(t *testing.T) {
	for _, tc := range []struct {
		name           string
		accounts       int
		racers, procs  int
		maxOverlapping int
	}{
		{"one account, one process", 1, 100, 1, 1},
		{"four accounts, one process", 4, 25, 1, 1},
		{"one account, two processes", 1, 100, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := leasetest.NewCounting(dynamostore.New(client, dynamostore.WithTable(newTable(t))))
			clock := leasetest.NewClock()
			var svcs []*lease.Service
			for range tc.procs {
				svcs = append(svcs, leasetest.NewService(t, store, clock, lease.WithAccountQueue(true)))
			}
			var uids []string
			for i := range tc.accounts {
				uids = append(uids, leasetest.UID(t, string(rune('a'+i))))
			}
			res := leasetest.Race(t.Context(), svcs, uids, tc.racers)
			for _, uid := range uids {
				if res.Granted[uid] != 3 {
					t.Errorf("%s: granted %d; want 3", uid, res.Granted[uid])
				}
			}
			loads, commits, failed, most := store.Counts()
			t.Logf("%d loads, %d commits (%d lost a race), at most %d of one account in flight", loads, commits, failed, most)
			if len(res.Errors) > 0 {
				t.Fatalf("%d errors, first: %v", len(res.Errors), res.Errors[0])
			}
			if most > tc.maxOverlapping {
				t.Fatalf("%d commits of one account in flight at once; want at most %d (one per process)", most, tc.maxOverlapping)
			}
		})
	}
}
