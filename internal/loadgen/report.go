package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteText writes the report for people: per operation counts, outcomes
// and latency, DynamoDB calls and capacity per request, and the audit.
func (rep *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "streamlimit load run against %s, started %s, %.0f s\n", rep.Base, rep.Started, rep.ElapsedSec)
	fmt.Fprintf(w, "players %d over %d uids, crash share %.0f%%, heartbeat every %.0f s, lease TTL %.0f s\n",
		rep.Players, rep.UIDs, 100*rep.CrashShare, rep.IntervalSec, rep.TTLSec)
	fmt.Fprintf(w, "sessions %d: granted %d, refused %d, ended %d, crashed %d; %.2f stream-hours\n\n",
		rep.Sessions, rep.Granted, rep.Refused, rep.Ended, rep.Crashed, rep.StreamHours)

	fmt.Fprintf(w, "%-10s %8s %8s %8s %8s %8s %8s %6s  %s\n", "operation", "count", "non-200", "p50 ms", "p95 ms", "p99 ms", "max ms", "slow", "outcomes")
	names := make([]string, 0, len(rep.Ops))
	for n := range rep.Ops {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		o := rep.Ops[n]
		fmt.Fprintf(w, "%-10s %8d %8d %8.1f %8.1f %8.1f %8.1f %6d  %s\n", n, o.Count, o.Errors, o.P50ms, o.P95ms, o.P99ms, o.MaxMs, o.Slow, formatOutcomes(o.Outcomes))
	}
	if len(rep.Anomalies) > 0 {
		fmt.Fprintf(w, "anomalies: %s\n", formatOutcomes(rep.Anomalies))
	}
	fmt.Fprintf(w, "unexpected answers: %d\n", rep.Unexpected)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "%s\n", n)
	}

	if rep.Capacity != nil {
		fmt.Fprintf(w, "\nDynamoDB per request (server-side counters; model = 2 write units per transaction item):\n")
		fmt.Fprintf(w, "%-10s %9s %7s %9s %9s %9s %9s  %s\n", "operation", "requests", "calls", "rep. RCU", "rep. WCU", "model RCU", "model WCU", "calls by kind (total)")
		for _, n := range rep.Capacity.Names() {
			o := rep.Capacity[n]
			per := float64(max(o.Requests, 1))
			var kinds []string
			for k, v := range o.Calls {
				kinds = append(kinds, fmt.Sprintf("%s:%d", k, v))
			}
			slices.Sort(kinds)
			fmt.Fprintf(w, "%-10s %9d %7.2f %9.2f %9.2f %9.2f %9.2f  %s\n", n, o.Requests,
				float64(o.CallsTotal)/per, o.ReportedRead/per, o.ReportedWrite/per, o.ModelRead/per, o.ModelWrite/per,
				strings.Join(kinds, ", "))
		}
		if p := rep.PerStreamHour; p != nil {
			fmt.Fprintf(w, "per stream-hour (this run's interval and sessions): %.1f requests, %.1f DynamoDB calls, %.1f write units, %.1f read units\n",
				p.Requests, p.Calls, p.WriteUnits, p.ReadUnits)
		}
	}
	if rep.Cost != nil {
		rep.Cost.write(w)
	}

	a := rep.Audit
	fmt.Fprintf(w, "\naudit (%s): %d sampled moments, %d store reads (%d failed)\n", rep.Reader, a.Moments, a.StoreReads, a.StoreErrors)
	fmt.Fprintf(w, "  over limit %d, leases lost %d, invented %d, ghosts (max per read) %d\n", a.OverLimit, a.Lost, a.Invented, a.Ghosts)
	fmt.Fprintf(w, "  final: %d uids read after every expiry, %d live leases left; %d crashed leases; %d uids with a crash probed, %d refused\n",
		a.FinalUIDs, a.FinalLive, a.CrashedLeases, a.ProbeUIDs, a.ProbeRefused)
	for _, v := range a.Violations {
		fmt.Fprintf(w, "  ! %s\n", v)
	}
	for _, e := range a.ReadErrors {
		fmt.Fprintf(w, "  store read failed: %s\n", e)
	}
	verdict := "OK"
	if !rep.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "result: %s\n", verdict)
}
