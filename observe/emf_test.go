package observe_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/internal/testenv/observetest"
	"github.com/streamlimit/streamlimit/observe"
)

var (
	ts      = time.UnixMilli(1_790_000_000_123)
	dims    = []observe.Dimension{{Name: "Stage", Value: "dev"}, {Name: "Operation", Value: "canStream"}}
	dimSets = [][]string{{"Stage", "Operation"}, {"Stage"}}
)

func TestEncodeEMFIsValid(t *testing.T) {
	t.Parallel()
	data := []observe.Datum{
		{Name: "StreamsGranted", Value: 1, Unit: observe.UnitCount},
		{Name: "Latency", Value: 3.25, Unit: observe.UnitMilliseconds},
	}
	doc, err := observe.EncodeEMF("streamlimit", ts, dims, dimSets, data, map[string]any{"request_id": "r-1"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := observetest.ParseEMF(doc)
	if err != nil {
		t.Fatalf("%s\n%v", doc, err)
	}
	if !e.Timestamp.Equal(ts) || e.Namespace != "streamlimit" {
		t.Errorf("timestamp %v namespace %q", e.Timestamp, e.Namespace)
	}
	if len(e.Dimensions) != 2 || strings.Join(e.Dimensions[0], ",") != "Stage,Operation" || strings.Join(e.Dimensions[1], ",") != "Stage" {
		t.Errorf("dimensions %v", e.Dimensions)
	}
	if e.Metrics["StreamsGranted"] != "Count" || e.Metrics["Latency"] != "Milliseconds" || len(e.Metrics) != 2 {
		t.Errorf("metrics %v", e.Metrics)
	}
	if v, _ := e.Value("Latency"); v != 3.25 {
		t.Errorf("Latency = %v", v)
	}
	if e.Root["Operation"] != "canStream" || e.Root["request_id"] != "r-1" {
		t.Errorf("root %v", e.Root)
	}
}

// A distribution is written as values with counts, which the validator
// reads back.
func TestEncodeEMFDistribution(t *testing.T) {
	t.Parallel()
	data := []observe.Datum{{Name: "Latency", Unit: observe.UnitMilliseconds, Values: []float64{4.2, 13}, Counts: []float64{7, 1}}}
	doc, err := observe.EncodeEMF("streamlimit", ts, dims, dimSets, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `"Latency":{"Values":[4.2,13],"Counts":[7,1]}`) {
		t.Errorf("document %s", doc)
	}
	e, err := observetest.ParseEMF(doc)
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	if v, c, ok := e.Distribution("Latency"); !ok || len(v) != 2 || v[0] != 4.2 || c[0] != 7 || c[1] != 1 {
		t.Errorf("read back %v × %v", v, c)
	}
}

func TestEncodeEMFRejectsWhatCloudWatchWouldDrop(t *testing.T) {
	t.Parallel()
	ok := []observe.Datum{{Name: "X", Value: 1, Unit: observe.UnitCount}}
	many := make([]observe.Datum, 101)
	for i := range many {
		many[i] = observe.Datum{Name: "M" + strings.Repeat("x", i), Value: 1}
	}
	cases := map[string]func() ([]byte, error){
		"empty namespace": func() ([]byte, error) { return observe.EncodeEMF("", ts, dims, dimSets, ok, nil) },
		"no metrics":      func() ([]byte, error) { return observe.EncodeEMF("n", ts, dims, dimSets, nil, nil) },
		"101 metrics":     func() ([]byte, error) { return observe.EncodeEMF("n", ts, dims, dimSets, many, nil) },
		"NaN": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, dimSets, []observe.Datum{{Name: "X", Value: math.NaN()}}, nil)
		},
		"metric named like a dimension": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, dimSets, []observe.Datum{{Name: "Stage", Value: 1}}, nil)
		},
		"property named like a metric": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, dimSets, ok, map[string]any{"X": 2})
		},
		"reserved _aws": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, dimSets, ok, map[string]any{"_aws": 2})
		},
		"set names a missing dimension": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, [][]string{{"Stage", "Region"}}, ok, nil)
		},
		"empty dimension value": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, []observe.Dimension{{Name: "Stage"}}, nil, ok, nil)
		},
		"values without counts": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, dimSets, []observe.Datum{{Name: "L", Values: []float64{1, 2}, Counts: []float64{1}}}, nil)
		},
		"a value counted 0 times": func() ([]byte, error) {
			return observe.EncodeEMF("n", ts, dims, dimSets, []observe.Datum{{Name: "L", Values: []float64{1}, Counts: []float64{0}}}, nil)
		},
		"101 values": func() ([]byte, error) {
			v := make([]float64, 101)
			c := make([]float64, 101)
			for i := range v {
				v[i], c[i] = float64(i), 1
			}
			return observe.EncodeEMF("n", ts, dims, dimSets, []observe.Datum{{Name: "L", Values: v, Counts: c}}, nil)
		},
	}
	for name, f := range cases {
		if doc, err := f(); err == nil {
			t.Errorf("%s: encoded %s", name, doc)
		}
	}
}

// The validator the other tests rely on must reject broken documents.
func TestParseEMFRejectsInvalidDocuments(t *testing.T) {
	t.Parallel()
	valid := `{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Stage"]],"Metrics":[{"Name":"X","Unit":"Count"}]}]},"Stage":"dev","X":1}`
	if _, err := observetest.ParseEMF([]byte(valid)); err != nil {
		t.Fatalf("valid document rejected: %v", err)
	}
	bad := map[string]string{
		"no _aws":                     `{"Stage":"dev","X":1}`,
		"timestamp in seconds":        strings.Replace(valid, "1790000000123", `"2026-01-01"`, 1),
		"fractional timestamp":        strings.Replace(valid, "1790000000123", "1790000000.5", 1),
		"no directives":               `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"X":1}`,
		"no namespace":                strings.Replace(valid, `"Namespace":"n",`, "", 1),
		"unknown unit":                strings.Replace(valid, `"Unit":"Count"`, `"Unit":"Streams"`, 1),
		"metric value missing":        strings.Replace(valid, `,"X":1}`, `}`, 1),
		"metric value string":         strings.Replace(valid, `"X":1}`, `"X":"1"}`, 1),
		"dimension missing":           strings.Replace(valid, `"Stage":"dev",`, "", 1),
		"dimension not string":        strings.Replace(valid, `"Stage":"dev"`, `"Stage":7`, 1),
		"no metrics":                  strings.Replace(valid, `[{"Name":"X","Unit":"Count"}]`, `[]`, 1),
		"two documents":               valid + valid,
		"distribution without counts": strings.Replace(valid, `"X":1}`, `"X":{"Values":[1,2]}}`, 1),
		"counts not matching":         strings.Replace(valid, `"X":1}`, `"X":{"Values":[1,2],"Counts":[3]}}`, 1),
		"zero count":                  strings.Replace(valid, `"X":1}`, `"X":{"Values":[1],"Counts":[0]}}`, 1),
		"distribution extra member":   strings.Replace(valid, `"X":1}`, `"X":{"Values":[1],"Counts":[1],"Max":1}}`, 1),
	}
	if _, err := observetest.ParseEMF([]byte(strings.Replace(valid, `"X":1}`, `"X":{"Values":[1,2.5],"Counts":[3,1]}}`, 1))); err != nil {
		t.Errorf("valid distribution rejected: %v", err)
	}
	for name, doc := range bad {
		if _, err := observetest.ParseEMF([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
}
