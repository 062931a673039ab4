// Package bench holds streamlimit's benchmarks (its _test.go files only):
// the HTTP handler path over the in-memory store (service overhead), each
// API operation and store call on DynamoDB Local with its DynamoDB calls and
// capacity units, 100-way contention on one uid, the local server's
// heartbeat throughput over loopback HTTP, and process start to first
// answer for cmd/local and the Lambda bootstrap (cmd/api under a fake
// Runtime API).
//
//	make bench                                   # short run, results in test-output/bench.txt
//	go test -run '^$' -bench . -count 5 ./test/bench | tee new.txt
//	benchstat old.txt new.txt
//
// DynamoDB Local is started only when a benchmark needs it (or reused from
// DYNAMODB_ENDPOINT); `go test ./...` runs no benchmark and starts nothing.
// Results and how to read them: docs/BENCHMARKS.md.
package bench
