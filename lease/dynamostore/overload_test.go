package dynamostore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
	"github.com/streamlimit/streamlimit/lease/leasetest"
)

// replaying sends every TransactWriteItems twice, as the SDK does when the
// first answer is lost (a dropped connection after the commit), and
// answers with the second answer. With freshToken the resend carries a new
// idempotency token (what a resend without the write's own token is).
type replaying struct {
	dynamostore.DynamoDBAPI
	freshToken bool
	mu         sync.Mutex
	tokens     []string
	first      []error
}

func (r *replaying) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	_, err1 := r.DynamoDBAPI.TransactWriteItems(ctx, in, opts...)
	r.mu.Lock()
	r.tokens = append(r.tokens, aws.ToString(in.ClientRequestToken))
	r.first = append(r.first, err1)
	r.mu.Unlock()
	again := *in
	if r.freshToken {
		again.ClientRequestToken = aws.String(uuid.NewString())
	}
	return r.DynamoDBAPI.TransactWriteItems(ctx, &again, opts...)
}

// A grant's transaction carries an idempotency token of its own, and
// DynamoDB (Local too) answers a resend of it as it answered the first:
// the grant is reported once and stored once. The control resends with a
// fresh token: the resend fails its own conditions, the service re-reads,
// finds a lease it was never told about and grants a second one — a lease
// behind no answer.
func TestGrantResendIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, fresh := range []bool{false, true} {
		table := newTable(t)
		api := &replaying{DynamoDBAPI: client, freshToken: fresh}
		store := dynamostore.New(api, dynamostore.WithTable(table))
		svc := leasetest.NewService(t, store, leasetest.NewClock())
		uid := leasetest.UID(t, "u")
		d, err := svc.CanStream(t.Context(), uid, lease.Request{DeviceID: "tv"})
		if err != nil || api.first[0] != nil {
			t.Fatalf("fresh=%v: %v (first send: %v)", fresh, err, api.first[0])
		}
		acct, err := store.Load(t.Context(), uid, true)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !fresh && (!d.Granted || uuid.Validate(api.tokens[0]) != nil || len(acct.Leases) != 1 || acct.Version != 1 || len(api.tokens) != 1):
			t.Fatalf("same token: %+v, tokens %v, %d leases, version %d; want granted, a UUID token, 1 lease, version 1, one transaction",
				d, api.tokens, len(acct.Leases), acct.Version)
		case fresh && (d.Granted || len(acct.Leases) != 3):
			// Each attempt committed once, then lost its resend's race
			// against itself: the account filled with leases nobody
			// holds and the caller was refused.
			t.Fatalf("control: granted %v, %d leases; want refused behind 3 leases nobody was told about", d.Granted, len(acct.Leases))
		}
	}
}

// throttling answers the chosen DynamoDB call with err, as DynamoDB does
// once the SDK's own retries gave up.
type throttling struct {
	dynamostore.DynamoDBAPI
	query, update, transact error
	calls                   int
}

func (t *throttling) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if t.query != nil {
		t.calls++
		return nil, t.query
	}
	return t.DynamoDBAPI.Query(ctx, in, opts...)
}

func (t *throttling) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if t.update != nil {
		t.calls++
		return nil, t.update
	}
	return t.DynamoDBAPI.UpdateItem(ctx, in, opts...)
}

func (t *throttling) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if t.transact != nil {
		t.calls++
		return nil, t.transact
	}
	return t.DynamoDBAPI.TransactWriteItems(ctx, in, opts...)
}

// Throttling of any kind is lease.ErrThrottled (503 store_throttled), not
// ErrUnavailable: it never makes canStream fail open, and nothing is
// written.
func TestThrottlingIsErrThrottled(t *testing.T) {
	t.Parallel()
	msg := aws.String("Rate exceeded")
	canceled := func(code string) error {
		return &types.TransactionCanceledException{Message: msg, CancellationReasons: []types.CancellationReason{
			{Code: aws.String(code)}, {Code: aws.String("None")},
		}}
	}
	table := newTable(t)
	for name, err := range map[string]error{
		"ThrottlingException":                    &types.ThrottlingException{Message: msg},
		"ProvisionedThroughputExceededException": &types.ProvisionedThroughputExceededException{Message: msg},
		"RequestLimitExceeded":                   &types.RequestLimitExceeded{Message: msg},
		"transaction ThrottlingError":            canceled("ThrottlingError"),
		"transaction ProvisionedThroughput":      canceled("ProvisionedThroughputExceeded"),
	} {
		api := &throttling{DynamoDBAPI: client}
		store := dynamostore.New(api, dynamostore.WithTable(table))
		svc := leasetest.NewService(t, store, leasetest.NewClock(), lease.WithFailOpen(time.Minute))
		uid := leasetest.UID(t, "u")
		d := grant(t, svc, uid)

		api.transact = err
		got, gerr := svc.CanStream(t.Context(), uid, lease.Request{DeviceID: "second"})
		if !errors.Is(gerr, lease.ErrThrottled) || errors.Is(gerr, lease.ErrUnavailable) || got.Granted {
			t.Errorf("%s on the grant's write: %+v, %v; want ErrThrottled, no (degraded) grant", name, got, gerr)
		}
		if _, err := svc.EndStream(t.Context(), uid, d.Lease.ID); !errors.Is(err, lease.ErrThrottled) {
			t.Errorf("%s on endStream: %v; want ErrThrottled", name, err)
		}
		api.transact = nil
		if _, isTx := err.(*types.TransactionCanceledException); !isTx {
			api.query = err
			if _, err := svc.CanStream(t.Context(), uid, lease.Request{}); !errors.Is(err, lease.ErrThrottled) {
				t.Errorf("%s on the read: %v; want ErrThrottled", name, err)
			}
			api.query, api.update = nil, err
			if _, err := svc.Heartbeat(t.Context(), uid, d.Lease.ID, lease.HeartbeatRequest{}); !errors.Is(err, lease.ErrThrottled) {
				t.Errorf("%s on heartbeat: %v; want ErrThrottled", name, err)
			}
			api.update = nil
		}
		if l, err := svc.List(t.Context(), uid); err != nil || l.StreamCount != 1 {
			t.Errorf("%s: account after the throttled calls: %+v, %v; want only the first lease", name, l, err)
		}
	}
}

func grant(t *testing.T, svc *lease.Service, uid string) lease.Decision {
	t.Helper()
	d, err := svc.CanStream(t.Context(), uid, lease.Request{DeviceID: "first"})
	if err != nil || !d.Granted {
		t.Fatalf("CanStream: %+v, %v", d, err)
	}
	return d
}
