package cost

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// The operations a player's session is made of, in the order a session
// calls them.
const (
	CanStream = "canStream"
	Heartbeat = "heartbeat"
	EndStream = "endStream"
)

// SessionOps are the operations a stream-hour is billed for.
var SessionOps = []string{CanStream, Heartbeat, EndStream}

// Op is what one request of an operation cost on average, as measured.
type Op struct {
	// Calls, WriteUnits and ReadUnits are DynamoDB calls and capacity units
	// per request (the capacity counters' model units: 2 per transaction
	// item).
	Calls      float64 `json:"calls"`
	WriteUnits float64 `json:"writeUnits"`
	ReadUnits  float64 `json:"readUnits"`
	// LatencyMs is the mean wall time of a request as the client saw it:
	// the handler's CPU time at a full core plus the DynamoDB waits.
	LatencyMs float64 `json:"latencyMs"`
}

// Measured is what a load run measured, the input of every bill.
type Measured struct {
	// Ops holds each session operation's figures.
	Ops map[string]Op `json:"ops"`
	// RunMix is the run's requests of each operation per stream-hour.
	RunMix Mix `json:"runMix"`
	// IntervalSec is the heartbeat interval of the run.
	IntervalSec float64 `json:"heartbeatIntervalSeconds"`
	// CPUMs is the server's CPU time (user + system) per request, over all
	// requests; 0 when it was not measured.
	CPUMs float64 `json:"cpuMsPerRequest"`
	// OutputBytes is what the server wrote to its log stream per request
	// (log lines and EMF documents); negative when it was not measured.
	OutputBytes float64 `json:"outputBytesPerRequest"`
}

// Mix is the number of requests of each operation per stream-hour.
type Mix map[string]float64

// HourMix is the mix of one-hour sessions at a heartbeat interval: one
// canStream, a heartbeat every interval, one endStream.
func HourMix(interval time.Duration) Mix {
	return Mix{CanStream: 1, Heartbeat: float64(time.Hour) / float64(interval), EndStream: 1}
}

// Requests is the mix's requests per stream-hour.
func (m Mix) Requests() float64 {
	var n float64
	for _, op := range SessionOps {
		n += m[op]
	}
	return n
}

// Gateway is the api function's front door.
type Gateway string

// The two front doors serverless.yml packages (param gateway).
const (
	HTTPAPI     Gateway = "httpApi"
	FunctionURL Gateway = "url"
)

// Lambda is how the api function is deployed.
type Lambda struct {
	Gateway  Gateway
	MemoryMB int
	// PlatformLogBytes is what Lambda itself writes to the log per
	// invocation: 0 with the JSON log format at system level WARN
	// (serverless.yml's default); PlatformLinesText for the text format.
	PlatformLogBytes float64
	// TraceRate is the share of requests X-Ray records: 0 with
	// serverless.yml's default tracing=PassThrough (nothing upstream of the
	// function samples); ActiveTraceRate with tracing=Active.
	TraceRate float64
}

// ActiveTraceRate is what Lambda's Active tracing records: the first
// request each second and 5 % of the rest, which tends to 5 % at scale
// (the one a second is left out); Lambda does not let it be changed.
const ActiveTraceRate = 0.05

// PlatformLinesText is the size of the START, END and REPORT lines Lambda
// writes per invocation in the text log format with tracing on, from the
// format in AWS's docs ("Lambda function logs"); a REPORT line's figures
// vary by a few bytes.
var PlatformLinesText = float64(len(
	"START RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0 Version: $LATEST\n" +
		"END RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0\n" +
		"REPORT RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0\tDuration: 12.34 ms\tBilled Duration: 13 ms\t" +
		"Memory Size: 256 MB\tMax Memory Used: 38 MB\t\n" +
		"XRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1\tSegmentId: 07f5xmpl2d1f6f85\tSampled: true\t\n"))

// Item is one line of a bill.
type Item struct {
	Name string `json:"name"`
	// USD is dollars per million stream-hours.
	USD float64 `json:"usd"`
	// Detail says what was counted, per stream-hour.
	Detail string `json:"detail"`
}

// Bill is what a million stream-hours cost in one shape.
type Bill struct {
	Shape string `json:"shape"`
	Items []Item `json:"items"`
	// Total is the sum of the items, dollars per million stream-hours.
	Total float64 `json:"total"`
	// Notes say what the figure assumes beyond the measurement.
	Notes []string `json:"notes,omitempty"`
}

func (b *Bill) add(name string, usd float64, detail string, args ...any) {
	b.Items = append(b.Items, Item{Name: name, USD: usd, Detail: fmt.Sprintf(detail, args...)})
	b.Total += usd
}

// Item returns the bill's item named name (zero when absent).
func (b Bill) Item(name string) Item {
	if i := slices.IndexFunc(b.Items, func(it Item) bool { return it.Name == name }); i >= 0 {
		return b.Items[i]
	}
	return Item{}
}

// Per stream-hour sums of a mix.
type usage struct {
	requests, calls, writes, reads float64
}

func (m Measured) usage(mix Mix) usage {
	var u usage
	for _, op := range SessionOps {
		n, o := mix[op], m.Ops[op]
		u.requests += n
		u.calls += n * o.Calls
		u.writes += n * o.WriteUnits
		u.reads += n * o.ReadUnits
	}
	return u
}

// CPUShare is the share of one vCPU a function of memoryMB gets.
func CPUShare(memoryMB int) float64 {
	return min(1, float64(memoryMB)/VCPUMemoryMB)
}

// BilledMs estimates one request's billed duration at memoryMB: the time
// not spent on the CPU (waiting for DynamoDB) does not change with memory,
// the CPU time stretches by 1/CPUShare; Lambda rounds each invocation up to
// a whole millisecond, on average half a millisecond more.
func BilledMs(op Op, cpuMs float64, memoryMB int) float64 {
	wait := max(0, op.LatencyMs-cpuMs)
	return wait + cpuMs/CPUShare(memoryMB) + 0.5
}

// LambdaBill prices a million stream-hours of mix on the api function.
func LambdaBill(m Measured, mix Mix, l Lambda, p Prices) Bill {
	u := m.usage(mix)
	b := Bill{Shape: fmt.Sprintf("Lambda %d MB behind %s", l.MemoryMB, gatewayName(l.Gateway))}
	switch l.Gateway {
	case FunctionURL:
		b.add("gateway", 0, "%.1f requests, Function URL: no charge beyond the invocation", u.requests)
	default:
		b.add("gateway", u.requests*p.HTTPAPIRequests.USD, "%.1f requests × $%.2f/M (HTTP API)", u.requests, p.HTTPAPIRequests.USD)
	}
	b.add("Lambda requests", u.requests*p.LambdaRequests.USD, "%.1f invocations × $%.2f/M", u.requests, p.LambdaRequests.USD)
	var gbs, ms float64
	for _, op := range SessionOps {
		d := BilledMs(m.Ops[op], m.CPUMs, l.MemoryMB)
		ms += mix[op] * d
		gbs += mix[op] * d / 1000 * float64(l.MemoryMB) / 1024
	}
	b.add("Lambda duration", gbs*p.LambdaGBSecond.USD*Million, "%.3f GB-s (%.1f ms billed per request on average, %.0f µs CPU at %.3f vCPU)",
		gbs, ms/max(u.requests, 1), m.CPUMs*1000, CPUShare(l.MemoryMB))
	b.add("DynamoDB writes", u.writes*p.DynamoWrites.USD, "%.1f write units (on-demand)", u.writes)
	b.add("DynamoDB reads", u.reads*p.DynamoReads.USD, "%.1f read units (on-demand)", u.reads)
	logBytes := u.requests * (max(m.OutputBytes, 0) + l.PlatformLogBytes)
	b.add("logs ingestion", logBytes/GB*p.LogsIngestion.USD*Million, "%.1f KB (%.0f B app output + %.0f B Lambda platform lines per request)",
		logBytes/1000, max(m.OutputBytes, 0), l.PlatformLogBytes)
	b.add("X-Ray traces", u.requests*l.TraceRate*p.XRayTraces.USD, "%.2f traces (%.0f %% of requests)", u.requests*l.TraceRate, 100*l.TraceRate)
	if m.OutputBytes < 0 {
		b.Notes = append(b.Notes, "app output not measured: the logs line counts Lambda's platform lines only")
	}
	if m.CPUMs == 0 {
		b.Notes = append(b.Notes, "server CPU not measured: duration assumes the whole latency is DynamoDB wait")
	}
	return b
}

func gatewayName(g Gateway) string {
	if g == FunctionURL {
		return "a Function URL"
	}
	return "an HTTP API"
}

// Container is the long-running server (cmd/local) on a Fargate fleet
// behind an Application Load Balancer, over a table with provisioned
// capacity and auto scaling.
type Container struct {
	// TaskVCPU and TaskGB size one task (Fargate arm64: 0.25 vCPU / 0.5 GB
	// and up).
	TaskVCPU, TaskGB float64
	// MinTasks is the floor of the service (2: one per Availability Zone).
	MinTasks int
	// CPUTarget is the average CPU utilization the fleet scales to (0.5:
	// room for a surge while new tasks start).
	CPUTarget float64
	// TableTarget is the table's auto scaling target utilization (0.7).
	TableTarget float64
	// MinWCU and MinRCU are the table's capacity floor.
	MinWCU, MinRCU float64
	// RequestBytes is what one request and its answer move through the
	// load balancer (headers, body, TLS framing).
	RequestBytes float64
	// TraceReservoir and TraceRate are the server's own trace sampling
	// (XRAY_RESERVOIR, XRAY_SAMPLE_RATE): up to TraceReservoir requests a
	// second per task, then TraceRate of the rest.
	TraceReservoir, TraceRate float64
}

// DefaultContainer is the fleet the docs price, with the server's default
// trace sampling (1 request a second per task, then 1 %).
var DefaultContainer = Container{
	TaskVCPU: 1, TaskGB: 2, MinTasks: 2, CPUTarget: 0.5, TableTarget: 0.7,
	MinWCU: 5, MinRCU: 5, RequestBytes: 1500, TraceReservoir: 1, TraceRate: 0.01,
}

// ContainerBill prices a million stream-hours of mix at a steady audience
// of concurrent streams (each playing stream is one stream-hour per hour).
// Fixed costs (the task floor, the load balancer, the table's floor) are
// shared by the audience, so the figure falls as the audience grows.
func ContainerBill(m Measured, mix Mix, c Container, p Prices, audience float64) Bill {
	u := m.usage(mix)
	b := Bill{Shape: fmt.Sprintf("container fleet at %s concurrent streams", people(audience))}
	perSH := func(hourly float64) float64 { return hourly / audience * Million }

	reqPerSec := audience * u.requests / 3600
	cores := reqPerSec * m.CPUMs / 1000 / c.CPUTarget
	tasks := max(float64(c.MinTasks), math.Ceil(cores/c.TaskVCPU))
	taskHour := c.TaskVCPU*p.FargateVCPUHour.USD + c.TaskGB*p.FargateGBHour.USD
	b.add("Fargate tasks", perSH(tasks*taskHour), "%.0f tasks of %g vCPU / %g GB for %.0f req/s (%.0f µs CPU each, at %.0f %% CPU)",
		tasks, c.TaskVCPU, c.TaskGB, reqPerSec, m.CPUMs*1000, 100*c.CPUTarget)

	// Each playing stream holds one keep-alive connection (the idle timeout
	// set above the heartbeat interval); bytes processed may weigh more.
	lcu := max(audience/3000, reqPerSec*3600*c.RequestBytes/GB)
	b.add("load balancer", perSH(p.ALBHour.USD+lcu*p.ALBLCUHour.USD), "1 ALB + %.1f LCU (%.0f active connections, %.1f GB/hour)",
		lcu, audience, reqPerSec*3600*c.RequestBytes/GB)

	wcu := max(c.MinWCU, math.Ceil(audience*u.writes/3600/c.TableTarget))
	rcu := max(c.MinRCU, math.Ceil(audience*u.reads/3600/c.TableTarget))
	b.add("DynamoDB writes", perSH(wcu*p.ProvisionedWCUHour.USD), "%.0f WCU provisioned (%.1f write units per stream-hour at %.0f %% utilization)", wcu, u.writes, 100*c.TableTarget)
	b.add("DynamoDB reads", perSH(rcu*p.ProvisionedRCUHour.USD), "%.0f RCU provisioned (%.1f read units per stream-hour)", rcu, u.reads)

	logBytes := u.requests * max(m.OutputBytes, 0)
	b.add("logs ingestion", logBytes/GB*p.LogsIngestion.USD*Million, "%.1f KB app output", logBytes/1000)
	// Each task traces its reservoir's requests a second, then the rate of
	// the rest.
	reservoir := min(reqPerSec, tasks*c.TraceReservoir)
	traced := (reservoir + (reqPerSec-reservoir)*c.TraceRate) * 3600
	b.add("X-Ray traces", perSH(traced*p.XRayTraces.USD/Million), "%.3f traces (%g a second per task, then %g %% of requests)",
		traced/audience, c.TraceReservoir, 100*c.TraceRate)
	b.Notes = append(b.Notes, "steady audience: provisioned capacity and tasks sized for it; a surge beyond the targets' headroom is throttled until auto scaling catches up")
	if m.CPUMs == 0 {
		b.Notes = append(b.Notes, "server CPU not measured: the fleet is its floor")
	}
	return b
}

// Crossover returns the smallest audience (concurrent streams, searched
// on a grid of 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 per power of ten up to
// 10^8) at which the container fleet costs less per stream-hour than
// lambdaTotal (dollars per million stream-hours), or 0 if none does.
func Crossover(m Measured, mix Mix, c Container, p Prices, lambdaTotal float64) float64 {
	for exp := 0; exp < 8; exp++ {
		for _, f := range []float64{1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8} {
			n := f * math.Pow(10, float64(exp))
			if ContainerBill(m, mix, c, p, n).Total < lambdaTotal {
				return n
			}
		}
	}
	return 0
}

// people renders an audience size: 500, 20k, 1.5M.
func people(n float64) string {
	switch {
	case n >= 1e6:
		return trim(n/1e6) + "M"
	case n >= 1e3:
		return trim(n/1e3) + "k"
	default:
		return trim(n)
	}
}

func trim(f float64) string { return fmt.Sprintf("%g", math.Round(f*100)/100) }
