package ddblocal

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Dump returns every item of table, every attribute, one line per item in
// a stable order: two dumps are equal exactly when nothing was written in
// between (a renewed expiry shows as well as a new item). For tests that
// check a refused call wrote nothing.
func Dump(ctx context.Context, client *dynamodb.Client, table string) (string, error) {
	var lines []string
	var start map[string]types.AttributeValue
	for {
		out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			return "", err
		}
		for _, it := range out.Items {
			lines = append(lines, render(&types.AttributeValueMemberM{Value: it}))
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			break
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}

// render writes an attribute value with its type, maps in key order.
func render(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("S:%q", v.Value)
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprintf("BOOL:%v", v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("B:%x", v.Value)
	case *types.AttributeValueMemberSS:
		return fmt.Sprintf("SS:%q", slices.Sorted(slices.Values(v.Value)))
	case *types.AttributeValueMemberNS:
		return fmt.Sprintf("NS:%v", slices.Sorted(slices.Values(v.Value)))
	case *types.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, e := range v.Value {
			parts[i] = render(e)
		}
		return "L:[" + strings.Join(parts, ",") + "]"
	case *types.AttributeValueMemberM:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(v.Value)) {
			parts = append(parts, fmt.Sprintf("%q=%s", k, render(v.Value[k])))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf("%T", v)
}
