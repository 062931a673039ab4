package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease"
)

// Binding is a WebSocket connection's binding to its lease (package
// wsconn; wsconn/dynamoconns serves these items as its ConnStore): one item
// per connection, never shared, in a partition no account can have (uids
// never contain '#'), so Load never reads it: uid "#conn#<connectionId>",
// sk "#conn", with account (the uid), leaseId and expiresAt (N, epoch
// seconds, the table's TTL attribute).
type Binding struct {
	ConnID  string
	UID     string
	LeaseID string
	// ExpiresAt is when the binding may be forgotten; TTL only collects
	// garbage, so readers filter on it.
	ExpiresAt time.Time
}

const (
	attrAccount   = "account"
	bindingSK     = "#conn"
	bindingPrefix = "#conn#"
)

func bindingKey(connID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUID: str(bindingPrefix + connID), attrSK: str(bindingSK)}
}

// PutBinding writes b, replacing its connection's binding if any: one
// PutItem. Errors wrap lease.ErrUnavailable.
func (s *Store) PutBinding(ctx context.Context, b Binding) error {
	item := bindingKey(b.ConnID)
	item[attrAccount], item[attrLeaseID], item[attrExpiresAt] = str(b.UID), str(b.LeaseID), epochSeconds(b.ExpiresAt)
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return unavailable(err)
}

// GetBinding reads connection connID's binding with one strongly consistent
// GetItem, whatever its ExpiresAt; ok is false when there is none. Errors
// (a malformed item too) wrap lease.ErrUnavailable.
func (s *Store) GetBinding(ctx context.Context, connID string) (b Binding, ok bool, err error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: bindingKey(connID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Binding{}, false, unavailable(err)
	}
	if len(out.Item) == 0 {
		return Binding{}, false, nil
	}
	b = Binding{ConnID: connID, UID: getS(out.Item, attrAccount), LeaseID: getS(out.Item, attrLeaseID)}
	exp := getN(out.Item, attrExpiresAt)
	if b.UID == "" || b.LeaseID == "" || exp == 0 {
		return Binding{}, false, fmt.Errorf("%w: malformed connection binding %q", lease.ErrUnavailable, connID)
	}
	b.ExpiresAt = time.Unix(exp, 0)
	return b, true, nil
}

// DeleteBinding deletes connection connID's binding, if any: one
// DeleteItem. Errors wrap lease.ErrUnavailable.
func (s *Store) DeleteBinding(ctx context.Context, connID string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: bindingKey(connID)})
	return unavailable(err)
}

// unavailable turns every DynamoDB failure of a binding call into
// lease.ErrUnavailable: a binding has no condition to fail.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: connection bindings: %w", lease.ErrUnavailable, err)
}
