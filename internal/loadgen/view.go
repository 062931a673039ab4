package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/lease/dynamostore"
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

// TableReader reads the lease table directly with one strongly consistent
// Query per uid, beside the service rather than through it: the audit's
// ground truth. The item layout is the store's own (dynamostore.ReadAccount),
// so the audit reads what the store wrote.
type TableReader struct {
	API   dynamostore.QueryAPI
	Table string
}

// Name implements Reader.
func (t TableReader) Name() string { return "DynamoDB table " + t.Table + " (consistent Query)" }

// Read implements Reader.
func (t TableReader) Read(ctx context.Context, uid string) (View, error) {
	acct, err := dynamostore.ReadAccount(ctx, t.API, t.Table, uid, true)
	if err != nil {
		return View{}, err
	}
	v := View{Limit: acct.MaxStreams}
	for _, l := range acct.Leases {
		v.Leases = append(v.Leases, StoredLease{
			LeaseID: l.ID, DeviceID: l.DeviceID, ExpiresAt: l.ExpiresAt, Revoked: l.Revoked != "",
		})
	}
	return v, nil
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
