package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StoredLease is one lease as the store holds it.
type StoredLease struct {
	// LeaseID is empty when read through the API (listings never show it).
	LeaseID   string
	DeviceID  string
	ExpiresAt time.Time
	Revoked   bool
}

// View is one account as the store holds it, read at one moment.
type View struct {
	Leases []StoredLease
	// Limit is the account's limit when the reader knows it (0: unknown).
	Limit int
}

// Reader reads one account for the audit.
type Reader interface {
	Read(ctx context.Context, uid string) (View, error)
	// Name says how it reads, for the report.
	Name() string
}

// QueryAPI is the DynamoDB call TableReader makes.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// TableReader reads the lease table directly with one strongly consistent
// Query per uid, independently of the service's code: the audit's ground
// truth. It knows the item layout (uid, sk "#account" / "lease#<id>",
// expiresAt epoch seconds, deviceId, revoked, maxStreams).
type TableReader struct {
	API   QueryAPI
	Table string
}

// Name implements Reader.
func (t TableReader) Name() string { return "DynamoDB table " + t.Table + " (consistent Query)" }

// Read implements Reader.
func (t TableReader) Read(ctx context.Context, uid string) (View, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(t.Table),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  map[string]string{"#u": "uid"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: uid}},
		ConsistentRead:            aws.Bool(true),
	}
	var v View
	for {
		out, err := t.API.Query(ctx, in)
		if err != nil {
			return View{}, err
		}
		for _, item := range out.Items {
			sk := attrS(item, "sk")
			if sk == "#account" {
				v.Limit = int(attrN(item, "maxStreams"))
				continue
			}
			id, ok := strings.CutPrefix(sk, "lease#")
			if !ok {
				continue
			}
			v.Leases = append(v.Leases, StoredLease{
				LeaseID: id, DeviceID: attrS(item, "deviceId"),
				ExpiresAt: time.Unix(attrN(item, "expiresAt"), 0), Revoked: attrS(item, "revoked") != "",
			})
		}
		if len(out.LastEvaluatedKey) == 0 {
			return v, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func attrS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func attrN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// StreamsReader reads an account through the API's GET /streams/{uid}: only
// live sessions, by device id. Use it when the table is out of reach.
type StreamsReader struct {
	Base   string
	Client *http.Client
	Header http.Header
}

// Name implements Reader.
func (s StreamsReader) Name() string { return "GET /streams/{uid}" }

// Read implements Reader.
func (s StreamsReader) Read(ctx context.Context, uid string) (View, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/streams/"+url.PathEscape(uid), nil)
	if err != nil {
		return View{}, err
	}
	for k, vs := range s.Header {
		req.Header[k] = vs
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return View{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return View{}, fmt.Errorf("GET /streams: %d %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	var body struct {
		MaxStreams int `json:"maxStreams"`
		Streams    []struct {
			DeviceID  string `json:"deviceId"`
			ExpiresAt string `json:"expiresAt"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return View{}, fmt.Errorf("GET /streams: %w", err)
	}
	v := View{Limit: body.MaxStreams}
	for _, st := range body.Streams {
		exp, err := time.Parse(time.RFC3339, st.ExpiresAt)
		if err != nil {
			return View{}, fmt.Errorf("GET /streams: expiresAt %q: %w", st.ExpiresAt, err)
		}
		v.Leases = append(v.Leases, StoredLease{DeviceID: st.DeviceID, ExpiresAt: exp})
	}
	return v, nil
}
