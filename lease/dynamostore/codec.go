package dynamostore

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamlimit/streamlimit/lease"
)

func encodeLease(uid string, l lease.Lease) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrUID:       str(uid),
		attrSK:        str(leasePrefix + l.ID),
		attrLeaseID:   str(l.ID),
		attrExpiresAt: epochSeconds(l.ExpiresAt),
		attrCreatedAt: epochMillis(l.CreatedAt),
		attrRenewedAt: epochMillis(l.RenewedAt),
	}
	// DynamoDB rejects empty strings in nothing but keys, yet leaving empty
	// attributes out keeps items small.
	for name, v := range map[string]string{
		attrDeviceID: l.DeviceID, attrUserAgent: l.Client.UserAgent, attrTitle: l.Client.Title,
		attrHandle: l.Handle, attrSecretHash: l.SecretHash,
	} {
		if v != "" {
			item[name] = str(v)
		}
	}
	return item
}

// decodeInto adds one item of the account's partition to acct.
func decodeInto(acct *lease.Account, uid string, item map[string]types.AttributeValue) {
	sk := getS(item, attrSK)
	switch {
	case sk == accountSK:
		acct.Version = getN(item, attrVersion)
		acct.Count = int(getN(item, attrCount))
		acct.MaxStreams = int(getN(item, attrMaxStreams))
		acct.Policy = lease.Policy(getS(item, attrPolicy))
	case strings.HasPrefix(sk, leasePrefix):
		acct.Leases = append(acct.Leases, decodeLease(uid, item))
	}
}

func decodeLease(uid string, item map[string]types.AttributeValue) lease.Lease {
	return lease.Lease{
		ID:         getS(item, attrLeaseID),
		UID:        uid,
		DeviceID:   getS(item, attrDeviceID),
		Client:     lease.Client{UserAgent: getS(item, attrUserAgent), Title: getS(item, attrTitle)},
		CreatedAt:  time.UnixMilli(getN(item, attrCreatedAt)).UTC(),
		RenewedAt:  time.UnixMilli(getN(item, attrRenewedAt)).UTC(),
		ExpiresAt:  time.Unix(getN(item, attrExpiresAt), 0).UTC(),
		Handle:     getS(item, attrHandle),
		SecretHash: getS(item, attrSecretHash),
		Revoked:    getS(item, attrRevoked),
		RevokedAt:  millisOrZero(getN(item, attrRevokedAt)),
	}
}

func millisOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}
