// Package app wires streamlimit together from configuration: it is shared
// by every binary under cmd/ so the local server and the Lambda functions
// are built the same way. It reads the environment only through the getenv
// function it is given.
package app

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/lease"
	"github.com/streamlimit/streamlimit/lease/dynamostore"
)

// Config is the service configuration, from environment variables.
type Config struct {
	Port              int           // PORT (3000)
	Stage             string        // STAGE (dev): the local route prefix is /STAGE
	Store             string        // STORE: dynamodb (default) or memory
	DynamoEndpoint    string        // DYNAMODB_ENDPOINT: DynamoDB Local, e.g. http://localhost:8000
	Region            string        // AWS_REGION
	TableName         string        // TABLE_NAME (uid_concurrency_count)
	CreateTable       bool          // CREATE_TABLE: create the table at start and when missing
	MaxStreams        int           // MAX_STREAMS (3)
	LeaseTTL          time.Duration // LEASE_TTL_SECONDS (90)
	HeartbeatInterval time.Duration // HEARTBEAT_INTERVAL_SECONDS (30)
	AllowedOrigins    []string      // ALLOWED_ORIGINS, comma separated (*)
	StoreTimeout      time.Duration // STORE_TIMEOUT_MS (1500): bound on one request's store work
}

// LoadConfig reads the configuration; a malformed value is an error naming
// the variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Stage:          or(getenv("STAGE"), "dev"),
		Store:          or(getenv("STORE"), "dynamodb"),
		DynamoEndpoint: getenv("DYNAMODB_ENDPOINT"),
		Region:         getenv("AWS_REGION"),
		TableName:      or(getenv("TABLE_NAME"), dynamostore.DefaultTable),
		AllowedOrigins: splitList(or(getenv("ALLOWED_ORIGINS"), "*")),
	}
	var errs []string
	num := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a non-negative integer", name, v))
		}
		return n
	}
	c.Port = num("PORT", 3000)
	c.MaxStreams = num("MAX_STREAMS", lease.DefaultMaxStreams)
	c.LeaseTTL = time.Duration(num("LEASE_TTL_SECONDS", int(lease.DefaultLeaseTTL/time.Second))) * time.Second
	c.HeartbeatInterval = time.Duration(num("HEARTBEAT_INTERVAL_SECONDS", int(lease.DefaultHeartbeatInterval/time.Second))) * time.Second
	c.StoreTimeout = time.Duration(num("STORE_TIMEOUT_MS", 1500)) * time.Millisecond
	switch v := strings.ToLower(getenv("CREATE_TABLE")); v {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		c.CreateTable = true
	default:
		errs = append(errs, fmt.Sprintf("CREATE_TABLE=%q is not true or false", v))
	}
	if c.Store != "dynamodb" && c.Store != "memory" {
		errs = append(errs, fmt.Sprintf("STORE=%q is not dynamodb or memory", c.Store))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
