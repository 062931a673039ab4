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
// size), overload-heartbeat.png (heartbeat goodput against offered rate)
// and overload-latency.png (heartbeat p50 and p99 against offered rate).
// It returns the files written.
func PlotCurves(reports []*CurveReport, dir string) ([]string, error) {
	var written []string
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
		f := filepath.Join(dir, "overload-burst.png")
		if err := p.Save(22*vg.Centimeter, 13*vg.Centimeter, f); err != nil {
			return nil, err
		}
		written = append(written, f)
	}
	hb := []panel{{"goodput (200/s)", func(s Step) float64 { return s.Goodput }, nil}}
	p, ok, err = linePlot(reports, "heartbeat", "heartbeats offered open-loop, 1 step per rate", "offered heartbeats per second", "answered 200 per second", hb)
	if err != nil {
		return nil, err
	}
	if ok {
		ref := plotter.NewFunction(func(x float64) float64 { return x })
		ref.Color, ref.Dashes = color.Gray{Y: 0x99}, []vg.Length{vg.Points(1), vg.Points(3)}
		p.Add(ref)
		p.Legend.Add("offered", ref)
		f := filepath.Join(dir, "overload-heartbeat.png")
		if err := p.Save(22*vg.Centimeter, 13*vg.Centimeter, f); err != nil {
			return nil, err
		}
		written = append(written, f)
	}
	lat := []panel{
		{"p50", func(s Step) float64 { return s.P50ms }, []vg.Length{vg.Points(2), vg.Points(2)}},
		{"p99", func(s Step) float64 { return s.P99ms }, nil},
	}
	p, ok, err = linePlot(reports, "heartbeat", "heartbeat latency (every answer, 503s included)", "offered heartbeats per second", "ms", lat)
	if err != nil {
		return nil, err
	}
	if ok {
		f := filepath.Join(dir, "overload-latency.png")
		if err := p.Save(22*vg.Centimeter, 13*vg.Centimeter, f); err != nil {
			return nil, err
		}
		written = append(written, f)
	}
	return written, nil
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
