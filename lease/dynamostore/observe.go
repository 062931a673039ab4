package dynamostore

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Call describes one DynamoDB request the store made, for an Observer.
type Call struct {
	// Op is the DynamoDB API name: Query, GetItem, UpdateItem or
	// TransactWriteItems.
	Op string
	// Items is how many items a TransactWriteItems wrote or checked (its
	// capacity is 2 write units per item of at most 1 KB); 1 otherwise.
	Items int
	// Consistent reports a strongly consistent read (Query, GetItem).
	Consistent bool
	// Capacity is the consumed capacity DynamoDB reported (the store asks
	// for ReturnConsumedCapacity TOTAL when observed). Error answers carry
	// none, although a failed conditional write is billed on AWS.
	Capacity []types.ConsumedCapacity
	// Duration is how long the call took, SDK retries included.
	Duration time.Duration
	// Err is the call's error, untranslated (nil on success).
	Err error
}

// Observer receives every DynamoDB call the store makes, with the context of
// the store method that made it (so callers can attribute calls to their own
// operations through context values). It must be safe for concurrent use
// and fast: it runs on the request path.
type Observer func(ctx context.Context, c Call)

// WithObserver makes the store ask DynamoDB for ReturnConsumedCapacity TOTAL
// on every call and report each call to obs: request counts and capacity per
// operation for benchmarks and load tests. It changes nothing else.
func WithObserver(obs Observer) Option {
	return func(s *Store) {
		if obs != nil {
			s.api = observed{DynamoDBAPI: s.api, obs: obs}
		}
	}
}

// observed wraps the DynamoDB client, adding ReturnConsumedCapacity to each
// input (on a copy) and reporting each call. A method of DynamoDBAPI not
// overridden here passes through unobserved.
type observed struct {
	DynamoDBAPI
	obs Observer
}

func (o observed) report(ctx context.Context, op string, items int, consistent *bool, start time.Time, cc []types.ConsumedCapacity, err error) {
	o.obs(ctx, Call{
		Op: op, Items: items, Consistent: aws.ToBool(consistent), Capacity: cc,
		Duration: time.Since(start), Err: err,
	})
}

func (o observed) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	start := time.Now()
	out, err := o.DynamoDBAPI.Query(ctx, &cp, optFns...)
	var cc []types.ConsumedCapacity
	if out != nil && out.ConsumedCapacity != nil {
		cc = []types.ConsumedCapacity{*out.ConsumedCapacity}
	}
	o.report(ctx, "Query", 1, in.ConsistentRead, start, cc, err)
	return out, err
}

func (o observed) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	start := time.Now()
	out, err := o.DynamoDBAPI.GetItem(ctx, &cp, optFns...)
	var cc []types.ConsumedCapacity
	if out != nil && out.ConsumedCapacity != nil {
		cc = []types.ConsumedCapacity{*out.ConsumedCapacity}
	}
	o.report(ctx, "GetItem", 1, in.ConsistentRead, start, cc, err)
	return out, err
}

func (o observed) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	start := time.Now()
	out, err := o.DynamoDBAPI.UpdateItem(ctx, &cp, optFns...)
	var cc []types.ConsumedCapacity
	if out != nil && out.ConsumedCapacity != nil {
		cc = []types.ConsumedCapacity{*out.ConsumedCapacity}
	}
	o.report(ctx, "UpdateItem", 1, nil, start, cc, err)
	return out, err
}

func (o observed) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	start := time.Now()
	out, err := o.DynamoDBAPI.TransactWriteItems(ctx, &cp, optFns...)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = out.ConsumedCapacity
	}
	o.report(ctx, "TransactWriteItems", len(in.TransactItems), nil, start, cc, err)
	return out, err
}

func (o observed) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	start := time.Now()
	out, err := o.DynamoDBAPI.DeleteItem(ctx, &cp, optFns...)
	var cc []types.ConsumedCapacity
	if out != nil && out.ConsumedCapacity != nil {
		cc = []types.ConsumedCapacity{*out.ConsumedCapacity}
	}
	o.report(ctx, "DeleteItem", 1, nil, start, cc, err)
	return out, err
}
