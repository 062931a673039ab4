package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/internal/testenv/faultproxy"
)

// TestLateHeartbeatAfterGrant is issue 11 case 1, "a late heartbeat revives
// a lease a grant counted expired", end to end through the real server.
//
// Scenario: an account with limit 1 holds one live lease L beside 150
// expired lease items that sort before it (crash leftovers that real
// DynamoDB's TTL takes days to delete; the test's table has no TTL, so
// DynamoDB Local keeps them too). Shortly before L's expiresAt its player
// heartbeats; the server reads its clock and sends the renewal, which a TCP
// proxy between the server and DynamoDB Local holds back in the network.
// Just after expiresAt another device calls canStream: the server counts L
// expired and grants L2. Then the held renewal lands.
//
// Invariant (docs: leases.md, invariant 7, fencing): a grant that counted L
// expired made L unrenewable in the same write, so afterwards at most one of
// L and L2 is renewable (the late renewal of L finds it fenced, or the grant
// saw L renewed and refused) and the account has at most one live stream.
func TestLateHeartbeatAfterGrant(t *testing.T) {
	t.Parallel()
	if endpoint == "" {
		t.Skip(skipMsg)
	}
	proxy, err := faultproxy.Start(strings.TrimPrefix(endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	s := startServer(t, map[string]string{
		"DYNAMODB_ENDPOINT": proxy.URL(), "CREATE_TABLE": "false", "STORE_TIMEOUT_MS": "5000",
		"MAX_STREAMS": "1", "LEASE_TTL_SECONDS": "2", "HEARTBEAT_INTERVAL_SECONDS": "1",
	})
	createTableWithoutTTL(t, s.table)
	const uid, leftovers = "fencing", 150

	// L, from the server (a random UUID), must sort after the leftovers.
	var l answer
	for {
		l = call(t, "POST", s.api+"/canStream/"+uid, "application/json", `{"deviceId":"tv"}`).
			expect(t, 200, map[string]any{"canStream": true, "streamCount": 1, "maxStreams": 1})
		if !strings.HasPrefix(l.str("leaseId"), "00000000") {
			break
		}
		call(t, "POST", s.api+"/endStream/"+uid+"/"+l.str("leaseId"), "", "").expect(t, 200, nil)
	}
	leaseL := l.str("leaseId")
	// The leftovers are stored now, while L is live (a grant collects every
	// expired item it counts, so seeding them before L's grant would leave
	// none); a plain heartbeat then gives L a fresh expiry to aim at.
	seedExpiredLeases(t, s.table, uid, leftovers)
	if n := itemCount(t, s.table); n < leftovers {
		t.Fatalf("%d items in the table; want the %d expired leftovers (TTL on?)", n, leftovers)
	}
	hb := call(t, "POST", s.api+"/heartbeat/"+uid+"/"+leaseL, "", "").expect(t, 200, nil)
	expiresAt, err := time.Parse(time.RFC3339, hb.str("expiresAt"))
	if err != nil {
		t.Fatalf("expiresAt %q: %v", hb.str("expiresAt"), err)
	}

	// The heartbeat of L, sent before expiresAt; its write naming L's key
	// is held in the proxy until released.
	held, release := proxy.HoldNext([]byte("lease#" + leaseL))
	t.Cleanup(release)
	time.Sleep(time.Until(expiresAt.Add(-700 * time.Millisecond)))
	late := make(chan int, 1)
	go func() { late <- heartbeatStatus(s.api + "/heartbeat/" + uid + "/" + leaseL) }()
	select {
	case <-held:
	case status := <-late:
		t.Fatalf("the heartbeat of L answered %d without a write naming lease#%s reaching the proxy: the race is not exercised", status, leaseL)
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat's write never reached the proxy")
	}

	// Another device asks just after expiresAt, while the renewal is in
	// flight; then the renewal lands.
	time.Sleep(time.Until(expiresAt.Add(100 * time.Millisecond)))
	grant := call(t, "POST", s.api+"/canStream/"+uid, "application/json", `{"deviceId":"phone"}`).expect(t, 200, nil)
	release()
	lateStatus := <-late
	leaseL2 := grant.str("leaseId")
	t.Logf("canStream of phone: canStream=%v, late heartbeat of L: %d", grant.body["canStream"], lateStatus)

	renewable := 0
	if renewedL := heartbeatStatus(s.api+"/heartbeat/"+uid+"/"+leaseL) == 200; lateStatus == 200 || renewedL {
		renewable++
	}
	if grant.body["canStream"] == true && heartbeatStatus(s.api+"/heartbeat/"+uid+"/"+leaseL2) == 200 {
		renewable++
	}
	if renewable > 1 {
		t.Errorf("both L (late heartbeat %d) and L2 are renewable at limit 1: the grant counted L expired without fencing it", lateStatus)
	}
	streams := call(t, "GET", s.api+"/streams/"+uid, "", "").expect(t, 200, nil)
	if n := streams.num("streamCount"); n > 1 {
		t.Errorf("streamCount %d at limit 1: %s", n, streams.raw)
	}
}

// heartbeatStatus posts a heartbeat and returns its HTTP status (-1 when
// the request fails). Safe to call from any goroutine.
func heartbeatStatus(url string) int {
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Post(url, "", nil)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// createTableWithoutTTL creates the lease table as dynamostore.CreateTable
// does but leaves TTL off, so DynamoDB Local keeps expired items the way
// real DynamoDB does for up to days.
func createTableWithoutTTL(t *testing.T, table string) {
	t.Helper()
	ctx := context.Background()
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("uid"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("uid"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatalf("wait for table: %v", err)
	}
}

// seedExpiredLeases writes n lease items of uid that expired an hour ago,
// with ids 00000000-0000-4000-8000-… so they sort before any random lease.
func seedExpiredLeases(t *testing.T, table, uid string, n int) {
	t.Helper()
	past := time.Now().Add(-time.Hour)
	var writes []types.WriteRequest
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012x", i)
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
			"uid":       &types.AttributeValueMemberS{Value: uid},
			"sk":        &types.AttributeValueMemberS{Value: "lease#" + id},
			"leaseId":   &types.AttributeValueMemberS{Value: id},
			"deviceId":  &types.AttributeValueMemberS{Value: fmt.Sprintf("crashed-%d", i)},
			"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(past.Unix(), 10)},
			"createdAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(past.Add(-time.Minute).UnixMilli(), 10)},
			"renewedAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(past.Add(-time.Minute).UnixMilli(), 10)},
		}}})
	}
	for len(writes) > 0 {
		batch := writes[:min(25, len(writes))]
		writes = writes[len(batch):]
		out, err := client.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: batch},
		})
		if err != nil {
			t.Fatalf("BatchWriteItem: %v", err)
		}
		writes = append(writes, out.UnprocessedItems[table]...)
	}
}
