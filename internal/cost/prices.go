// Package cost prices an hour of streaming (a stream-hour) from what a load
// run measured: requests per operation, DynamoDB units per request, bytes
// the server wrote per request, its CPU time per request and each
// operation's wall time. One table of list prices (Prices, List) says where
// every price comes from; the arithmetic is plain functions over it, so the
// load tool (cmd/loadgen), the cost table generator (cmd/costs) and their
// tests compute the same figures.
//
// Three shapes are priced: the api Lambda function behind an API Gateway
// HTTP API or behind a Lambda Function URL (LambdaBill), and the long-running
// server (cmd/local, the Docker image) on a container fleet with DynamoDB
// provisioned capacity (ContainerBill). Dollars are per million
// stream-hours. What is left out is said where it is left out (free tiers,
// data transfer, log storage, CloudWatch metrics); every shape leaves out the
// same things, except where a note says otherwise.
package cost

// Price is one list price and where it was taken from.
type Price struct {
	// USD is the price in dollars per Unit.
	USD float64 `json:"usd"`
	// Unit is what USD buys, e.g. "million requests".
	Unit string `json:"unit"`
	// Source names the document the price comes from, with its date.
	Source string `json:"source"`
	// Checked is true for prices in /work/shared/design/facts.md (checked
	// by the team); false marks a list price not checked on this machine.
	Checked bool `json:"checked"`
}

// Prices is every price a bill uses.
type Prices struct {
	HTTPAPIRequests    Price `json:"httpApiRequests"`    // per million requests
	LambdaRequests     Price `json:"lambdaRequests"`     // per million invocations
	LambdaGBSecond     Price `json:"lambdaGBSecond"`     // per GB-second, arm64
	DynamoWrites       Price `json:"dynamoWrites"`       // on-demand, per million write request units
	DynamoReads        Price `json:"dynamoReads"`        // on-demand, per million read request units
	LogsIngestion      Price `json:"logsIngestion"`      // per GB ingested (10^9 bytes, see GB)
	XRayTraces         Price `json:"xrayTraces"`         // per million traces recorded
	FargateVCPUHour    Price `json:"fargateVCPUHour"`    // Linux/ARM, per vCPU-hour
	FargateGBHour      Price `json:"fargateGBHour"`      // Linux/ARM, per GB-hour
	ProvisionedWCUHour Price `json:"provisionedWCUHour"` // per write capacity unit-hour
	ProvisionedRCUHour Price `json:"provisionedRCUHour"` // per read capacity unit-hour
	ALBHour            Price `json:"albHour"`            // per Application Load Balancer-hour
	ALBLCUHour         Price `json:"albLCUHour"`         // per load balancer capacity unit-hour
}

// factsMD is the source of the prices the team checked.
const factsMD = "facts.md (AWS docs, us-east-1 list price, 2026)"

// List is the price table: us-east-1 list prices. The first seven are in
// facts.md; the container fleet's prices are not, and say so.
var List = Prices{
	HTTPAPIRequests: Price{1.00, "million requests", factsMD + "; first 300 M a month, $0.90 after", true},
	LambdaRequests:  Price{0.20, "million requests", factsMD, true},
	LambdaGBSecond:  Price{0.0000133334, "GB-second (arm64)", factsMD, true},
	DynamoWrites:    Price{0.625, "million write request units", factsMD + " (after the November 2024 cut)", true},
	DynamoReads:     Price{0.125, "million read request units", factsMD + " (after the November 2024 cut)", true},
	LogsIngestion:   Price{0.50, "GB ingested (standard class)", factsMD, true},
	XRayTraces:      Price{5.00, "million traces recorded", factsMD, true},
	FargateVCPUHour: Price{0.03238, "vCPU-hour (Linux/ARM)",
		"list price, not checked on this machine: vantage.sh \"AWS Fargate Pricing Explained\" and cloudburn.io (March 2026), us-east-1", false},
	FargateGBHour: Price{0.00356, "GB-hour (Linux/ARM)",
		"list price, not checked on this machine: same sources as the vCPU-hour", false},
	ProvisionedWCUHour: Price{0.00065, "WCU-hour (provisioned)",
		"list price, not checked on this machine: AWS \"Pricing for Provisioned Capacity\" (its numbers render client-side; the long-standing us-east-1 figure)", false},
	ProvisionedRCUHour: Price{0.00013, "RCU-hour (provisioned)",
		"list price, not checked on this machine: as the WCU-hour", false},
	ALBHour: Price{0.0225, "ALB-hour",
		"list price, not checked on this machine: cloud-horizons.com \"ALB: the line item nobody watches\" (May 2026), us-east-1", false},
	ALBLCUHour: Price{0.008, "LCU-hour",
		"list price, not checked on this machine: same source (1 LCU: 25 new connections/s, 3,000 active connections, 1 GB/hour, 1,000 rule evaluations/s)", false},
}

// PriceRow is one line of the price table, for printing.
type PriceRow struct {
	Name string
	Price
}

// Rows returns the table in a fixed order.
func (p Prices) Rows() []PriceRow {
	return []PriceRow{
		{"API Gateway HTTP API", p.HTTPAPIRequests},
		{"Lambda requests", p.LambdaRequests},
		{"Lambda duration", p.LambdaGBSecond},
		{"DynamoDB on-demand writes", p.DynamoWrites},
		{"DynamoDB on-demand reads", p.DynamoReads},
		{"CloudWatch Logs ingestion", p.LogsIngestion},
		{"X-Ray traces", p.XRayTraces},
		{"Fargate vCPU", p.FargateVCPUHour},
		{"Fargate memory", p.FargateGBHour},
		{"DynamoDB provisioned writes", p.ProvisionedWCUHour},
		{"DynamoDB provisioned reads", p.ProvisionedRCUHour},
		{"Application Load Balancer", p.ALBHour},
		{"ALB capacity units", p.ALBLCUHour},
	}
}

// GB is the number of bytes a billed gigabyte holds here: 10^9. (If AWS
// counts 2^30, the logs line is 7 % lower.)
const GB = 1e9

// VCPUMemoryMB is the Lambda memory size that has one vCPU's worth of CPU
// (AWS docs, "Configure Lambda function memory": 1,769 MB); CPU scales in
// proportion to memory.
const VCPUMemoryMB = 1769

// Million scales a per-stream-hour figure to a million stream-hours.
const Million = 1e6

// DefaultMemoryMB is the api function's memory size in serverless.yml
// (provider.memorySize), the one the load tool prices by default.
const DefaultMemoryMB = 128
