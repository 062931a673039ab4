// Package dynamoconns is the DynamoDB wsconn.ConnStore. It keeps connection
// bindings in the lease table, under partitions no account can have (uids
// never contain '#'), so the lease store never reads them:
//
//   - a binding: uid "#conn#<connectionId>", sk "#conn", with account (the
//     uid), leaseId and expiresAt (N, epoch seconds, the table's TTL
//     attribute).
//
// Bind is one PutItem, Lookup one strongly consistent GetItem, Unbind one
// DeleteItem, each on the connection's own record: no record is shared
// between connections (the lease id is the connection's own; see package
// wsconn). TTL only collects garbage: Lookup filters on expiresAt.
package dynamoconns

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/wsconn"
)

// Item attribute names and keys.
const (
	attrUID       = "uid"
	attrSK        = "sk"
	attrAccount   = "account"
	attrLeaseID   = "leaseId"
	attrExpiresAt = "expiresAt"

	sortKey      = "#conn"
	connPrefix   = "#conn#"
	defaultTable = "uid_concurrency_count"
)

// DynamoDBAPI is the subset of the DynamoDB client the store calls.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Store is the DynamoDB wsconn.ConnStore.
type Store struct {
	api   DynamoDBAPI
	table string
}

var _ wsconn.ConnStore = (*Store)(nil)

// New returns a store over api in table (the lease table; "" means
// uid_concurrency_count).
func New(api DynamoDBAPI, table string) *Store {
	if table == "" {
		table = defaultTable
	}
	return &Store{api: api, table: table}
}

// Open returns the connection bindings beside a lease store: over client
// in table, or in memory when client is nil (STORE=memory).
func Open(client *dynamodb.Client, table string) wsconn.ConnStore {
	if client == nil {
		return wsconn.NewMemConns()
	}
	return New(client, table)
}

func key(uid string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUID: str(uid), attrSK: str(sortKey)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// Bind implements wsconn.ConnStore.
func (s *Store) Bind(ctx context.Context, b wsconn.Binding) error {
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrUID: str(connPrefix + b.ConnID), attrSK: str(sortKey),
			attrAccount: str(b.UID), attrLeaseID: str(b.LeaseID), attrExpiresAt: epoch(b.ExpiresAt),
		},
	})
	return translate(err)
}

// Lookup implements wsconn.ConnStore with a strongly consistent read, so a
// heartbeat right after the connect sees its binding.
func (s *Store) Lookup(ctx context.Context, connID string, now time.Time) (wsconn.Binding, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            key(connPrefix + connID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return wsconn.Binding{}, translate(err)
	}
	if len(out.Item) == 0 {
		return wsconn.Binding{}, wsconn.ErrNotBound
	}
	b := wsconn.Binding{ConnID: connID, UID: getS(out.Item, attrAccount), LeaseID: getS(out.Item, attrLeaseID)}
	n, err := strconv.ParseInt(getN(out.Item, attrExpiresAt), 10, 64)
	if err != nil || b.UID == "" || b.LeaseID == "" {
		return wsconn.Binding{}, fmt.Errorf("%w: malformed connection binding %q", lease.ErrUnavailable, connID)
	}
	b.ExpiresAt = time.Unix(n, 0)
	if !now.Before(b.ExpiresAt) {
		return wsconn.Binding{}, wsconn.ErrNotBound
	}
	return b, nil
}

// Unbind implements wsconn.ConnStore.
func (s *Store) Unbind(ctx context.Context, b wsconn.Binding) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(connPrefix + b.ConnID)})
	return translate(err)
}

// translate turns every DynamoDB failure into lease.ErrUnavailable.
func translate(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: connection bindings: %w", lease.ErrUnavailable, err)
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}
