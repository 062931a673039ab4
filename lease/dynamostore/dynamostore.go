// Package dynamostore is the DynamoDB lease.Store.
//
// # Data model
//
// One table (default name uid_concurrency_count), on-demand, partition key uid
// (S) and sort key sk (S). Every item of one account lives in its partition:
//
//   - the account item, sk "#account": version (N, moved by every grant, end
//     and limit change), count (N, live leases as of the last write, so a
//     scan reads like the seed's), optional maxStreams (N);
//   - one item per lease, sk "lease#<leaseId>": leaseId, expiresAt (N, epoch
//     seconds, the table's TTL attribute), createdAt and renewedAt (N, epoch
//     milliseconds), optional deviceId, ua and title.
//
// The WebSocket variant's connection bindings live in the same table, each
// in a partition of its own that no account can have (see Binding). This
// package is the one place that reads and writes the items: the tools
// audit the table through ReadAccount.
//
// A grant is one TransactWriteItems: put the lease (attribute_not_exists),
// delete the expired leases it read (expiresAt unchanged) and move the account
// version (version unchanged). Two racing grants read the same version and
// only one can move it: that is the bound. A heartbeat is one conditional
// UpdateItem (1 write unit) that never moves expiresAt back; an end is one
// transaction deleting the live lease and moving the version. TTL only
// collects garbage: every count filters on expiresAt.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/lease"
)

// DefaultTable is the table name used by the seed project.
const DefaultTable = "uid_concurrency_count"

// Item attribute names and sort keys.
const (
	attrUID        = "uid"
	attrSK         = "sk"
	attrLeaseID    = "leaseId"
	attrExpiresAt  = "expiresAt"
	attrCreatedAt  = "createdAt"
	attrRenewedAt  = "renewedAt"
	attrDeviceID   = "deviceId"
	attrUserAgent  = "ua"
	attrTitle      = "title"
	attrVersion    = "version"
	attrCount      = "count"
	attrMaxStreams = "maxStreams"
	attrPolicy     = "policy"
	attrHandle     = "handle"
	attrRevoked    = "revoked"
	attrRevokedAt  = "revokedAt"
	attrSecretHash = "deviceKey"

	accountSK   = "#account"
	leasePrefix = "lease#"
	pingUID     = "#ping" // not a valid uid, so never an account
)

// DynamoDBAPI is the subset of the DynamoDB client the store calls
// (PutItem: only for connection bindings).
type DynamoDBAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// TableAPI is the subset of the DynamoDB client that CreateTable calls:
// the SDK's table waiter polls DescribeTable.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	dynamodb.DescribeTableAPIClient
}

// Store is the DynamoDB lease.Store.
type Store struct {
	api        DynamoDBAPI
	table      string
	autoCreate TableAPI
	createMu   sync.Mutex
}

var _ lease.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithTable sets the table name (default DefaultTable).
func WithTable(name string) Option { return func(s *Store) { s.table = name } }

// WithAutoCreate makes the store create its table (see CreateTable) the first
// time DynamoDB answers ResourceNotFoundException, then retry the call.
func WithAutoCreate(api TableAPI) Option { return func(s *Store) { s.autoCreate = api } }

// New returns a store over api.
func New(api DynamoDBAPI, opts ...Option) *Store {
	s := &Store{api: api, table: DefaultTable}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Load implements lease.Store.
func (s *Store) Load(ctx context.Context, uid string, consistent bool) (lease.Account, error) {
	var acct lease.Account
	err := s.do(ctx, func() error {
		var err error
		acct, err = ReadAccount(ctx, s.api, s.table, uid, consistent)
		return err
	})
	return acct, err
}

// QueryAPI is the DynamoDB call ReadAccount makes.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// ReadAccount reads every item of uid's partition in table with one
// paginated Query (strongly consistent when consistent is set) and decodes
// them as Store.Load does: the one reader of the item layout, for tools that
// audit the table without a Store. Its errors are DynamoDB's, untranslated.
func ReadAccount(ctx context.Context, api QueryAPI, table, uid string, consistent bool) (lease.Account, error) {
	var acct lease.Account
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  map[string]string{"#u": attrUID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": str(uid)},
		ConsistentRead:            aws.Bool(consistent),
	}
	for {
		out, err := api.Query(ctx, in)
		if err != nil {
			return acct, err
		}
		for _, item := range out.Items {
			decodeInto(&acct, uid, item)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return acct, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Commit implements lease.Store.
func (s *Store) Commit(ctx context.Context, uid string, c lease.Change) error {
	items := make([]types.TransactWriteItem, 0, len(c.Reclaim)+2)
	items = append(items, types.TransactWriteItem{Put: &types.Put{
		TableName:                &s.table,
		Item:                     encodeLease(uid, c.Grant),
		ConditionExpression:      aws.String("attribute_not_exists(#sk)"),
		ExpressionAttributeNames: map[string]string{"#sk": attrSK},
	}})
	for _, r := range c.Reclaim {
		items = append(items, types.TransactWriteItem{Delete: s.reclaimDelete(uid, r)})
	}
	update := &types.Update{
		TableName:                &s.table,
		Key:                      accountKey(uid),
		UpdateExpression:         aws.String("SET #c = :c ADD #v :one"),
		ExpressionAttributeNames: map[string]string{"#c": attrCount, "#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":c": num(int64(c.Count)), ":one": num(1),
		},
	}
	if c.Version == 0 {
		update.ConditionExpression = aws.String("attribute_not_exists(#v)")
	} else {
		update.ConditionExpression = aws.String("#v = :v")
		update.ExpressionAttributeValues[":v"] = num(c.Version)
	}
	items = append(items, types.TransactWriteItem{Update: update})
	items = append(items, s.revokeItems(uid, c.Revoke)...)
	// One idempotency token per attempt (a fresh random UUID, never
	// derived from the lease id, which tests may choose: DynamoDB keeps a
	// token account-wide for 10 minutes): a resend of this very write (the
	// SDK's retry after a lost answer) is answered as the first one was
	// instead of failing its own conditions; a new attempt is a new token.
	return lostRace(s.transactToken(ctx, items, aws.String(uuid.NewString())))
}

// reclaimDelete deletes an expired lease unless a renewal changed it since
// it was read; an item already gone satisfies it.
func (s *Store) reclaimDelete(uid string, l lease.Lease) *types.Delete {
	return &types.Delete{
		TableName:                 &s.table,
		Key:                       leaseKey(uid, l.ID),
		ConditionExpression:       aws.String("attribute_not_exists(#sk) OR #e = :e"),
		ExpressionAttributeNames:  map[string]string{"#sk": attrSK, "#e": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": epochSeconds(l.ExpiresAt)},
	}
}

// reclaimParallel bounds the DeleteItem calls one Reclaim has in flight.
const reclaimParallel = 8

// Reclaim implements lease.Store: one conditional DeleteItem per lease
// (1 write unit each, half a transaction's), a few at a time.
func (s *Store) Reclaim(ctx context.Context, uid string, leases []lease.Lease) error {
	errs := make([]error, len(leases))
	sem := make(chan struct{}, reclaimParallel)
	var wg sync.WaitGroup
	for i, l := range leases {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			del := s.reclaimDelete(uid, l)
			errs[i] = s.do(ctx, func() error {
				_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
					TableName: del.TableName, Key: del.Key, ConditionExpression: del.ConditionExpression,
					ExpressionAttributeNames: del.ExpressionAttributeNames, ExpressionAttributeValues: del.ExpressionAttributeValues,
				})
				return err
			})
		})
	}
	wg.Wait()
	conflict := false
	for _, err := range errs {
		switch {
		case errors.Is(err, errCondition):
			conflict = true
		case err != nil:
			return err
		}
	}
	if conflict {
		return lease.ErrConflict
	}
	return nil
}

// Renew implements lease.Store. A failed condition returns the old item
// (ReturnValuesOnConditionCheckFailure), so telling a revoked lease from an
// expired one, or from one already stored with a later expiry, costs no
// extra call. The condition #e <= :e keeps a renewal from moving the expiry
// back (one computed from a slower clock, or delayed in flight, landing
// after a later one): such a renewal writes nothing and answers the lease
// as stored.
func (s *Store) Renew(ctx context.Context, uid, leaseID string, now, expiresAt time.Time) (lease.Lease, error) {
	var l lease.Lease
	var old map[string]types.AttributeValue
	err := s.do(ctx, func() error {
		out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                &s.table,
			Key:                      leaseKey(uid, leaseID),
			UpdateExpression:         aws.String("SET #e = :e, #r = :r"),
			ConditionExpression:      aws.String("attribute_exists(#sk) AND #e > :now AND attribute_not_exists(#rv) AND #e <= :e"),
			ExpressionAttributeNames: map[string]string{"#e": attrExpiresAt, "#r": attrRenewedAt, "#sk": attrSK, "#rv": attrRevoked},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":e": epochSeconds(expiresAt), ":r": epochMillis(now), ":now": epochSeconds(now),
			},
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			old = ccf.Item
		}
		if err != nil {
			return err
		}
		l = decodeLease(uid, out.Attributes)
		return nil
	})
	if errors.Is(err, errCondition) {
		if reason := getS(old, attrRevoked); reason != "" {
			return lease.Lease{}, &lease.RevokedError{Reason: reason}
		}
		// Stored, unrevoked, live at now and expiring after expiresAt: only
		// the last clause failed.
		if e := getN(old, attrExpiresAt); len(old) > 0 && e > now.Unix() && e > expiresAt.Unix() {
			return decodeLease(uid, old), nil
		}
		return lease.Lease{}, lease.ErrLeaseExpired
	}
	return l, err
}

// Revoke implements lease.Store.
func (s *Store) Revoke(ctx context.Context, uid string, rs []lease.Revocation) error {
	items := append(s.revokeItems(uid, rs), s.countDown(uid, len(rs)))
	return lostRace(s.transact(ctx, items))
}

// revokeItems turns each lease into a tombstone if it is still stored and
// not revoked yet. A renewal since the read does not stop it: a lease that
// keeps heartbeating must still be revocable.
func (s *Store) revokeItems(uid string, rs []lease.Revocation) []types.TransactWriteItem {
	items := make([]types.TransactWriteItem, 0, len(rs))
	for _, r := range rs {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:           &s.table,
			Key:                 leaseKey(uid, r.Lease.ID),
			UpdateExpression:    aws.String("SET #rv = :rv, #ra = :ra, #e = :keep"),
			ConditionExpression: aws.String("attribute_exists(#sk) AND attribute_not_exists(#rv)"),
			ExpressionAttributeNames: map[string]string{
				"#rv": attrRevoked, "#ra": attrRevokedAt, "#e": attrExpiresAt, "#sk": attrSK,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":rv": str(r.Reason), ":ra": epochMillis(r.At), ":keep": epochSeconds(r.KeepUntil),
			},
		}})
	}
	return items
}

// Release implements lease.Store.
func (s *Store) Release(ctx context.Context, uid, leaseID string, now time.Time) (bool, error) {
	err := s.transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                 &s.table,
			Key:                       leaseKey(uid, leaseID),
			ConditionExpression:       aws.String("attribute_exists(#sk) AND #e > :now AND attribute_not_exists(#rv)"),
			ExpressionAttributeNames:  map[string]string{"#sk": attrSK, "#e": attrExpiresAt, "#rv": attrRevoked},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": epochSeconds(now)},
		}},
		s.countDown(uid, 1),
	})
	switch {
	case errors.Is(err, errCondition):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// SetLimit implements lease.Store.
func (s *Store) SetLimit(ctx context.Context, uid string, limit int) error {
	var v types.AttributeValue
	if limit > 0 {
		v = num(int64(limit))
	}
	return s.setAccount(ctx, uid, attrMaxStreams, v)
}

// SetPolicy implements lease.Store.
func (s *Store) SetPolicy(ctx context.Context, uid string, p lease.Policy) error {
	var v types.AttributeValue
	if p != "" {
		v = str(string(p))
	}
	return s.setAccount(ctx, uid, attrPolicy, v)
}

// setAccount sets the attribute name of uid's account item to v, or removes
// it when v is nil, and moves the account version.
func (s *Store) setAccount(ctx context.Context, uid, name string, v types.AttributeValue) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       accountKey(uid),
		UpdateExpression:          aws.String("REMOVE #a ADD #v :one"),
		ExpressionAttributeNames:  map[string]string{"#a": name, "#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
	}
	if v != nil {
		in.UpdateExpression = aws.String("SET #a = :a ADD #v :one")
		in.ExpressionAttributeValues[":a"] = v
	}
	return s.do(ctx, func() error {
		_, err := s.api.UpdateItem(ctx, in)
		return err
	})
}

// Ping implements lease.Store: one eventually consistent GetItem of a key no
// account can have.
func (s *Store) Ping(ctx context.Context) error {
	return s.do(ctx, func() error {
		_, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: accountKey(pingUID)})
		return err
	})
}

// transact runs one TransactWriteItems of items; the SDK gives it a random
// idempotency token, which its retries of the call reuse.
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	return s.transactToken(ctx, items, nil)
}

// transactToken runs one TransactWriteItems of items with the idempotency
// token given (nil: one from the SDK).
func (s *Store) transactToken(ctx context.Context, items []types.TransactWriteItem, token *string) error {
	return s.do(ctx, func() error {
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items, ClientRequestToken: token})
		return err
	})
}

// lostRace is the meaning of a failed condition in a version-guarded write
// (Commit, Revoke): another write came first, lease.ErrConflict.
func lostRace(err error) error {
	if errors.Is(err, errCondition) {
		return lease.ErrConflict
	}
	return err
}

// countDown is the account update of a write that ends n live leases: the
// version moves and the count drops by n.
func (s *Store) countDown(uid string, n int) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       accountKey(uid),
		UpdateExpression:          aws.String("ADD #v :one, #c :minus"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVersion, "#c": attrCount},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":minus": num(-int64(n))},
	}}
}

// do runs one DynamoDB call, translates its error, and, when auto-create is
// on and the table is missing, creates the table and runs the call once more.
func (s *Store) do(ctx context.Context, call func() error) error {
	err := translate(call())
	if s.autoCreate == nil || !errors.Is(err, errNoTable) {
		return err
	}
	s.createMu.Lock()
	cerr := CreateTable(ctx, s.autoCreate, s.table)
	s.createMu.Unlock()
	if cerr != nil {
		return fmt.Errorf("%w: creating table %q: %w", lease.ErrUnavailable, s.table, cerr)
	}
	return translate(call())
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func epochSeconds(t time.Time) types.AttributeValue { return num(t.Unix()) }
func epochMillis(t time.Time) types.AttributeValue  { return num(t.UnixMilli()) }

func accountKey(uid string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUID: str(uid), attrSK: str(accountSK)}
}

func leaseKey(uid, leaseID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUID: str(uid), attrSK: str(leasePrefix + leaseID)}
}
