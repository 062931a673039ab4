package loadgen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/internal/cost"
	"github.com/streamlimit/streamlimit/observe/capacity"
)

// CostConfig says how the run's figures are priced (internal/cost).
type CostConfig struct {
	// ServerOutput lists the files the server's stdout and stderr go to:
	// their growth during the run is the output it wrote (log lines, EMF
	// documents). Empty: output not measured.
	ServerOutput []string
	// ServerPID is the server's process id: its CPU time during the run
	// (/proc/<pid>/stat) is the CPU per request. 0: not measured.
	ServerPID int
	// MemoryMB is the Lambda memory size priced (default
	// cost.DefaultMemoryMB, serverless.yml's).
	MemoryMB int
	// TraceRate is the share of the Lambda shapes' requests X-Ray records:
	// 0 (the default) for serverless.yml's tracing=PassThrough,
	// cost.ActiveTraceRate for tracing=Active. The container fleet samples
	// its own (cost.DefaultContainer).
	TraceRate float64
	// PlatformLogBytes is Lambda's own log output per invocation (default
	// 0: serverless.yml's JSON log format at system level WARN).
	PlatformLogBytes float64
}

// CostReport is the run's bill: what it measured and what that costs.
type CostReport struct {
	Measured cost.Measured `json:"measured"`
	MemoryMB int           `json:"memoryMB"`
	// Bills: the run's own session mix and one-hour sessions at the run's
	// interval, each behind the HTTP API and behind a Function URL.
	Bills []cost.Bill `json:"bills"`
	// Container prices one-hour sessions on the container fleet at a few
	// audience sizes.
	Container []cost.Bill `json:"container"`
	// Crossover is the audience (concurrent streams) above which the fleet
	// costs less than each Lambda shape, by gateway (0: none found).
	Crossover map[cost.Gateway]float64 `json:"crossover"`
	// ServerPeakRSSMB is the server's peak resident memory (VmHWM) at the
	// end of the run, in MiB (0: not measured): what a function's memory
	// size must hold.
	ServerPeakRSSMB float64 `json:"serverPeakRSSMB,omitempty"`
}

// peakRSS returns a process's peak resident set size (VmHWM) in MiB.
func peakRSS(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("loadgen: no VmHWM in /proc status")
}

// serverMark is what the server had used at one moment.
type serverMark struct {
	outputBytes int64 // -1: not measured
	cpuTicks    int64 // -1: not measured
}

// markServer reads the server's output size and CPU time now.
func (c CostConfig) markServer() serverMark {
	m := serverMark{outputBytes: -1, cpuTicks: -1}
	for _, f := range c.ServerOutput {
		st, err := os.Stat(f)
		if err != nil {
			return serverMark{outputBytes: -1, cpuTicks: m.cpuTicks}
		}
		m.outputBytes = max(m.outputBytes, 0) + st.Size()
	}
	if c.ServerPID > 0 {
		if t, err := cpuTicks(c.ServerPID); err == nil {
			m.cpuTicks = t
		}
	}
	return m
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times (100
// on every architecture Go runs Linux on).
const clockTicks = 100

// cpuTicks returns a process's user + system CPU time in clock ticks.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, errors.New("loadgen: unexpected /proc stat format")
	}
	f := strings.Fields(string(data[i+1:]))
	// After ")": state is field 3, utime 14 and stime 15 (1-based).
	if len(f) < 13 {
		return 0, errors.New("loadgen: short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + s, nil
}

// measured turns a run's counters into the cost model's input: per request
// figures from the server's counters (all requests it counted, for output
// and CPU; each session operation's own, for calls and units), the mean
// latency the players saw, and the run's mix per stream-hour.
func measured(capa capacity.Snapshot, ops map[string]OpReport, hours, intervalSec float64, before, after serverMark) cost.Measured {
	m := cost.Measured{Ops: map[string]cost.Op{}, RunMix: cost.Mix{}, IntervalSec: intervalSec, OutputBytes: -1}
	var requests int64
	for _, o := range capa {
		requests += o.Requests
	}
	for _, name := range cost.SessionOps {
		o := capa[name]
		per := float64(max(o.Requests, 1))
		m.Ops[name] = cost.Op{
			Calls: float64(o.CallsTotal) / per, WriteUnits: o.ModelWrite / per, ReadUnits: o.ModelRead / per,
			LatencyMs: ops[name].MeanMs,
		}
		if hours > 0 {
			m.RunMix[name] = float64(o.Requests) / hours
		}
	}
	if requests > 0 {
		if before.outputBytes >= 0 && after.outputBytes >= 0 {
			m.OutputBytes = float64(after.outputBytes-before.outputBytes) / float64(requests)
		}
		if before.cpuTicks >= 0 && after.cpuTicks >= 0 {
			m.CPUMs = float64(after.cpuTicks-before.cpuTicks) * 1000 / clockTicks / float64(requests)
		}
	}
	return m
}

// audiences are the steady audiences the container fleet is priced at.
var audiences = []float64{10_000, 100_000, 1_000_000}

// bill prices m.
func (c CostConfig) bill(m cost.Measured) *CostReport {
	memory := c.MemoryMB
	if memory <= 0 {
		memory = cost.DefaultMemoryMB
	}
	trace := max(c.TraceRate, 0)
	if m.IntervalSec <= 0 {
		m.IntervalSec = 30 // no heartbeat announced: the server default
	}
	interval := time.Duration(m.IntervalSec * float64(time.Second))
	hour := cost.HourMix(interval)
	r := &CostReport{Measured: m, MemoryMB: memory, Crossover: map[cost.Gateway]float64{}}
	if c.ServerPID > 0 {
		r.ServerPeakRSSMB, _ = peakRSS(c.ServerPID)
	}
	for _, mix := range []cost.Mix{m.RunMix, hour} {
		for _, g := range []cost.Gateway{cost.HTTPAPI, cost.FunctionURL} {
			r.Bills = append(r.Bills, cost.LambdaBill(m, mix, cost.Lambda{
				Gateway: g, MemoryMB: memory, PlatformLogBytes: c.PlatformLogBytes, TraceRate: trace,
			}, cost.List))
		}
	}
	fleet := cost.DefaultContainer
	for _, n := range audiences {
		r.Container = append(r.Container, cost.ContainerBill(m, hour, fleet, cost.List, n))
	}
	for i, g := range []cost.Gateway{cost.HTTPAPI, cost.FunctionURL} {
		r.Crossover[g] = cost.Crossover(m, hour, fleet, cost.List, r.Bills[2+i].Total)
	}
	return r
}

// write prints the bill: one column per shape, one row per item.
func (r *CostReport) write(w io.Writer) {
	m := r.Measured
	fmt.Fprintf(w, "\ncost per million stream-hours (internal/cost: us-east-1 list prices, 2026; Lambda arm64 %d MB; X-Ray %s):\n",
		r.MemoryMB, traceNote(r.Bills[0]))
	fmt.Fprintf(w, "  measured per request:")
	for _, name := range cost.SessionOps {
		o := m.Ops[name]
		fmt.Fprintf(w, " %s %.2f calls %.2f WCU %.2f RCU %.1f ms;", name, o.Calls, o.WriteUnits, o.ReadUnits, o.LatencyMs)
	}
	fmt.Fprintln(w)
	cpu, out := "not measured", "not measured"
	if m.CPUMs > 0 {
		cpu = fmt.Sprintf("%.0f µs", m.CPUMs*1000)
	}
	if m.OutputBytes >= 0 {
		out = fmt.Sprintf("%.0f B", m.OutputBytes)
	}
	rss := ""
	if r.ServerPeakRSSMB > 0 {
		rss = fmt.Sprintf(", peak RSS %.0f MiB", r.ServerPeakRSSMB)
	}
	fmt.Fprintf(w, "  server CPU %s per request, output %s per request%s\n", cpu, out, rss)
	hour := cost.HourMix(time.Duration(m.IntervalSec * float64(time.Second)))
	fmt.Fprintf(w, "  %-16s %14s %14s %14s %14s\n", "", "run mix", "run mix", "1-h sessions", "1-h sessions")
	fmt.Fprintf(w, "  %-16s %14s %14s %14s %14s\n", "", fmt.Sprintf("%.0f req/SH", m.RunMix.Requests()), "",
		fmt.Sprintf("%.0f req/SH", hour.Requests()), "")
	fmt.Fprintf(w, "  %-16s %14s %14s %14s %14s\n", "item", "HTTP API", "Function URL", "HTTP API", "Function URL")
	for i, it := range r.Bills[0].Items {
		fmt.Fprintf(w, "  %-16s", it.Name)
		for _, b := range r.Bills {
			fmt.Fprintf(w, " %14s", dollars(b.Items[i].USD))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  %-16s", "total")
	for _, b := range r.Bills {
		fmt.Fprintf(w, " %14s", dollars(b.Total))
	}
	fmt.Fprintln(w)
	for _, n := range r.Bills[0].Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintf(w, "  container fleet (cmd/local on Fargate arm64, provisioned DynamoDB; 1-h sessions):")
	for _, b := range r.Container {
		fmt.Fprintf(w, " %s %s;", strings.TrimPrefix(b.Shape, "container fleet at "), dollars(b.Total))
	}
	fmt.Fprintf(w, "\n  crossover: the fleet is cheaper above %s concurrent streams (vs HTTP API), %s (vs Function URL)\n",
		audience(r.Crossover[cost.HTTPAPI]), audience(r.Crossover[cost.FunctionURL]))
}

func traceNote(b cost.Bill) string {
	if d := b.Item("X-Ray traces").Detail; strings.Contains(d, "(") {
		return d[strings.Index(d, "(")+1 : len(d)-1]
	}
	return "off"
}

func dollars(f float64) string { return fmt.Sprintf("$%.2f", f) }

func audience(n float64) string {
	if n == 0 {
		return "none found"
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}
