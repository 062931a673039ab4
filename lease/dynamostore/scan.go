package dynamostore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamlimit/streamlimit/lease"
)

// ScanAPI is the subset of the DynamoDB client ScanAccounts calls.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// AccountSummary is one account of the table as ScanAccounts sees it.
type AccountSummary struct {
	UID string
	// Live, Expired and Revoked count the account's lease items at the scan's
	// now: live ones count against the limit; expired ones are waiting for
	// a grant or TTL to delete them; revoked ones are tombstones kept so
	// their players learn why (kicked, evicted, admin).
	Live, Expired, Revoked int
	// Count is the account item's count attribute: live leases as of its
	// last write (informative; Live is what counts).
	Count int
	// MaxStreams is the per-account limit override, 0 for the default.
	MaxStreams int
	// Policy is the per-account at-limit policy override, "" for the default.
	Policy lease.Policy
}

// ScanOptions tunes ScanAccounts.
type ScanOptions struct {
	// PageSize is the most items one Scan page reads (0: DynamoDB's 1 MB
	// pages).
	PageSize int32
}

// ScanAccounts reads every item of the lease table with a paginated,
// strongly consistent Scan and returns one summary per account, sorted by
// uid. It reads the whole table (one read unit per 4 KB, strongly
// consistent): an operator's tool, never a request path.
// Errors are translated like the store's (ErrUnavailable).
func ScanAccounts(ctx context.Context, api ScanAPI, table string, now time.Time, opts ScanOptions) ([]AccountSummary, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	if opts.PageSize > 0 {
		in.Limit = aws.Int32(opts.PageSize)
	}
	accounts := map[string]*lease.Account{}
	p := dynamodb.NewScanPaginator(api, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate(err)
		}
		for _, item := range out.Items {
			uid := getS(item, attrUID)
			a := accounts[uid]
			if a == nil {
				a = &lease.Account{}
				accounts[uid] = a
			}
			decodeInto(a, uid, item)
		}
	}
	out := make([]AccountSummary, 0, len(accounts))
	for uid, a := range accounts {
		s := AccountSummary{UID: uid, Count: a.Count, MaxStreams: a.MaxStreams, Policy: a.Policy}
		for _, l := range a.Leases {
			switch {
			case l.Revoked != "":
				s.Revoked++
			case l.LiveAt(now):
				s.Live++
			default:
				s.Expired++
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b AccountSummary) int { return strings.Compare(a.UID, b.UID) })
	return out, nil
}
