package deploy_test

import (
	"reflect"
	"testing"

	"github.com/streamlimit/streamlimit/test/deploy"
)

// TestParseDashboardShorthands: "..." repeats the previous row with its
// last fields replaced, "." repeats one field, the widget's stat applies
// where a row names none, and expressions are kept apart.
func TestParseDashboardShorthands(t *testing.T) {
	t.Parallel()
	body := `{"widgets": [
	  {"type": "text", "properties": {"markdown": "x"}},
	  {"type": "metric", "properties": {"title": "T", "stat": "Sum", "metrics": [
	    ["AWS/Lambda", "Errors", "FunctionName", "${Api}"],
	    ["...", "${Ws}"],
	    [".", "Throttles", ".", ".", {"stat": "Maximum", "id": "th"}],
	    ["...", {"stat": "p50"}],
	    [{"expression": "th * 2", "id": "e1", "label": "double"}]
	  ]}}
	]}`
	got, err := deploy.ParseDashboard(body)
	if err != nil {
		t.Fatal(err)
	}
	fn := func(name string) map[string]string { return map[string]string{"FunctionName": name} }
	want := []deploy.Widget{{
		Title: "T",
		Metrics: []deploy.WidgetMetric{
			{Namespace: "AWS/Lambda", Name: "Errors", Dimensions: fn("${Api}"), Stat: "Sum"},
			{Namespace: "AWS/Lambda", Name: "Errors", Dimensions: fn("${Ws}"), Stat: "Sum"},
			{Namespace: "AWS/Lambda", Name: "Throttles", Dimensions: fn("${Ws}"), Stat: "Maximum", ID: "th"},
			{Namespace: "AWS/Lambda", Name: "Throttles", Dimensions: fn("${Ws}"), Stat: "p50"},
		},
		Expressions: []deploy.WidgetExpression{{ID: "e1", Expression: "th * 2", Label: "double"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDashboard =\n%+v\nwant\n%+v", got, want)
	}
	for _, bad := range []string{`{"widgets": []}`, `{"widgets": [{"type": "metric", "properties": {"metrics": [["ns", "m", "dim"]]}}]}`, `[`} {
		if _, err := deploy.ParseDashboard(bad); err == nil {
			t.Errorf("ParseDashboard(%s): no error", bad)
		}
	}
}
