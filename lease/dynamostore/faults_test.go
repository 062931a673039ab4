package dynamostore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
)

// conflicting wraps the real client and makes the first n transactions
// fail the way real DynamoDB does under contention (DynamoDB Local never
// returns TransactionConflict).
type conflicting struct {
	dynamostore.DynamoDBAPI
	left  atomic.Int32
	calls atomic.Int32
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls.Add(1)
	if c.left.Add(-1) >= 0 {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[0].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.DynamoDBAPI.TransactWriteItems(ctx, in, opts...)
}

func TestTransactionConflictIsRetried(t *testing.T) {
	t.Parallel()
	table := newTable(t)
	api := &conflicting{DynamoDBAPI: client}
	api.left.Store(3)
	store := dynamostore.New(api, dynamostore.WithTable(table))
	svc := leasetest.NewService(t, store, leasetest.NewClock())
	uid := leasetest.UID(t, "u")
	d, err := svc.CanStream(t.Context(), uid, lease.Request{})
	if err != nil || !d.Granted {
		t.Fatalf("CanStream after 3 conflicts = %+v, %v; want granted", d, err)
	}
	if n := api.calls.Load(); n != 4 {
		t.Fatalf("%d transactions; want 3 conflicts + 1 commit", n)
	}
	api.left.Store(2)
	rel, err := svc.EndStream(t.Context(), uid, d.Lease.ID)
	if err != nil || !rel.Removed || rel.StreamCount != 0 {
		t.Fatalf("EndStream after 2 conflicts = %+v, %v; want removed", rel, err)
	}

	// A conflict that never ends is reported as contention, and nothing is granted.
	api.left.Store(1 << 20)
	svc = leasetest.NewService(t, store, leasetest.NewClock(), lease.WithRetry(4, time.Millisecond, 2*time.Millisecond))
	if _, err := svc.CanStream(t.Context(), uid, lease.Request{}); !errors.Is(err, lease.ErrContention) {
		t.Fatalf("endless conflicts: %v; want ErrContention", err)
	}
	if n := itemCount(t, table); n != 1 {
		t.Fatalf("%d items; want only the account item", n)
	}
}

func TestAutoCreateTable(t *testing.T) {
	t.Parallel()
	if client == nil {
		t.Skip(skipMsg)
	}
	table := "autocreate_" + leasetest.UID(t, "t")[len(t.Name()):]
	plain := dynamostore.New(client, dynamostore.WithTable(table))
	if _, err := plain.Load(t.Context(), "u", true); !errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("missing table without auto-create: %v; want ErrUnavailable", err)
	}
	store := dynamostore.New(client, dynamostore.WithTable(table), dynamostore.WithAutoCreate(client))
	svc := leasetest.NewService(t, store, leasetest.NewClock())
	if d, err := svc.CanStream(t.Context(), "u", lease.Request{}); err != nil || !d.Granted {
		t.Fatalf("CanStream with auto-create = %+v, %v", d, err)
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "expiresAt" || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("TTL = %+v; want enabled on expiresAt", d)
	}
	desc, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if b := desc.Table.BillingModeSummary; b == nil || b.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("billing = %+v; want PAY_PER_REQUEST", b)
	}
	// Creating again is harmless.
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
}

func TestUnreachableStoreFailsFast(t *testing.T) {
	t.Parallel()
	dead, err := dynamo.New(t.Context(), dynamo.Config{Endpoint: "http://127.0.0.1:1", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	svc := leasetest.NewService(t, dynamostore.New(dead), leasetest.NewClock())
	start := time.Now()
	_, err = svc.CanStream(t.Context(), "u", lease.Request{})
	if !errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("CanStream against a dead endpoint: %v; want ErrUnavailable", err)
	}
	if err := svc.Ping(t.Context()); !errors.Is(err, lease.ErrUnavailable) {
		t.Fatalf("Ping: %v; want ErrUnavailable", err)
	}
	t.Logf("failed in %v", time.Since(start))
}

func TestItemLayout(t *testing.T) {
	t.Parallel()
	table := newTable(t)
	clock := leasetest.NewClock()
	svc := leasetest.NewService(t, dynamostore.New(client, dynamostore.WithTable(table)), clock)
	d, err := svc.CanStream(t.Context(), "viewer", lease.Request{DeviceID: "tv", Client: lease.Client{UserAgent: "UA", Title: "T"}})
	if err != nil || !d.Granted {
		t.Fatal(d, err)
	}
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"uid": &types.AttributeValueMemberS{Value: "viewer"}, "sk": &types.AttributeValueMemberS{Value: "lease#" + d.Lease.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	exp, ok := out.Item["expiresAt"].(*types.AttributeValueMemberN)
	if !ok || exp.Value != itoa(d.Lease.ExpiresAt.Unix()) {
		t.Fatalf("expiresAt attribute = %#v; want epoch seconds %d", out.Item["expiresAt"], d.Lease.ExpiresAt.Unix())
	}
	acct, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"uid": &types.AttributeValueMemberS{Value: "viewer"}, "sk": &types.AttributeValueMemberS{Value: "#account"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := acct.Item["count"].(*types.AttributeValueMemberN); !ok || c.Value != "1" {
		t.Fatalf("account count = %#v; want 1", acct.Item["count"])
	}
}
