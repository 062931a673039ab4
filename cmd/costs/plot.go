package main

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/internal/cost"
)

// series is one line of the plot: dollars per million stream-hours at a
// heartbeat interval.
type series struct {
	name   string
	color  string
	dashed bool
	at     func(time.Duration) float64
}

// plot draws cost against heartbeat interval as an SVG: through the
// measured intervals when there are several runs (a marker at each), or
// from 15 to 120 s modelled from a single run.
func (t tables) plot() string {
	lines := []series{
		{"Lambda behind HTTP API", "#c0392b", false, func(iv time.Duration) float64 {
			return t.lambda(cost.HTTPAPI, iv, t.memory, t.trace).Total
		}},
		{"Lambda behind Function URL", "#2471a3", false, func(iv time.Duration) float64 {
			return t.lambda(cost.FunctionURL, iv, t.memory, t.trace).Total
		}},
		{"Function URL with tracing=Active", "#2471a3", true, func(iv time.Duration) float64 {
			return t.lambda(cost.FunctionURL, iv, t.memory, cost.ActiveTraceRate).Total
		}},
		{"container fleet, 1,000 streams", "#1e8449", false, func(iv time.Duration) float64 {
			return t.container(iv, 1_000).Total
		}},
		{"container fleet, 1,000,000 streams", "#7d3c98", false, func(iv time.Duration) float64 {
			return t.container(iv, 1_000_000).Total
		}},
	}
	var xs []float64
	if len(t.runs) > 1 {
		for _, iv := range t.intervals() {
			xs = append(xs, iv.Seconds())
		}
	} else {
		for x := 15.0; x <= 120; x++ {
			xs = append(xs, x)
		}
	}
	const (
		w, h                     = 760, 440
		left, right, top, bottom = 70, 20, 30, 150
	)
	x0, x1 := xs[0], xs[len(xs)-1]
	var ymax float64
	for _, s := range lines {
		for _, x := range xs {
			ymax = math.Max(ymax, s.at(time.Duration(x)*time.Second))
		}
	}
	step := niceStep(ymax / 6)
	ymax = math.Ceil(ymax/step) * step
	px := func(x float64) float64 { return left + (x-x0)/(x1-x0)*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - y/ymax*(h-top-bottom) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">streamlimit: dollars per million stream-hours against heartbeat interval (cmd/costs)</text>`+"\n", left)
	for y := 0.0; y <= ymax+step/2; y += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">$%.0f</text>`+"\n",
			left, py(y), w-right, py(y), left-6, py(y)+4, y)
	}
	for x := 15.0 * math.Ceil(x0/15); x <= x1; x += 15 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%.0f s</text>`+"\n",
			px(x), top, px(x), h-bottom, px(x), h-bottom+16, x)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">heartbeat interval</text>`+"\n", px((x0+x1)/2), h-bottom+34)
	for i, s := range lines {
		var pts []string
		for _, x := range xs {
			y := py(s.at(time.Duration(x) * time.Second))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x), y))
			if len(t.runs) > 1 {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(x), y, s.color)
			}
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", s.color, dash, strings.Join(pts, " "))
		ly := h - bottom + 56 + 17*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d">%s: $%.0f at 30 s</text>`+"\n",
			left, ly-4, left+30, ly-4, s.color, dash, left+38, ly, html.EscapeString(s.name), s.at(30*time.Second))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep rounds a grid step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= raw {
			return f * p
		}
	}
	return 10 * p
}
