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
	// Op is the DynamoDB API name: Query, GetItem, UpdateItem, DeleteItem
	// or TransactWriteItems.
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

// observe makes one call with ReturnConsumedCapacity TOTAL set on a copy of
// its input (through total) and reports it.
func observe[In, Out any](o observed, ctx context.Context, op string, items int, consistent *bool, in *In,
	total func(*In), call func(*In) (*Out, error), capacity func(*Out) []types.ConsumedCapacity) (*Out, error) {
	cp := *in
	total(&cp)
	start := time.Now()
	out, err := call(&cp)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = capacity(out)
	}
	o.obs(ctx, Call{
		Op: op, Items: items, Consistent: aws.ToBool(consistent), Capacity: cc,
		Duration: time.Since(start), Err: err,
	})
	return out, err
}

const total = types.ReturnConsumedCapacityTotal

func one(c *types.ConsumedCapacity) []types.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []types.ConsumedCapacity{*c}
}

func (o observed) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return observe(o, ctx, "Query", 1, in.ConsistentRead, in,
		func(c *dynamodb.QueryInput) { c.ReturnConsumedCapacity = total },
		func(c *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
			return o.DynamoDBAPI.Query(ctx, c, optFns...)
		},
		func(out *dynamodb.QueryOutput) []types.ConsumedCapacity { return one(out.ConsumedCapacity) })
}

func (o observed) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return observe(o, ctx, "GetItem", 1, in.ConsistentRead, in,
		func(c *dynamodb.GetItemInput) { c.ReturnConsumedCapacity = total },
		func(c *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
			return o.DynamoDBAPI.GetItem(ctx, c, optFns...)
		},
		func(out *dynamodb.GetItemOutput) []types.ConsumedCapacity { return one(out.ConsumedCapacity) })
}

func (o observed) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return observe(o, ctx, "UpdateItem", 1, nil, in,
		func(c *dynamodb.UpdateItemInput) { c.ReturnConsumedCapacity = total },
		func(c *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
			return o.DynamoDBAPI.UpdateItem(ctx, c, optFns...)
		},
		func(out *dynamodb.UpdateItemOutput) []types.ConsumedCapacity { return one(out.ConsumedCapacity) })
}

func (o observed) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return observe(o, ctx, "DeleteItem", 1, nil, in,
		func(c *dynamodb.DeleteItemInput) { c.ReturnConsumedCapacity = total },
		func(c *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
			return o.DynamoDBAPI.DeleteItem(ctx, c, optFns...)
		},
		func(out *dynamodb.DeleteItemOutput) []types.ConsumedCapacity { return one(out.ConsumedCapacity) })
}

func (o observed) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return observe(o, ctx, "TransactWriteItems", len(in.TransactItems), nil, in,
		func(c *dynamodb.TransactWriteItemsInput) { c.ReturnConsumedCapacity = total },
		func(c *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
			return o.DynamoDBAPI.TransactWriteItems(ctx, c, optFns...)
		},
		func(out *dynamodb.TransactWriteItemsOutput) []types.ConsumedCapacity { return out.ConsumedCapacity })
}
