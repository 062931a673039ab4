// Command costs prints the cost tables of docs/BENCHMARKS.md from what a load
// run measured (the JSON report of cmd/loadgen, field "cost.measured"): the
// itemized bill per million stream-hours at 15, 30 and 60 s heartbeats for
// the api function behind an HTTP API and behind a Function URL and for the
// container fleet, the Lambda memory sizes, the crossover audience, and the
// projected lines; with -svg it also draws cost against heartbeat interval.
//
//	go run ./cmd/costs -report docs/bench/cost-2026-12-03-30s.json -svg docs/img/cost-vs-heartbeat.svg
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/internal/cost"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "costs:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("costs", flag.ContinueOnError)
	report := fs.String("report", "", "cmd/loadgen's JSON report (-json) of a run with -capacity")
	memory := fs.Int("memory", cost.DefaultMemoryMB, "Lambda memory size (MB)")
	trace := fs.Float64("xray-rate", cost.DefaultTraceRate, "share of requests X-Ray records")
	svg := fs.String("svg", "", "also draw cost against heartbeat interval into this SVG file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *report == "" {
		return errors.New("-report is required")
	}
	data, err := os.ReadFile(*report)
	if err != nil {
		return err
	}
	var rep struct {
		Started string `json:"started"`
		Cost    *struct {
			Measured cost.Measured `json:"measured"`
		} `json:"cost"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return fmt.Errorf("%s: %w", *report, err)
	}
	if rep.Cost == nil {
		return fmt.Errorf("%s has no cost section: run loadgen with -capacity", *report)
	}
	t := tables{m: rep.Cost.Measured, memory: *memory, trace: *trace}
	fmt.Fprintf(stdout, "# costs from %s (run started %s); prices: internal/cost (cost.List)\n\n", *report, rep.Started)
	t.write(stdout)
	if *svg != "" {
		return os.WriteFile(*svg, []byte(t.plot()), 0o644)
	}
	return nil
}

// tables computes and prints every table from one measurement.
type tables struct {
	m      cost.Measured
	memory int
	trace  float64
}

var intervals = []time.Duration{15 * time.Second, 30 * time.Second, 60 * time.Second}

func (t tables) lambda(m cost.Measured, g cost.Gateway, interval time.Duration, memory int, trace float64) cost.Bill {
	return cost.LambdaBill(m, cost.HourMix(interval), cost.Lambda{Gateway: g, MemoryMB: memory, TraceRate: trace}, cost.List)
}

func (t tables) container(m cost.Measured, interval time.Duration, audience float64) cost.Bill {
	c := cost.DefaultContainer
	c.TraceRate = t.trace
	return cost.ContainerBill(m, cost.HourMix(interval), c, cost.List, audience)
}

// Projected is the measurement with the heartbeat of the write-skipping
// change (issue 15 item 3, another change): one call, at most 0.5 write
// units and no read per heartbeat on average, so a quarter of today's two
// DynamoDB round trips; and, with logs (item 4) at 100 bytes per request
// and an X-Ray rule sampling 1 %, the observability target. Both are
// projections, not measurements.
func projected(m cost.Measured, outputBytes float64) cost.Measured {
	p := m
	p.Ops = map[string]cost.Op{}
	for k, v := range m.Ops {
		p.Ops[k] = v
	}
	hb := m.Ops[cost.Heartbeat]
	wait := max(0, hb.LatencyMs-m.CPUMs)
	p.Ops[cost.Heartbeat] = cost.Op{Calls: 0.5, WriteUnits: 0.5, ReadUnits: 0, LatencyMs: m.CPUMs + wait/4}
	if outputBytes >= 0 {
		p.OutputBytes = outputBytes
	}
	return p
}

func (t tables) write(w io.Writer) {
	m := t.m
	fmt.Fprintf(w, "measured, per request:\n\n| operation | DynamoDB calls | write units | read units | mean latency |\n|---|---|---|---|---|\n")
	for _, op := range cost.SessionOps {
		o := m.Ops[op]
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.1f ms |\n", op, o.Calls, o.WriteUnits, o.ReadUnits, o.LatencyMs)
	}
	fmt.Fprintf(w, "\nserver CPU %.0f µs per request, output %.0f bytes per request; run interval %.0f s\n\n", m.CPUMs*1000, m.OutputBytes, m.IntervalSec)

	fmt.Fprintf(w, "dollars per million stream-hours, one-hour sessions, Lambda arm64 %d MB, X-Ray %.0f %%:\n\n", t.memory, 100*t.trace)
	fmt.Fprintf(w, "| item |")
	var bills []cost.Bill
	for _, iv := range intervals {
		for _, g := range []cost.Gateway{cost.HTTPAPI, cost.FunctionURL} {
			fmt.Fprintf(w, " %s, %s |", seconds(iv), gatewayLabel(g))
			bills = append(bills, t.lambda(m, g, iv, t.memory, t.trace))
		}
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(bills)))
	for i, it := range bills[0].Items {
		fmt.Fprintf(w, "| %s |", it.Name)
		for _, b := range bills {
			fmt.Fprintf(w, " $%.2f |", b.Items[i].USD)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "| **total** |")
	for _, b := range bills {
		fmt.Fprintf(w, " **$%.2f** |", b.Total)
	}
	fmt.Fprintf(w, "\n\n")

	fmt.Fprintf(w, "container fleet (cmd/local on Fargate arm64 1 vCPU / 2 GB tasks, at least 2; ALB; provisioned DynamoDB at 70 %%), one-hour sessions:\n\n")
	audiences := []float64{1_000, 10_000, 100_000, 1_000_000}
	fmt.Fprintf(w, "| heartbeat |")
	for _, n := range audiences {
		fmt.Fprintf(w, " %s streams |", groups(n))
	}
	fmt.Fprintf(w, " crossover vs HTTP API | crossover vs Function URL |\n|---|%s---|---|\n", strings.Repeat("---|", len(audiences)))
	fleet := cost.DefaultContainer
	fleet.TraceRate = t.trace
	for _, iv := range intervals {
		fmt.Fprintf(w, "| %s |", seconds(iv))
		for _, n := range audiences {
			fmt.Fprintf(w, " $%.2f |", t.container(m, iv, n).Total)
		}
		for _, g := range []cost.Gateway{cost.HTTPAPI, cost.FunctionURL} {
			fmt.Fprintf(w, " %s |", groups(cost.Crossover(m, cost.HourMix(iv), fleet, cost.List, t.lambda(m, g, iv, t.memory, t.trace).Total)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nitemized at 1,000,000 streams, 30 s:\n\n| item | $ per M stream-hours | what |\n|---|---|---|\n")
	big := t.container(m, 30*time.Second, 1_000_000)
	for _, it := range big.Items {
		fmt.Fprintf(w, "| %s | $%.2f | %s |\n", it.Name, it.USD, it.Detail)
	}
	fmt.Fprintf(w, "| **total** | **$%.2f** | |\n\n", big.Total)

	fmt.Fprintf(w, "Lambda memory (30 s, Function URL): billed duration per request and the duration line:\n\n| memory | CPU share | canStream | heartbeat | endStream | duration $ per M stream-hours | total |\n|---|---|---|---|---|---|---|\n")
	for _, mb := range []int{128, 256, 512} {
		b := t.lambda(m, cost.FunctionURL, 30*time.Second, mb, t.trace)
		fmt.Fprintf(w, "| %d MB | %.3f vCPU | %.1f ms | %.1f ms | %.1f ms | $%.2f | $%.2f |\n", mb, cost.CPUShare(mb),
			cost.BilledMs(m.Ops[cost.CanStream], m.CPUMs, mb), cost.BilledMs(m.Ops[cost.Heartbeat], m.CPUMs, mb),
			cost.BilledMs(m.Ops[cost.EndStream], m.CPUMs, mb), b.Item("Lambda duration").USD, b.Total)
	}

	fmt.Fprintf(w, "\nprojected (not measured), one-hour sessions, Function URL, %d MB:\n\n| line | 15 s | 30 s | 60 s |\n|---|---|---|---|\n", t.memory)
	rows := []struct {
		name  string
		m     cost.Measured
		trace float64
	}{
		{"measured today", m, t.trace},
		{"heartbeat ≤ 0.5 WCU, 0.5 calls, no read (item 3)", projected(m, -1), t.trace},
		{"… and ≤ 100 B of output per request, X-Ray 1 % (item 4)", projected(m, 100), 0.01},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.name)
		for _, iv := range intervals {
			fmt.Fprintf(w, " $%.2f |", t.lambda(r.m, cost.FunctionURL, iv, t.memory, r.trace).Total)
		}
		fmt.Fprintln(w)
	}
}

func gatewayLabel(g cost.Gateway) string {
	if g == cost.FunctionURL {
		return "Function URL"
	}
	return "HTTP API"
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.0f s", d.Seconds()) }

// groups renders n with thousands separators (0: "none").
func groups(n float64) string {
	if n == 0 {
		return "none"
	}
	s := fmt.Sprintf("%.0f", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
