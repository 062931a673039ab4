package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const report = `{"started": "2026-12-03T01:00:00Z", "cost": {"measured": {
  "ops": {"canStream": {"calls": 2, "writeUnits": 4, "readUnits": 1, "latencyMs": 10},
          "heartbeat": {"calls": 2, "writeUnits": 1, "readUnits": 0.5, "latencyMs": 5},
          "endStream": {"calls": 2, "writeUnits": 4, "readUnits": 1, "latencyMs": 8}},
  "runMix": {"canStream": 10, "heartbeat": 100, "endStream": 9},
  "heartbeatIntervalSeconds": 30, "cpuMsPerRequest": 0.128, "outputBytesPerRequest": 654}}}`

// TestTablesAndPlot: from a report, the tables at 15/30/60 s and the SVG
// with one line per shape. The 30 s HTTP API column at 128 MB with 5 % of
// requests traced is TestLambdaBill's hand-computed $306.01
// (internal/cost).
func TestTablesAndPlot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, svg := filepath.Join(dir, "run.json"), filepath.Join(dir, "plot.svg")
	if err := os.WriteFile(in, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run([]string{"-report", in, "-memory", "128", "-xray-rate", "0.05", "-svg", svg}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 15 s, HTTP API |", "| 60 s, Function URL |", "**$306.01**", "crossover vs Function URL", "| 512 MB |", "total with tracing=Active"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Lines []struct{} `xml:"polyline"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || len(doc.Lines) != 5 {
		t.Errorf("SVG: %d polylines, %v; want 5 and well-formed", len(doc.Lines), err)
	}
	if err := run([]string{"-report", filepath.Join(dir, "none.json")}, &out); err == nil {
		t.Error("a missing report: no error")
	}
	if err := os.WriteFile(in, []byte(`{"started": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-report", in}, &out); err == nil || !strings.Contains(err.Error(), "no cost section") {
		t.Errorf("a report without cost: %v", err)
	}
}

// TestOneRunPerInterval: with a report per interval, each interval is
// priced from its own run: here the heartbeat writes 0.2 units at 15 s,
// 0.5 at 30 s, 1 at 60 s, so the writes line is (4 + 240 × 0.2 + 4) ×
// $0.625 = $35, (4 + 120 × 0.5 + 4) × $0.625 = $42.50 and (4 + 60 + 4) ×
// $0.625 = $42.50; the plot passes through the three intervals only; two
// reports of one interval are refused.
func TestOneRunPerInterval(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var paths []string
	for _, r := range []struct {
		interval int
		wcu      string
	}{{15, "0.2"}, {30, "0.5"}, {60, "1"}} {
		rep := strings.Replace(report, `"heartbeat": {"calls": 2, "writeUnits": 1,`, `"heartbeat": {"calls": 1, "writeUnits": `+r.wcu+`,`, 1)
		rep = strings.Replace(rep, `"heartbeatIntervalSeconds": 30`, fmt.Sprintf(`"heartbeatIntervalSeconds": %d`, r.interval), 1)
		p := filepath.Join(dir, fmt.Sprintf("run%d.json", r.interval))
		if err := os.WriteFile(p, []byte(rep), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	svg := filepath.Join(dir, "plot.svg")
	var out strings.Builder
	if err := run([]string{"-report", strings.Join(paths, ","), "-svg", svg}, &out); err != nil {
		t.Fatal(err)
	}
	var writes string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "| DynamoDB writes |") && writes == "" {
			writes = l
		}
	}
	if want := "| DynamoDB writes | $35.00 | $35.00 | $42.50 | $42.50 | $42.50 | $42.50 |"; writes != want {
		t.Errorf("writes line %q, want %q", writes, want)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "<circle"); n != 5*3 {
		t.Errorf("%d markers, want one per shape and interval (15)", n)
	}
	if err := run([]string{"-report", paths[1] + "," + paths[1]}, &out); err == nil || !strings.Contains(err.Error(), "a second report") {
		t.Errorf("two reports of one interval: %v", err)
	}
}
