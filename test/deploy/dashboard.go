package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Widget is one metric widget of a CloudWatch dashboard, its metrics
// expanded: the "..." and "." shorthands of a row resolved against the row
// before it, the widget's stat applied to rows that name none.
type Widget struct {
	Title       string
	Metrics     []WidgetMetric
	Expressions []WidgetExpression
}

// WidgetMetric is one metric row of a widget.
type WidgetMetric struct {
	Namespace, Name string
	// Dimensions are name → value, values as the template writes them
	// (placeholders of the Fn::Sub as ${Name}).
	Dimensions map[string]string
	Stat       string
	ID         string
}

// WidgetExpression is one metric math row of a widget.
type WidgetExpression struct {
	ID, Expression, Label string
}

// ParseDashboard returns the metric widgets of a dashboard body (the JSON
// document of DashboardBody).
func ParseDashboard(body string) ([]Widget, error) {
	var doc struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Title   string  `json:"title"`
				Stat    string  `json:"stat"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return nil, err
	}
	if len(doc.Widgets) == 0 {
		return nil, fmt.Errorf("no widgets")
	}
	var out []Widget
	for i, w := range doc.Widgets {
		if w.Type != "metric" {
			continue
		}
		wd := Widget{Title: w.Properties.Title}
		var prev []string
		for j, row := range w.Properties.Metrics {
			var fields []string
			opts := map[string]any{}
			for _, f := range row {
				switch f := f.(type) {
				case string:
					fields = append(fields, f)
				case map[string]any:
					opts = f
				default:
					return nil, fmt.Errorf("widget %d row %d: field %v is neither a string nor options", i, j, f)
				}
			}
			if e, ok := opts["expression"].(string); ok && len(fields) == 0 {
				wd.Expressions = append(wd.Expressions, WidgetExpression{ID: str(opts["id"]), Expression: e, Label: str(opts["label"])})
				continue
			}
			fields = expandRow(fields, prev)
			prev = fields
			if len(fields) < 2 || len(fields)%2 != 0 {
				return nil, fmt.Errorf("widget %d row %d: %v is not namespace, name and dimension pairs", i, j, fields)
			}
			m := WidgetMetric{Namespace: fields[0], Name: fields[1], Dimensions: map[string]string{},
				Stat: str(opts["stat"]), ID: str(opts["id"])}
			if m.Stat == "" {
				m.Stat = w.Properties.Stat
			}
			for k := 2; k < len(fields); k += 2 {
				m.Dimensions[fields[k]] = fields[k+1]
			}
			wd.Metrics = append(wd.Metrics, m)
		}
		out = append(out, wd)
	}
	return out, nil
}

// expandRow resolves a metric row's shorthands against the previous row:
// a leading "..." stands for the previous row with its last fields replaced
// by the ones that follow; a "." repeats the previous row's field there.
func expandRow(fields, prev []string) []string {
	if len(fields) > 0 && fields[0] == "..." {
		rest := fields[1:]
		if len(rest) > len(prev) {
			return fields
		}
		return append(slices.Clone(prev[:len(prev)-len(rest)]), rest...)
	}
	out := slices.Clone(fields)
	for i, f := range out {
		if f == "." && i < len(prev) {
			out[i] = prev[i]
		}
	}
	return out
}

// Shows reports whether w has a metric named name in namespace ns whose
// dimensions include dims (values "*" match any) at stat ("" for any).
func (w Widget) Shows(ns, name, stat string, dims map[string]string) bool {
	return slices.ContainsFunc(w.Metrics, func(m WidgetMetric) bool {
		if m.Namespace != ns || m.Name != name || (stat != "" && m.Stat != stat) {
			return false
		}
		for k, v := range dims {
			if got, ok := m.Dimensions[k]; !ok || (v != "*" && got != v) {
				return false
			}
		}
		return true
	})
}

// DashboardPanel is one thing the dashboard must show (issue 14 item 3),
// satisfied by one widget.
type DashboardPanel struct {
	What string
	// Has reports whether a widget shows it; ns is the service's EMF
	// namespace, interval the heartbeat interval in seconds.
	Has func(w Widget, ns string, interval int) bool
}

// estimateExpr is the live-lease estimate: renewing heartbeats summed over
// the period, times the heartbeat interval, over the period in seconds.
var estimateExpr = regexp.MustCompile(`^\s*(\w+)\s*\*\s*(\d+)\s*/\s*PERIOD\(\s*(\w+)\s*\)\s*$`)

// DashboardPanels are the panels the dashboard must have.
var DashboardPanels = []DashboardPanel{
	{"grants", func(w Widget, ns string, _ int) bool { return w.Shows(ns, "StreamsGranted", "Sum", nil) }},
	{"refusals", func(w Widget, ns string, _ int) bool { return w.Shows(ns, "StreamsRefused", "Sum", nil) }},
	{"evictions", func(w Widget, ns string, _ int) bool { return w.Shows(ns, "StreamsEvicted", "Sum", nil) }},
	{"expiries vs ends (one widget)", func(w Widget, ns string, _ int) bool {
		return (w.Shows(ns, "HeartbeatsExpired", "Sum", nil) || w.Shows(ns, "LeasesExpired", "Sum", nil)) &&
			w.Shows(ns, "StreamsEnded", "Sum", nil)
	}},
	{"live-lease estimate (Heartbeats × interval / PERIOD, titled as an estimate)", func(w Widget, ns string, interval int) bool {
		if !strings.Contains(strings.ToLower(w.Title), "estimate") || !strings.Contains(w.Title, fmt.Sprintf("%d s", interval)) {
			return false
		}
		return slices.ContainsFunc(w.Expressions, func(e WidgetExpression) bool {
			m := estimateExpr.FindStringSubmatch(e.Expression)
			if m == nil || m[1] != m[3] || m[2] != fmt.Sprint(interval) {
				return false
			}
			return slices.ContainsFunc(w.Metrics, func(hb WidgetMetric) bool {
				return hb.ID == m[1] && hb.Namespace == ns && hb.Name == "Heartbeats" && hb.Stat == "Sum" &&
					len(hb.Dimensions) == 1 && hb.Dimensions["Stage"] != ""
			})
		})
	}},
	{"latency percentiles p50 and p99 of canStream", func(w Widget, ns string, _ int) bool {
		op := map[string]string{"Operation": "canStream"}
		return w.Shows(ns, "Latency", "p50", op) && w.Shows(ns, "Latency", "p99", op)
	}},
	{"latency percentiles p50 and p99 of heartbeat", func(w Widget, ns string, _ int) bool {
		op := map[string]string{"Operation": "heartbeat"}
		return w.Shows(ns, "Latency", "p50", op) && w.Shows(ns, "Latency", "p99", op)
	}},
	{"errors (StoreErrors, RequestsFailed, the front door's 5xx, Lambda Errors in one widget)", func(w Widget, ns string, _ int) bool {
		// The front door's 5xx: the HTTP API's, or the Function URL's (gateway=url).
		frontDoor5xx := w.Shows("AWS/ApiGateway", "5xx", "Sum", map[string]string{"ApiId": "${HttpApi}"}) ||
			w.Shows("AWS/Lambda", "Url5xxCount", "Sum", map[string]string{"FunctionName": "${ApiLambdaFunction}"})
		return w.Shows(ns, "StoreErrors", "Sum", nil) && w.Shows(ns, "RequestsFailed", "Sum", nil) && frontDoor5xx &&
			w.Shows("AWS/Lambda", "Errors", "Sum", map[string]string{"FunctionName": "*"})
	}},
}

// checkDashboard checks a dashboard's Fn::Sub body for every panel of
// DashboardPanels.
func (c *checker) checkDashboard(id, sub, ns string, interval int) {
	widgets, err := ParseDashboard(sub)
	if err != nil {
		c.addf("dashboard %s: DashboardBody is not a JSON document with widgets (%v)", id, err)
		return
	}
	for _, p := range DashboardPanels {
		if !slices.ContainsFunc(widgets, func(w Widget) bool { return p.Has(w, ns, interval) }) {
			c.addf("dashboard %s: no widget shows %s", id, p.What)
		}
	}
}
