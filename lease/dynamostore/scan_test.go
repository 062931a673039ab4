package dynamostore_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
)

// countingScan counts the Scan pages ScanAccounts asks for.
type countingScan struct {
	*dynamodb.Client
	pages atomic.Int32
}

func (c *countingScan) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	c.pages.Add(1)
	return c.Client.Scan(ctx, in, optFns...)
}

func TestScanAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	table := newTable(t)
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, dynamostore.New(client, dynamostore.WithTable(table)), clock)
	mustGrant := func(uid, device string) lease.Decision {
		t.Helper()
		d, err := svc.CanStream(ctx, uid, lease.Request{DeviceID: device})
		if err != nil || !d.Granted {
			t.Fatalf("CanStream(%s, %s) = %+v, %v", uid, device, d, err)
		}
		return d
	}

	// alice: tv expires unrenewed, phone is kicked, laptop is live. Nothing
	// is granted after tv expires, so nothing reclaims it.
	mustGrant("alice", "tv")
	clock.Advance(60 * time.Second)
	mustGrant("alice", "phone")
	clock.Advance(time.Second)
	mustGrant("alice", "laptop")
	clock.Advance(40 * time.Second) // tv expired at 90 s
	l, err := svc.List(ctx, "alice")
	if err != nil || len(l.Sessions) != 2 || l.Sessions[0].DeviceID != "phone" {
		t.Fatalf("List = %+v, %v", l, err)
	}
	if _, err := svc.Kick(ctx, "alice", l.Sessions[0].Handle, lease.RevokedKicked); err != nil {
		t.Fatal(err)
	}
	// bob: own limit and policy, one live lease.
	if err := svc.SetLimit(ctx, "bob", 5); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPolicy(ctx, "bob", lease.PolicyEvictOldest); err != nil {
		t.Fatal(err)
	}
	mustGrant("bob", "")
	// carol: an account item with a limit and nothing else.
	if err := svc.SetLimit(ctx, "carol", 1); err != nil {
		t.Fatal(err)
	}

	want := []dynamostore.AccountSummary{
		// count is as of the last write: 3 at the last grant, 2 after the
		// kick; the scan sees tv has expired since.
		{UID: "alice", Live: 1, Expired: 1, Revoked: 1, Count: 2},
		{UID: "bob", Live: 1, Count: 1, MaxStreams: 5, Policy: lease.PolicyEvictOldest},
		{UID: "carol", MaxStreams: 1},
	}
	api := &countingScan{Client: client}
	got, err := dynamostore.ScanAccounts(ctx, api, table, clock.Now(), dynamostore.ScanOptions{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ScanAccounts =\n%+v\nwant\n%+v", got, want)
	}
	// 8 items (3 account items, 5 leases) in pages of 2: at least 4 pages.
	if n := api.pages.Load(); n < 4 {
		t.Fatalf("%d Scan pages for 8 items in pages of 2; the scan did not paginate", n)
	}

	// Later, everything alice has left is expired, and her tombstone too.
	clock.Advance(svc.LeaseTTL() + lease.DefaultEvictCooldown)
	got, err = dynamostore.ScanAccounts(ctx, client, table, clock.Now(), dynamostore.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := got[0]; a.UID != "alice" || a.Live != 0 || a.Expired != 2 || a.Revoked != 1 {
		t.Fatalf("alice later: %+v; want 0 live, 2 expired, the tombstone still counted as revoked", a)
	}
}

func TestScanAccountsEmptyAndMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	got, err := dynamostore.ScanAccounts(ctx, client, newTable(t), time.Now(), dynamostore.ScanOptions{})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty table: %v, %v; want an empty list", got, err)
	}
	if _, err := dynamostore.ScanAccounts(ctx, client, "no_such_table", time.Now(), dynamostore.ScanOptions{}); !errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("missing table: %v; want ErrUnavailable", err)
	}
}
