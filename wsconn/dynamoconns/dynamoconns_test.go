package dynamoconns_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/wsconn"
	"github.com/streamlimit/streamlimit/wsconn/dynamoconns"
	"github.com/streamlimit/streamlimit/wsconn/wsconntest"
)

var (
	client  *dynamodb.Client
	skipMsg string
)

func TestMain(m *testing.M) {
	ddblocal.Main(m, dynamo.Config{Timeout: 30 * time.Second}, func(ep string, c *dynamodb.Client, skip string) {
		client, skipMsg = c, skip
	})
}

func newTable(t *testing.T) string {
	t.Helper()
	if client == nil {
		t.Skip(skipMsg)
	}
	name := fmt.Sprintf("ws_%08x", rand.Uint32())
	if err := dynamostore.CreateTable(t.Context(), client, name); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return name
}

func TestConformance(t *testing.T) {
	wsconntest.Run(t, wsconntest.Harness{
		New: func(t *testing.T) (lease.Store, wsconn.ConnStore) {
			store := dynamostore.New(client, dynamostore.WithTable(newTable(t)))
			return store, dynamoconns.New(store)
		},
	})
}

// TestItems checks the items a binding writes: in partitions no uid can
// have, with the TTL attribute, and nothing left after Unbind.
func TestItems(t *testing.T) {
	t.Parallel()
	table := newTable(t)
	s := dynamoconns.New(dynamostore.New(client, dynamostore.WithTable(table)))
	ctx := context.Background()
	exp := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	b := wsconn.Binding{ConnID: "R1kmxc2VNjMCFIA=", UID: "alice", LeaseID: uuid.NewString(), ExpiresAt: exp}
	if err := s.Bind(ctx, b); err != nil {
		t.Fatal(err)
	}
	items := scan(t, table)
	want := []string{
		fmt.Sprintf("#conn#%s|#conn|account=alice|expiresAt=%d|leaseId=%s", b.ConnID, exp.Unix(), b.LeaseID),
	}
	if strings.Join(items, "\n") != strings.Join(want, "\n") {
		t.Fatalf("items:\n%s\nwant:\n%s", strings.Join(items, "\n"), strings.Join(want, "\n"))
	}
	for _, it := range items {
		if uid, _, _ := strings.Cut(it, "|"); lease.ValidUID(uid) {
			t.Errorf("binding partition %q is a valid uid: an account could collide with it", uid)
		}
	}
	if err := s.Unbind(ctx, b); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	if items := scan(t, table); len(items) != 0 {
		t.Fatalf("items after Unbind: %v", items)
	}
}

// TestUnavailable checks that a failing table is lease.ErrUnavailable.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	if client == nil {
		t.Skip(skipMsg)
	}
	s := dynamoconns.New(dynamostore.New(client, dynamostore.WithTable("no_such_table_"+uuid.NewString()[:8])))
	ctx := context.Background()
	b := wsconn.Binding{ConnID: "c1", UID: "u", LeaseID: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Bind(ctx, b); !errors.Is(err, lease.ErrUnavailable) {
		t.Errorf("Bind: %v, want ErrUnavailable", err)
	}
	if _, err := s.Lookup(ctx, "c1", time.Now()); !errors.Is(err, lease.ErrUnavailable) {
		t.Errorf("Lookup: %v, want ErrUnavailable", err)
	}
	if err := s.Unbind(ctx, b); !errors.Is(err, lease.ErrUnavailable) {
		t.Errorf("Unbind: %v, want ErrUnavailable", err)
	}
}

// scan returns every item as "uid|sk|name=value|…", sorted.
func scan(t *testing.T, table string) []string {
	t.Helper()
	out, err := client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, it := range out.Items {
		items = append(items, render(it))
	}
	slices.Sort(items)
	return items
}

// render writes an item as "uid|sk|name=value|…" with the other attributes
// sorted by name.
func render(it map[string]types.AttributeValue) string {
	val := func(v types.AttributeValue) string {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			return v.Value
		case *types.AttributeValueMemberN:
			return v.Value
		}
		return "?"
	}
	parts := []string{val(it["uid"]), val(it["sk"])}
	var rest []string
	for k, v := range it {
		if k != "uid" && k != "sk" {
			rest = append(rest, k+"="+val(v))
		}
	}
	slices.Sort(rest)
	return strings.Join(append(parts, rest...), "|")
}
