// Command loadcurve drives offered load upward against a streamlimit server
// on this machine and reports, per step, goodput, p50/p99, 503s and leases
// behind failed answers (internal/loadgen, Curve); `loadcurve plot` draws
// the curves of one or more runs as PNG files.
//
//	go run ./cmd/loadcurve -base http://127.0.0.1:3000/dev -ddb-endpoint http://127.0.0.1:8000 -json on.json
//	go run ./cmd/loadcurve plot -out docs/img on.json off.json
//
// scripts/load-curve.sh runs it against fresh local stacks, admission on and
// off, and regenerates the plots in docs/img. Only loopback targets.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamlimit/streamlimit/infra/dynamo"
	"github.com/streamlimit/streamlimit/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadcurve:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "plot" {
		return plot(args[1:], stdout)
	}
	fs := flag.NewFlagSet("loadcurve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c         loadgen.Curve
		ddb       = fs.String("ddb-endpoint", "", "DynamoDB Local URL: count leases behind failed answers from the table")
		table     = fs.String("table", "uid_concurrency_count", "the lease table (with -ddb-endpoint)")
		label     = fs.String("label", "", "name of this run in the plots (e.g. \"admission on\")")
		jsonOut   = fs.String("json", "", "write the report as JSON to this file")
		bursts    = fs.String("bursts", "40,80,160,320,480,640", "canStream burst sizes (distinct uids), comma separated; empty: none")
		rounds    = fs.Int("rounds", 2, "bursts per size, -gap apart")
		gap       = fs.Duration("gap", time.Second, "pause between the bursts of one size")
		hot       = fs.String("hot", "1x100,4x25", "hot-account steps, accounts x racers, comma separated; empty: none")
		hotRounds = fs.Int("hot-rounds", 3, "times each hot step runs")
		rates     = fs.String("hb-rates", "100,200,300,400,600,800,1000,1200", "heartbeats offered per second, one step each; empty: none")
		hbStep    = fs.Duration("hb-step", 5*time.Second, "duration of each heartbeat step")
		hbLeases  = fs.Int("hb-leases", 2000, "leases the heartbeat steps renew (with tokens, one heartbeat of a lease in flight at a time)")
		noTokens  = fs.Bool("hb-no-tokens", false, "heartbeats send no renewal token, so every one writes (players send theirs back)")
		admURL    = fs.String("admission", "", `server's admission state, recorded per step: a URL, or "auto" for <base host>/debug/admission (cmd/local with DEBUG_ADMISSION=true)`)
		overdrive = fs.Float64("overdrive", 2, "after the heartbeat steps, offer this multiple of the knee (the lowest rate with 95 % of the best goodput) for 2 × -hb-step; 0: skip")
	)
	fs.StringVar(&c.Base, "base", "http://127.0.0.1:3000/dev", "API base URL (loopback only)")
	fs.IntVar(&c.Limit, "limit", 3, "the server's MAX_STREAMS")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	c.Progress, c.NoTokens, c.AdmissionURL = stderr, *noTokens, *admURL
	if c.AdmissionURL == "auto" {
		u, err := url.Parse(c.Base)
		if err != nil {
			return fmt.Errorf("-base: %w", err)
		}
		c.AdmissionURL = u.Scheme + "://" + u.Host + "/debug/admission"
	}
	if c.AdmissionURL != "" {
		if err := loadgen.CheckLoopback(c.AdmissionURL); err != nil {
			return fmt.Errorf("-admission: %w", err)
		}
	}
	if *ddb != "" {
		if err := loadgen.CheckLoopback(*ddb); err != nil {
			return err
		}
		client, err := dynamo.New(ctx, dynamo.Config{Endpoint: *ddb, Region: "us-east-1", Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		c.Reader = loadgen.TableReader{API: client, Table: *table}
	}
	sizes, err := ints(*bursts)
	if err != nil {
		return fmt.Errorf("-bursts: %w", err)
	}
	pairs, err := hotPairs(*hot)
	if err != nil {
		return fmt.Errorf("-hot: %w", err)
	}
	rs, err := ints(*rates)
	if err != nil {
		return fmt.Errorf("-hb-rates: %w", err)
	}
	rep := &loadgen.CurveReport{Label: *label, Started: time.Now().UTC().Format(time.RFC3339), NoTokens: *noTokens}
	if len(sizes) > 0 {
		steps, err := c.Bursts(ctx, sizes, *rounds, *gap)
		rep.Steps = append(rep.Steps, steps...)
		if err != nil {
			return err
		}
	}
	if len(pairs) > 0 {
		steps, err := c.HotSteps(ctx, pairs, *hotRounds)
		rep.Steps = append(rep.Steps, steps...)
		if err != nil {
			return err
		}
	}
	if len(rs) > 0 {
		var fr []float64
		for _, r := range rs {
			fr = append(fr, float64(r))
		}
		steps, err := c.Heartbeats(ctx, *hbLeases, fr, *hbStep)
		rep.Steps = append(rep.Steps, steps...)
		if err != nil {
			return err
		}
		best := loadgen.Knee(steps)
		rep.Knee = best.Offered
		if *overdrive > 0 && best.Goodput > 0 {
			over, err := c.Heartbeats(ctx, *hbLeases, []float64{*overdrive * best.Offered}, 2*(*hbStep))
			if err != nil {
				return err
			}
			o := over[0]
			o.Kind = "overdrive"
			rep.Overdrive = &o
			fmt.Fprintf(stdout, "knee: %.0f heartbeats/s offered, goodput %.1f/s; at %.1f× (%.0f/s): goodput %.1f/s = %.0f %% of the knee's\n",
				best.Offered, best.Goodput, *overdrive, o.Offered, o.Goodput, 100*o.Goodput/best.Goodput)
		}
	}
	writeTable(stdout, rep)
	if *jsonOut != "" {
		return rep.WriteJSON(*jsonOut)
	}
	return nil
}

// plot reads reports and draws their curves.
func plot(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadcurve plot", flag.ContinueOnError)
	out := fs.String("out", "docs/img", "folder for the PNG files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("plot: name one or more JSON reports")
	}
	var reps []*loadgen.CurveReport
	for _, p := range fs.Args() {
		r, err := loadgen.ReadCurveReport(p)
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	files, err := loadgen.PlotCurves(reps, *out)
	for _, f := range files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	return err
}

// writeTable prints the steps for people.
func writeTable(w io.Writer, rep *loadgen.CurveReport) {
	fmt.Fprintf(w, "%-9s %7s %5s %6s %6s %7s %6s %6s %6s %9s %8s %8s %8s %7s\n",
		"kind", "offered", "round", "ok", "grant", "refused", "503ovl", "503oth", "failed", "goodput", "p50ms", "p99ms", "max503", "behind")
	steps := rep.Steps
	if rep.Overdrive != nil {
		steps = append(steps, *rep.Overdrive)
	}
	for _, s := range steps {
		extra := ""
		switch s.Kind {
		case "hot":
			extra = fmt.Sprintf("  per account %d..%d", s.MinGranted, s.MaxGranted)
		case "heartbeat", "overdrive":
			extra = fmt.Sprintf("  store writes %d", s.Writes)
		}
		fmt.Fprintf(w, "%-9s %7.0f %5d %6d %6d %7d %6d %6d %6d %9.1f %8.1f %8.1f %8.1f %7d%s\n",
			s.Kind, s.Offered, s.Round, s.OK, s.Granted, s.Refused, s.Overloaded, s.Other503, s.Failed, s.Goodput, s.P50ms, s.P99ms, s.Max503ms, s.BehindFailed, extra)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func hotPairs(s string) ([][2]int, error) {
	var out [][2]int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, r, ok := strings.Cut(f, "x")
		na, err1 := strconv.Atoi(a)
		nr, err2 := strconv.Atoi(r)
		if !ok || err1 != nil || err2 != nil || na < 1 || nr < 1 {
			return nil, fmt.Errorf("%q is not ACCOUNTSxRACERS", f)
		}
		out = append(out, [2]int{na, nr})
	}
	return out, nil
}
