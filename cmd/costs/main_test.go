package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/internal/cost"
)

const report = `{"started": "2026-12-03T01:00:00Z", "cost": {"measured": {
  "ops": {"canStream": {"calls": 2, "writeUnits": 4, "readUnits": 1, "latencyMs": 10},
          "heartbeat": {"calls": 2, "writeUnits": 1, "readUnits": 0.5, "latencyMs": 5},
          "endStream": {"calls": 2, "writeUnits": 4, "readUnits": 1, "latencyMs": 8}},
  "runMix": {"canStream": 10, "heartbeat": 100, "endStream": 9},
  "heartbeatIntervalSeconds": 30, "cpuMsPerRequest": 0.128, "outputBytesPerRequest": 654}}}`

// TestTablesAndPlot: from a report, the tables at 15/30/60 s and the SVG
// with one line per shape. The 30 s HTTP API column at 128 MB is
// TestLambdaBill's hand-computed $306.01 (internal/cost).
func TestTablesAndPlot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, svg := filepath.Join(dir, "run.json"), filepath.Join(dir, "plot.svg")
	if err := os.WriteFile(in, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run([]string{"-report", in, "-memory", "128", "-svg", svg}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 15 s, HTTP API |", "| 60 s, Function URL |", "**$306.01**", "crossover vs Function URL", "| 512 MB |", "projected (not measured)"} {
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

// TestProjected: the projected heartbeat makes half a call and half a write
// unit, reads nothing, and waits a quarter of today's DynamoDB time: 0.128
// ms CPU + (5 - 0.128) / 4 = 1.346 ms.
func TestProjected(t *testing.T) {
	t.Parallel()
	m := cost.Measured{CPUMs: 0.128, OutputBytes: 654, Ops: map[string]cost.Op{
		cost.Heartbeat: {Calls: 2, WriteUnits: 1, ReadUnits: 0.5, LatencyMs: 5},
		cost.CanStream: {Calls: 2, WriteUnits: 4, ReadUnits: 1, LatencyMs: 10},
	}}
	p := projected(m, 100)
	if got, want := p.Ops[cost.Heartbeat], (cost.Op{Calls: 0.5, WriteUnits: 0.5, LatencyMs: 1.346}); got != want {
		t.Errorf("projected heartbeat %+v, want %+v", got, want)
	}
	if p.OutputBytes != 100 || p.Ops[cost.CanStream] != m.Ops[cost.CanStream] || m.Ops[cost.Heartbeat].Calls != 2 {
		t.Errorf("projected %+v from %+v: want output 100, canStream unchanged, the measurement untouched", p, m)
	}
}
