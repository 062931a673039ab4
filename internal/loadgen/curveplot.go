package loadgen

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette colours one report per line.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// PlotCurves draws the curves of reports (one line per report, labelled
// with its Label) into dir: overload-burst.png (canStream bursts on
// distinct uids: grants, 503s and leases behind failed answers per burst
// size), overload-heartbeat.png (heartbeat goodput against offered rate,
// heartbeats without renewal tokens: every one a store write) and
// overload-latency.png (their p50 and p99), overload-heartbeat-tokens.png
// (goodput of heartbeats that send their tokens back, as players do). Each
// heartbeat plot marks the step at a multiple of the knee (Overdrive). It
// returns the files written.
func PlotCurves(reports []*CurveReport, dir string) ([]string, error) {
	var written []string
	save := func(p *plot.Plot, name string) error {
		f := filepath.Join(dir, name)
		if err := p.Save(22*vg.Centimeter, 13*vg.Centimeter, f); err != nil {
			return err
		}
		written = append(written, f)
		return nil
	}
	burst := []panel{
		{"granted", func(s Step) float64 { return float64(s.Granted) }, nil},
		{"503 (any)", func(s Step) float64 { return float64(s.Overloaded + s.Other503) }, []vg.Length{vg.Points(2), vg.Points(2)}},
		{"leases behind failed answers", func(s Step) float64 { return float64(max(s.BehindFailed, 0)) }, []vg.Length{vg.Points(6), vg.Points(2)}},
	}
	p, ok, err := linePlot(reports, "burst", "canStream bursts on distinct uids (each size twice, 1 s apart)", "simultaneous canStream calls", "calls", burst)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := save(p, "overload-burst.png"); err != nil {
			return nil, err
		}
	}
	var writing, tokens []*CurveReport
	for _, r := range reports {
		if r.NoTokens {
			writing = append(writing, r)
		} else {
			tokens = append(tokens, r)
		}
	}
	goodput := []panel{{"goodput (200/s)", func(s Step) float64 { return s.Goodput }, nil}}
	for _, g := range []struct {
		reports []*CurveReport
		title   string
		file    string
	}{
		{writing, "heartbeats without renewal tokens (each one a store write), offered open-loop", "overload-heartbeat.png"},
		{tokens, "heartbeats sending back their renewal tokens, as players do, offered open-loop", "overload-heartbeat-tokens.png"},
	} {
		p, ok, err := linePlot(g.reports, "heartbeat", g.title, "offered heartbeats per second", "answered 200 per second", goodput)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		ref := plotter.NewFunction(func(x float64) float64 { return x })
		ref.Color, ref.Dashes = color.Gray{Y: 0x99}, []vg.Length{vg.Points(1), vg.Points(3)}
		p.Add(ref)
		p.Legend.Add("offered", ref)
		if err := overdrives(p, g.reports, goodput[0].value); err != nil {
			return nil, err
		}
		if err := save(p, g.file); err != nil {
			return nil, err
		}
	}
	lat := []panel{
		{"p50", func(s Step) float64 { return s.P50ms }, []vg.Length{vg.Points(2), vg.Points(2)}},
		{"p99", func(s Step) float64 { return s.P99ms }, nil},
	}
	p, ok, err = linePlot(writing, "heartbeat", "latency of heartbeats without renewal tokens (every answer, 503s included)", "offered heartbeats per second", "ms", lat)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := overdrives(p, writing, lat[1].value); err != nil {
			return nil, err
		}
		if err := save(p, "overload-latency.png"); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// overdrives marks each report's step at a multiple of the knee, value of
// it against its offered rate, with a star in the report's colour.
func overdrives(p *plot.Plot, reports []*CurveReport, value func(Step) float64) error {
	for i, r := range reports {
		if r.Overdrive == nil {
			continue
		}
		s, err := plotter.NewScatter(plotter.XYs{{X: r.Overdrive.Offered, Y: value(*r.Overdrive)}})
		if err != nil {
			return err
		}
		s.Color, s.Shape, s.Radius = palette[i%len(palette)], draw.PyramidGlyph{}, vg.Points(5)
		p.Add(s)
		p.X.Max = max(p.X.Max, 1.05*r.Overdrive.Offered)
		p.Y.Max = max(p.Y.Max, 1.05*value(*r.Overdrive))
		p.Legend.Add(fmt.Sprintf("%s: %.0f× the knee", r.Label, r.Overdrive.Offered/max(r.Knee, 1)), s)
	}
	return nil
}

// panel is one measure drawn for every report.
type panel struct {
	name   string
	value  func(Step) float64
	dashes []vg.Length
}

// linePlot draws, for each report and measure, value against Offered over
// the steps of kind (repeated rounds averaged). ok is false when no report
// has such steps.
func linePlot(reports []*CurveReport, kind, title, xLabel, yLabel string, measures []panel) (*plot.Plot, bool, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xLabel, yLabel
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	any := false
	for i, r := range reports {
		for _, m := range measures {
			pts := averaged(r.Steps, kind, m.value)
			if len(pts) == 0 {
				continue
			}
			any = true
			line, dots, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, false, err
			}
			c := palette[i%len(palette)]
			line.Color, line.Dashes, line.Width = c, m.dashes, vg.Points(1.5)
			dots.Color, dots.Shape = c, draw.CircleGlyph{}
			p.Add(line, dots)
			p.Legend.Add(fmt.Sprintf("%s: %s", r.Label, m.name), line, dots)
		}
	}
	p.Y.Min = 0
	return p, any, nil
}

// averaged is value per Offered over the steps of kind, rounds averaged.
func averaged(steps []Step, kind string, value func(Step) float64) plotter.XYs {
	var xs []float64
	sum, n := map[float64]float64{}, map[float64]int{}
	for _, s := range steps {
		if s.Kind != kind {
			continue
		}
		if n[s.Offered] == 0 {
			xs = append(xs, s.Offered)
		}
		sum[s.Offered] += value(s)
		n[s.Offered]++
	}
	pts := make(plotter.XYs, 0, len(xs))
	for _, x := range xs {
		pts = append(pts, plotter.XY{X: x, Y: sum[x] / float64(n[x])})
	}
	return pts
}
