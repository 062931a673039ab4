// Command costs prints the cost tables of docs/BENCHMARKS.md from what load
// runs measured (the JSON reports of cmd/loadgen, field "cost.measured"):
// the itemized bill per million stream-hours at each run's heartbeat
// interval for the api function behind an HTTP API and behind a Function
// URL and for the container fleet, the Lambda memory sizes and the
// crossover audience; with -svg it also draws cost against heartbeat
// interval.
//
// Give one report per interval (a run at 15 s, one at 30 s, one at 60 s):
// what a heartbeat costs depends on the interval (how many heartbeats a
// renewal token lets skip their write), so each interval is priced from its
// own run. A single report is priced at 15, 30 and 60 s alike, which models
// the other intervals with its own per-request figures.
//
//	go run ./cmd/costs -report docs/bench/cost-15s.json,docs/bench/cost-30s.json,docs/bench/cost-60s.json -svg docs/img/cost-vs-heartbeat.svg
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
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
	reports := fs.String("report", "", "cmd/loadgen's JSON reports (-json) of runs with -capacity, comma-separated, one per heartbeat interval")
	memory := fs.Int("memory", cost.DefaultMemoryMB, "Lambda memory size (MB)")
	trace := fs.Float64("xray-rate", 0, "share of the Lambda shapes' requests X-Ray records (0: serverless.yml's tracing=PassThrough)")
	svg := fs.String("svg", "", "also draw cost against heartbeat interval into this SVG file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reports == "" {
		return errors.New("-report is required")
	}
	t := tables{runs: map[time.Duration]cost.Measured{}, memory: *memory, trace: *trace}
	fmt.Fprintf(stdout, "# costs; prices: internal/cost (cost.List)\n\n")
	for _, path := range strings.Split(*reports, ",") {
		m, started, err := readReport(strings.TrimSpace(path))
		if err != nil {
			return err
		}
		iv := time.Duration(m.IntervalSec * float64(time.Second))
		if _, dup := t.runs[iv]; dup {
			return fmt.Errorf("%s: a second report at %s", path, seconds(iv))
		}
		t.runs[iv] = m
		fmt.Fprintf(stdout, "- %s: heartbeat %s, run started %s\n", path, seconds(iv), started)
	}
	fmt.Fprintln(stdout)
	t.write(stdout)
	if *svg != "" {
		return os.WriteFile(*svg, []byte(t.plot()), 0o644)
	}
	return nil
}

// readReport reads the measurement of one load run's JSON report.
func readReport(path string) (cost.Measured, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return cost.Measured{}, "", err
	}
	var rep struct {
		Started string `json:"started"`
		Cost    *struct {
			Measured cost.Measured `json:"measured"`
		} `json:"cost"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return cost.Measured{}, "", fmt.Errorf("%s: %w", path, err)
	}
	if rep.Cost == nil {
		return cost.Measured{}, "", fmt.Errorf("%s has no cost section: run loadgen with -capacity", path)
	}
	m := rep.Cost.Measured
	if m.IntervalSec <= 0 {
		m.IntervalSec = 30 // no heartbeat announced: the server default
	}
	return m, rep.Started, nil
}

// tables computes and prints every table from the runs' measurements.
type tables struct {
	runs   map[time.Duration]cost.Measured
	memory int
	trace  float64
}

// intervals are the heartbeat intervals priced: the runs', or 15, 30 and
// 60 s from a single run.
func (t tables) intervals() []time.Duration {
	if len(t.runs) == 1 {
		return []time.Duration{15 * time.Second, 30 * time.Second, 60 * time.Second}
	}
	return slices.Sorted(maps.Keys(t.runs))
}

// at is the measurement that prices interval iv: its own run's, else the
// run nearest to it.
func (t tables) at(iv time.Duration) cost.Measured {
	if m, ok := t.runs[iv]; ok {
		return m
	}
	var best time.Duration = -1
	for r := range t.runs {
		if best < 0 || (r-iv).Abs() < (best-iv).Abs() || ((r-iv).Abs() == (best-iv).Abs() && r < best) {
			best = r
		}
	}
	return t.runs[best]
}

func (t tables) lambda(g cost.Gateway, iv time.Duration, memory int, trace float64) cost.Bill {
	return cost.LambdaBill(t.at(iv), cost.HourMix(iv), cost.Lambda{Gateway: g, MemoryMB: memory, TraceRate: trace}, cost.List)
}

func (t tables) container(iv time.Duration, audience float64) cost.Bill {
	return cost.ContainerBill(t.at(iv), cost.HourMix(iv), cost.DefaultContainer, cost.List, audience)
}

var gateways = []cost.Gateway{cost.HTTPAPI, cost.FunctionURL}

func (t tables) write(w io.Writer) {
	ivs := t.intervals()
	fmt.Fprintf(w, "measured, per request:\n\n| heartbeat | operation | DynamoDB calls | write units | read units | mean latency | server CPU | output |\n|---|---|---|---|---|---|---|---|\n")
	for _, iv := range slices.Sorted(maps.Keys(t.runs)) {
		m := t.runs[iv]
		for _, op := range cost.SessionOps {
			o := m.Ops[op]
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %.2f | %.1f ms | %.0f µs | %.1f B |\n", seconds(iv), op, o.Calls, o.WriteUnits, o.ReadUnits, o.LatencyMs, m.CPUMs*1000, m.OutputBytes)
		}
	}

	fmt.Fprintf(w, "\ndollars per million stream-hours, one-hour sessions, Lambda arm64 %d MB, X-Ray %g %% of requests:\n\n", t.memory, 100*t.trace)
	fmt.Fprintf(w, "| item |")
	var bills []cost.Bill
	for _, iv := range ivs {
		for _, g := range gateways {
			fmt.Fprintf(w, " %s, %s |", seconds(iv), gatewayLabel(g))
			bills = append(bills, t.lambda(g, iv, t.memory, t.trace))
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
	fmt.Fprintf(w, "\n| total with tracing=Active (%g %%) |", 100*cost.ActiveTraceRate)
	for _, iv := range ivs {
		for _, g := range gateways {
			fmt.Fprintf(w, " $%.2f |", t.lambda(g, iv, t.memory, cost.ActiveTraceRate).Total)
		}
	}
	fmt.Fprintf(w, "\n\n")

	c := cost.DefaultContainer
	fmt.Fprintf(w, "container fleet (cmd/local on Fargate arm64 %g vCPU / %g GB tasks, at least %d; ALB; provisioned DynamoDB at %.0f %%; X-Ray %g a second per task, then %g %%), one-hour sessions:\n\n",
		c.TaskVCPU, c.TaskGB, c.MinTasks, 100*c.TableTarget, c.TraceReservoir, 100*c.TraceRate)
	audiences := []float64{1_000, 10_000, 100_000, 1_000_000}
	fmt.Fprintf(w, "| heartbeat |")
	for _, n := range audiences {
		fmt.Fprintf(w, " %s streams |", groups(n))
	}
	fmt.Fprintf(w, " crossover vs HTTP API | crossover vs Function URL |\n|---|%s---|---|\n", strings.Repeat("---|", len(audiences)))
	for _, iv := range ivs {
		fmt.Fprintf(w, "| %s |", seconds(iv))
		for _, n := range audiences {
			fmt.Fprintf(w, " $%.2f |", t.container(iv, n).Total)
		}
		for _, g := range gateways {
			fmt.Fprintf(w, " %s |", groups(cost.Crossover(t.at(iv), cost.HourMix(iv), c, cost.List, t.lambda(g, iv, t.memory, t.trace).Total)))
		}
		fmt.Fprintln(w)
	}
	ref := 30 * time.Second
	fmt.Fprintf(w, "\nitemized at 1,000,000 streams, %s:\n\n| item | $ per M stream-hours | what |\n|---|---|---|\n", seconds(ref))
	big := t.container(ref, 1_000_000)
	for _, it := range big.Items {
		fmt.Fprintf(w, "| %s | $%.2f | %s |\n", it.Name, it.USD, it.Detail)
	}
	fmt.Fprintf(w, "| **total** | **$%.2f** | |\n\n", big.Total)

	m := t.at(ref)
	fmt.Fprintf(w, "Lambda memory (%s, Function URL): billed duration per request and the duration line:\n\n| memory | CPU share | canStream | heartbeat | endStream | duration $ per M stream-hours | total |\n|---|---|---|---|---|---|---|\n", seconds(ref))
	for _, mb := range []int{128, 256, 512} {
		b := t.lambda(cost.FunctionURL, ref, mb, t.trace)
		fmt.Fprintf(w, "| %d MB | %.3f vCPU | %.1f ms | %.1f ms | %.1f ms | $%.2f | $%.2f |\n", mb, cost.CPUShare(mb),
			cost.BilledMs(m.Ops[cost.CanStream], m.CPUMs, mb), cost.BilledMs(m.Ops[cost.Heartbeat], m.CPUMs, mb),
			cost.BilledMs(m.Ops[cost.EndStream], m.CPUMs, mb), b.Item("Lambda duration").USD, b.Total)
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
