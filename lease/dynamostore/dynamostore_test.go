package dynamostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/testenv/ddblocal"
	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
)

var (
	client  *dynamodb.Client
	skipMsg string
)

func TestMain(m *testing.M) {
	ddblocal.Main(m, dynamo.Config{
		// 2,000 racing goroutines queue up at one DynamoDB Local process.
		Timeout: 60 * time.Second, MaxAttempts: 3,
	}, func(ep string, c *dynamodb.Client, skip string) {
		client, skipMsg = c, skip
	})
}

// newTable creates a fresh table for one test and returns its name.
func newTable(t *testing.T) string {
	t.Helper()
	if client == nil {
		t.Skip(skipMsg)
	}
	name := fmt.Sprintf("test_%08x", rand.Uint32())
	if err := dynamostore.CreateTable(t.Context(), client, name); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return name
}

func itemCount(t *testing.T, table string) int {
	t.Helper()
	out, err := client.Scan(context.Background(), &dynamodb.ScanInput{
		TableName: aws.String(table), Select: types.SelectCount, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return int(out.Count)
}

func TestConformance(t *testing.T) {
	leasetest.Run(t, leasetest.Harness{
		NewStore: func(t *testing.T) lease.Store {
			return dynamostore.New(client, dynamostore.WithTable(newTable(t)))
		},
		ItemCount: func(t *testing.T, s lease.Store) int {
			return itemCount(t, s.(*dynamostore.Store).Table())
		},
		RaceRounds: 4, RaceUIDs: 5, // 20 uids, each raced by 100 goroutines; 500 calls in flight at once
		ModelSeeds: 8, ModelSteps: 60,
	})
}

func itoa(n int64) string { return fmt.Sprint(n) }
