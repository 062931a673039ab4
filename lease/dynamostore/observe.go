package dynamostore

import (
	"context"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Call describes one DynamoDB request, for an Observer.
type Call struct {
	// Op is the DynamoDB API name: Query, GetItem, PutItem, UpdateItem,
	// DeleteItem or TransactWriteItems (or any other the client made).
	Op string
	// Items is how many items a TransactWriteItems wrote or checked (its
	// capacity is 2 write units per item of at most 1 KB); 1 otherwise.
	Items int
	// Consistent reports a strongly consistent read (Query, GetItem).
	Consistent bool
	// Capacity is the consumed capacity DynamoDB reported (an observed
	// client asks for ReturnConsumedCapacity TOTAL). Error answers carry
	// none, although a failed conditional write is billed on AWS.
	Capacity []types.ConsumedCapacity
	// Duration is how long the call took, SDK retries included.
	Duration time.Duration
	// Err is the call's error, untranslated (nil on success).
	Err error
}

// Observer receives every DynamoDB call of an observed client, with the
// context of the call (so callers can attribute calls to their own
// operations through context values). It must be safe for concurrent use
// and fast: it runs on the request path.
type Observer func(ctx context.Context, c Call)

// Observed returns a copy of client whose every call asks DynamoDB for
// ReturnConsumedCapacity TOTAL (on a copy of its input) and is reported to
// obs: request counts and capacity per operation for benchmarks and load
// tests. It changes nothing else. Every store over the copy is observed:
// the lease store, the connection bindings (Binding) and the table's
// creation alike. A nil obs returns client itself.
func Observed(client *dynamodb.Client, obs Observer) *dynamodb.Client {
	if obs == nil {
		return client
	}
	return dynamodb.New(client.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(observer(obs), middleware.Before)
		})
	})
}

// observer is the middleware of an observed client: it asks for the
// consumed capacity before the call and reports the call after it.
func observer(obs Observer) middleware.InitializeMiddleware {
	return middleware.InitializeMiddlewareFunc("streamlimit.ObserveCalls", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		c := Call{Op: middleware.GetOperationName(ctx), Items: 1}
		in.Parameters = withCapacity(in.Parameters, &c)
		start := time.Now()
		out, md, err := next.HandleInitialize(ctx, in)
		c.Capacity, c.Duration, c.Err = consumed(out.Result), time.Since(start), err
		obs(ctx, c)
		return out, md, err
	})
}

// withCapacity returns a copy of a call's input that asks for
// ReturnConsumedCapacity TOTAL, when the input has that field (every item,
// query and transaction call does), and notes in c what the input says of
// the call's cost: a consistent read, the items of a transaction. Any other
// input is returned as it is.
func withCapacity(params any, c *Call) any {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return params
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	in := cp.Elem()
	rcc := in.FieldByName("ReturnConsumedCapacity")
	if !rcc.IsValid() {
		return params
	}
	rcc.Set(reflect.ValueOf(types.ReturnConsumedCapacityTotal))
	if consistent, ok := field(in, "ConsistentRead").(*bool); ok {
		c.Consistent = aws.ToBool(consistent)
	}
	if items, ok := field(in, "TransactItems").([]types.TransactWriteItem); ok {
		c.Items = len(items)
	}
	return cp.Interface()
}

// consumed is the consumed capacity a call's output reports.
func consumed(result any) []types.ConsumedCapacity {
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	switch cc := field(v.Elem(), "ConsumedCapacity").(type) {
	case []types.ConsumedCapacity:
		return cc
	case *types.ConsumedCapacity:
		if cc != nil {
			return []types.ConsumedCapacity{*cc}
		}
	}
	return nil
}

// field is the value of struct v's field name, nil when it has none.
func field(v reflect.Value, name string) any {
	if f := v.FieldByName(name); f.IsValid() {
		return f.Interface()
	}
	return nil
}
