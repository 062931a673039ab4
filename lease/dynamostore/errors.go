package dynamostore

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease"
)

var (
	// errCondition means a condition expression failed; each operation
	// turns it into its own meaning (lost race, expired lease, nothing to end).
	errCondition = errors.New("dynamodb condition failed")
	// errNoTable means the table does not exist.
	errNoTable = errors.New("table not found")
)

// translate is the one place where DynamoDB errors become the store's: a
// failed condition becomes errCondition, a transaction conflict
// lease.ErrConflict (the service retries it, the SDK does not), throttling
// (ThrottlingException, ProvisionedThroughputExceededException,
// RequestLimitExceeded, or a transaction cancelled for throughput) what
// the SDK's own retries did not absorb lease.ErrThrottled (503
// store_throttled: the store answered, so never a fail-open grant), a
// missing table errNoTable, and everything else lease.ErrUnavailable.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var (
		ccf      *types.ConditionalCheckFailedException
		canceled *types.TransactionCanceledException
		conflict *types.TransactionConflictException
		notFound *types.ResourceNotFoundException
		throttle *types.ThrottlingException
		pte      *types.ProvisionedThroughputExceededException
		rle      *types.RequestLimitExceeded
	)
	switch {
	case errors.As(err, &ccf):
		return errCondition
	case errors.As(err, &conflict):
		return lease.ErrConflict
	case errors.As(err, &canceled):
		return translateCanceled(canceled, err)
	case errors.As(err, &throttle), errors.As(err, &pte), errors.As(err, &rle):
		return fmt.Errorf("%w: %w", lease.ErrThrottled, err)
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: %w: %w", lease.ErrUnavailable, errNoTable, err)
	}
	return fmt.Errorf("%w: %w", lease.ErrUnavailable, err)
}

// translateCanceled reads a transaction's cancellation reasons: any
// conflicting transaction makes the whole call a retryable conflict;
// otherwise a failed condition is errCondition; anything else (throttling,
// validation) is unavailability.
func translateCanceled(canceled *types.TransactionCanceledException, err error) error {
	var condition bool
	for _, r := range canceled.CancellationReasons {
		switch code := deref(r.Code); code {
		case "TransactionConflict":
			return lease.ErrConflict
		case "ConditionalCheckFailed":
			condition = true
		case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			return fmt.Errorf("%w: transaction canceled (%s): %w", lease.ErrThrottled, code, err)
		case "", "None":
		default:
			return fmt.Errorf("%w: transaction canceled (%s): %w", lease.ErrUnavailable, code, err)
		}
	}
	if condition {
		return errCondition
	}
	return fmt.Errorf("%w: %w", lease.ErrUnavailable, err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
