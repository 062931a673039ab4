package deploy_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/handlers"
	"github.com/streamlimit/streamlimit/test/deploy"
)

// repoRoot is the module root, relative to this package's directory.
const repoRoot = "../.."

// TestHTTPRoutesServerlessYML: the HTTP API's routes, in serverless.yml and
// the default front door's file (sls/gateway-httpApi.yml, where the api
// function's events are).
func TestHTTPRoutesServerlessYML(t *testing.T) {
	t.Parallel()
	var got []deploy.Route
	for _, f := range []string{"serverless.yml", filepath.Join("sls", "gateway-httpApi.yml")} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		routes, err := deploy.HTTPRoutes(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got = append(got, routes...)
	}
	slices.SortFunc(got, func(a, b deploy.Route) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	// Exactly the Go router's routes, plus the catch-all that lets the
	// handler answer unknown routes and wrong methods with its JSON errors.
	want := []deploy.Route{{Method: "*", Path: "*"}}
	for _, r := range handlers.Routes() {
		want = append(want, deploy.Route{Method: r.Method, Path: r.Path})
	}
	slices.SortFunc(want, func(a, b deploy.Route) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	if !slices.Equal(got, want) {
		t.Errorf("HTTPRoutes(serverless.yml, sls/gateway-httpApi.yml) =\n%v\nwant\n%v", got, want)
	}
}

func TestHTTPRoutesForms(t *testing.T) {
	t.Parallel()
	yml := `
service: x
provider:
  stage: ${opt:stage, 'dev'}
functions:
  b:
    handler: bootstrap
    events:
      - httpApi:
          method: post
          path: /b/{id}
      - http: GET /rest-only
      - sqs: arn:aws:sqs:us-east-1:123456789012:q
  a:
    handler: bootstrap
    events:
      - httpApi: get /a
      - httpApi: '*'
`
	got, err := deploy.HTTPRoutes([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	want := []deploy.Route{{"*", "*"}, {"GET", "/a"}, {"POST", "/b/{id}"}}
	if !slices.Equal(got, want) {
		t.Errorf("HTTPRoutes = %v, want %v", got, want)
	}
}

func TestHTTPRoutesErrors(t *testing.T) {
	t.Parallel()
	for name, yml := range map[string]string{
		"not yaml":       "functions: [",
		"no path":        "functions:\n  a:\n    events:\n      - httpApi: GET\n",
		"missing method": "functions:\n  a:\n    events:\n      - httpApi:\n          path: /a\n",
		"list value":     "functions:\n  a:\n    events:\n      - httpApi: [GET, /a]\n",
	} {
		if got, err := deploy.HTTPRoutes([]byte(yml)); err == nil {
			t.Errorf("%s: HTTPRoutes = %v, want an error", name, got)
		}
	}
}

func TestCheckTemplateGood(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("testdata", "good-template.json"))
	if err != nil {
		t.Fatal(err)
	}
	if problems := deploy.CheckTemplate(b); len(problems) > 0 {
		t.Errorf("CheckTemplate(good-template.json) found problems:\n%s", strings.Join(problems, "\n"))
	}
}

// templateDefect is one defect of the good template and the problem that
// CheckTemplate must report for it.
type templateDefect struct {
	name   string
	mutate func(t testing.TB, tpl map[string]any)
	want   string // substring of one reported problem
}

// TestCheckTemplateDefects applies one defect at a time to the good template
// and expects a problem that names it.
func TestCheckTemplateDefects(t *testing.T) {
	t.Parallel()
	tests := []templateDefect{
		{
			name: "dynamodb wildcard action",
			mutate: func(t testing.TB, tpl map[string]any) {
				tableStatement(t, tpl)["Action"] = []any{"dynamodb:*"}
			},
			want: `wildcard action "dynamodb:*"`,
		},
		{
			name: "dynamodb prefix wildcard action",
			mutate: func(t testing.TB, tpl map[string]any) {
				st := tableStatement(t, tpl)
				st["Action"] = append(st["Action"].([]any), "dynamodb:Batch*")
			},
			want: `wildcard action "dynamodb:Batch*"`,
		},
		{
			name: "star action",
			mutate: func(t testing.TB, tpl map[string]any) {
				tableStatement(t, tpl)["Action"] = "*"
			},
			want: `action "*"`,
		},
		{
			name: "star resource",
			mutate: func(t testing.TB, tpl map[string]any) {
				tableStatement(t, tpl)["Resource"] = "*"
			},
			want: "DynamoDB actions on resource *",
		},
		{
			name: "another table's arn",
			mutate: func(t testing.TB, tpl map[string]any) {
				tableStatement(t, tpl)["Resource"] = []any{
					map[string]any{"Fn::GetAtt": []any{"ConcurrencyTable", "Arn"}},
					"arn:aws:dynamodb:us-east-1:123456789012:table/other",
				}
			},
			want: "table/other",
		},
		{
			name: "missing transaction action",
			mutate: func(t testing.TB, tpl map[string]any) {
				st := tableStatement(t, tpl)
				st["Action"] = slices.DeleteFunc(st["Action"].([]any), func(a any) bool {
					return a == "dynamodb:TransactWriteItems"
				})
			},
			want: "no statement allows dynamodb:TransactWriteItems",
		},
		{
			name: "missing TTL",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "ConcurrencyTable"), "TimeToLiveSpecification")
			},
			want: "TimeToLiveSpecification missing",
		},
		{
			name: "TTL on another attribute",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ConcurrencyTable")["TimeToLiveSpecification"] =
					map[string]any{"AttributeName": "ttl", "Enabled": true}
			},
			want: `TTL attribute is "ttl"`,
		},
		{
			name: "TTL disabled",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ConcurrencyTable")["TimeToLiveSpecification"] =
					map[string]any{"AttributeName": "expiresAt", "Enabled": false}
			},
			want: "TTL is not enabled",
		},
		{
			name: "provisioned billing",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ConcurrencyTable")["BillingMode"] = "PROVISIONED"
			},
			want: `BillingMode is "PROVISIONED"`,
		},
		{
			name: "no PITR",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "ConcurrencyTable"), "PointInTimeRecoverySpecification")
			},
			want: "point-in-time recovery",
		},
		{
			name: "hash key only",
			mutate: func(t testing.TB, tpl map[string]any) {
				p := properties(t, tpl, "ConcurrencyTable")
				p["KeySchema"] = p["KeySchema"].([]any)[:1]
			},
			want: "KeySchema is [uid HASH]",
		},
		{
			name: "numeric sort key",
			mutate: func(t testing.TB, tpl map[string]any) {
				p := properties(t, tpl, "ConcurrencyTable")
				p["AttributeDefinitions"].([]any)[1] = map[string]any{"AttributeName": "sk", "AttributeType": "N"}
			},
			want: `sk has type "N"`,
		},
		{
			name: "old runtime",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ApiLambdaFunction")["Runtime"] = "provided.al2"
			},
			want: `Runtime is "provided.al2"`,
		},
		{
			name: "x86",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ApiLambdaFunction")["Architectures"] = []any{"x86_64"}
			},
			want: "Architectures is [x86_64]",
		},
		{
			name: "no tracing",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "ApiLambdaFunction"), "TracingConfig")
			},
			want: `TracingConfig Mode is ""`,
		},
		{
			name: "table deleted with the stack",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(resourceOf(t, tpl, "ConcurrencyTable"), "DeletionPolicy")
			},
			want: `table ConcurrencyTable: DeletionPolicy is ""`,
		},
		{
			name: "table deleted on replacement",
			mutate: func(t testing.TB, tpl map[string]any) {
				resourceOf(t, tpl, "ConcurrencyTable")["UpdateReplacePolicy"] = "Delete"
			},
			want: `UpdateReplacePolicy is "Delete"`,
		},
		{
			name: "TABLE_NAME a literal name",
			mutate: func(t testing.TB, tpl map[string]any) {
				envOf(t, tpl, "ApiLambdaFunction")["TABLE_NAME"] = "uid_concurrency_count"
			},
			want: "TABLE_NAME is uid_concurrency_count, want a Ref to the table",
		},
		{
			name: "no TABLE_NAME",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(envOf(t, tpl, "ApiLambdaFunction"), "TABLE_NAME")
			},
			want: "function ApiLambdaFunction: no TABLE_NAME",
		},
		{
			name: "text log format",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "ApiLambdaFunction"), "LoggingConfig")
			},
			want: `LoggingConfig LogFormat is "", want JSON`,
		},
		{
			name: "platform lines kept",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ApiLambdaFunction")["LoggingConfig"].(map[string]any)["SystemLogLevel"] = "INFO"
			},
			want: `SystemLogLevel is "INFO", want WARN`,
		},
		{
			name: "no application log level",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "ApiLambdaFunction")["LoggingConfig"].(map[string]any), "ApplicationLogLevel")
			},
			want: `ApplicationLogLevel is ""`,
		},
		{
			name: "logs kept forever",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "ApiLogGroup"), "RetentionInDays")
			},
			want: "log group ApiLogGroup: no RetentionInDays",
		},
		{
			name: "retention CloudWatch refuses",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ApiLogGroup")["RetentionInDays"] = 42
			},
			want: "RetentionInDays 42 is not one",
		},
		{
			name: "function without its log group",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl["Resources"].(map[string]any), "ApiLogGroup")
			},
			want: "no AWS::Logs::LogGroup /aws/lambda/streamlimit-dev-api",
		},
		{
			name: "no table name output",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl, "Outputs")
			},
			want: "Outputs: none gives the table's name",
		},
		{
			name: "no 5xx alarm",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl["Resources"].(map[string]any), "Http5xxRateAlarm")
			},
			want: "alarms: none on HTTP API 5xx rate",
		},
		{
			name: "store errors alarm in another namespace",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "StoreErrorsAlarm")["Namespace"] = "other"
			},
			want: "alarms: none on store errors",
		},
		{
			name: "alarms not on the configured namespace",
			mutate: func(t testing.TB, tpl map[string]any) {
				envOf(t, tpl, "ApiLambdaFunction")["METRICS_NAMESPACE"] = "custom"
			},
			want: "alarms: none on store errors: custom StoreErrors",
		},
		{
			name: "no degraded grants alarm",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl["Resources"].(map[string]any), "StreamsDegradedAlarm")
			},
			want: "alarms: none on degraded (fail-open) grants",
		},
		{
			name: "heartbeat latency alarm on p90",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "LatencyHeartbeatP99Alarm")["ExtendedStatistic"] = "p90"
			},
			want: "alarms: none on p99 latency of heartbeat",
		},
		{
			name: "canStream latency alarm without its operation",
			mutate: func(t testing.TB, tpl map[string]any) {
				p := properties(t, tpl, "LatencyCanStreamP99Alarm")
				p["Dimensions"] = p["Dimensions"].([]any)[:1]
			},
			want: "alarms: none on p99 latency of canStream",
		},
		{
			name: "errors alarm on another function",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "ApiErrorsAlarm")["Dimensions"] = []any{map[string]any{"Name": "FunctionName", "Value": "other"}}
			},
			want: "alarms: none on Lambda Errors of ApiLambdaFunction",
		},
		{
			name: "no throttles alarm",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl["Resources"].(map[string]any), "ApiThrottlesAlarm")
			},
			want: "alarms: none on Lambda Throttles of ApiLambdaFunction",
		},
		{
			name: "table throttles alarm on another table",
			mutate: func(t testing.TB, tpl map[string]any) {
				m := properties(t, tpl, "TableThrottlesAlarm")["Metrics"].([]any)[1].(map[string]any)
				m["MetricStat"].(map[string]any)["Metric"].(map[string]any)["Dimensions"].([]any)[0] =
					map[string]any{"Name": "TableName", "Value": "uid_concurrency_count"}
			},
			want: "alarms: none on DynamoDB throttled requests (GetItem)",
		},
		{
			name: "table throttles alarm without an operation",
			mutate: func(t testing.TB, tpl map[string]any) {
				p := properties(t, tpl, "TableThrottlesAlarm")
				p["Metrics"] = slices.Delete(p["Metrics"].([]any), 6, 7)
			},
			want: "alarms: none on DynamoDB throttled requests (TransactWriteItems)",
		},
		{
			name: "alarm actions not optional",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "StoreErrorsAlarm")["AlarmActions"] = []any{"arn:aws:sns:us-east-1:123456789012:ops"}
			},
			want: "alarm StoreErrorsAlarm: AlarmActions is",
		},
		{
			name: "alarm topic condition missing",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl, "Conditions")
			},
			want: `condition "HasAlarmTopic" is not in the template's Conditions`,
		},
		{
			name: "no dashboard",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl["Resources"].(map[string]any), "Dashboard")
			},
			want: "no AWS::CloudWatch::Dashboard",
		},
		{
			name: "dashboard expiries and ends in different widgets",
			mutate: func(t testing.TB, tpl map[string]any) {
				replaceInDashboard(t, tpl, `"StreamsEnded"`, `"Other"`)
				replaceInDashboard(t, tpl, `"StreamsDegraded"`, `"StreamsEnded"`)
			},
			want: "dashboard Dashboard: no widget shows expiries vs ends",
		},
		{
			name: "live-lease estimate with another heartbeat interval",
			mutate: func(t testing.TB, tpl map[string]any) {
				envOf(t, tpl, "ApiLambdaFunction")["HEARTBEAT_INTERVAL_SECONDS"] = "15"
			},
			want: "dashboard Dashboard: no widget shows live-lease estimate",
		},
		{
			name: "no heartbeat interval",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(envOf(t, tpl, "ApiLambdaFunction"), "HEARTBEAT_INTERVAL_SECONDS")
			},
			want: "function ApiLambdaFunction: HEARTBEAT_INTERVAL_SECONDS is <nil>",
		},
		{
			name: "dashboard body not JSON",
			mutate: func(t testing.TB, tpl map[string]any) {
				body := properties(t, tpl, "Dashboard")["DashboardBody"].(map[string]any)
				body["Fn::Sub"] = body["Fn::Sub"].(string) + "}"
			},
			want: "dashboard Dashboard: DashboardBody is not a JSON document",
		},
		{
			name: "HTTP API not throttled",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(properties(t, tpl, "HttpApiStage"), "DefaultRouteSettings")
			},
			want: "HttpApiStage: DefaultRouteSettings ThrottlingBurstLimit is <nil>",
		},
		{
			name: "HTTP API rate limit zero",
			mutate: func(t testing.TB, tpl map[string]any) {
				properties(t, tpl, "HttpApiStage")["DefaultRouteSettings"].(map[string]any)["ThrottlingRateLimit"] = 0
			},
			want: "HttpApiStage: DefaultRouteSettings ThrottlingRateLimit is 0",
		},
		{
			name: "no api function",
			mutate: func(t testing.TB, tpl map[string]any) {
				delete(tpl["Resources"].(map[string]any), "ApiLambdaFunction")
			},
			want: "no AWS::Lambda::Function ApiLambdaFunction",
		},
	}
	// One replacement in the dashboard body: a panel goes missing.
	for _, d := range []struct{ name, old, new, panel string }{
		{"dashboard without evictions", `"StreamsEvicted"`, `"Other"`, "evictions"},
		{"dashboard grants at p99", `"StreamsGranted", "Stage", "dev"]`, `"StreamsGranted", "Stage", "dev", {"stat": "p99"}]`, "grants"},
		{"dashboard expiries without ends", `"StreamsEnded"`, `"Other"`, "expiries vs ends"},
		{"live-lease estimate not titled an estimate", `"Live leases, estimated from`, `"Live leases, from`, "live-lease estimate"},
		{"live-lease estimate per minute whatever the period", `heartbeats * 30 / PERIOD(heartbeats)`, `heartbeats * 30 / 60`, "live-lease estimate"},
		{"live-lease estimate from heartbeats of one operation", `"Heartbeats", "Stage", "dev",`, `"Heartbeats", "Stage", "dev", "Operation", "heartbeat",`, "live-lease estimate"},
		{"latency without the median", `"canStream", {"stat": "p50"}]`, `"canStream", {"stat": "p90"}]`, "latency percentiles p50 and p99 of canStream"},
		{"errors without failed requests", `["streamlimit", "RequestsFailed", "Stage", "dev"],`, ``, "errors"},
	} {
		tests = append(tests, templateDefect{d.name, func(t testing.TB, tpl map[string]any) {
			replaceInDashboard(t, tpl, d.old, d.new)
		}, "dashboard Dashboard: no widget shows " + d.panel})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tpl := goodTemplate(t)
			tc.mutate(t, tpl)
			problems := deploy.CheckTemplate(marshal(t, tpl))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("CheckTemplate found %d problems, none containing %q:\n%s",
					len(problems), tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}

// TestCheckTemplateTableReferences lists the ways of naming the table (and
// its indexes) that CheckTemplate accepts.
func TestCheckTemplateTableReferences(t *testing.T) {
	t.Parallel()
	for name, res := range map[string]any{
		"GetAtt short form": map[string]any{"Fn::GetAtt": "ConcurrencyTable.Arn"},
		"Sub Arn":           map[string]any{"Fn::Sub": "${ConcurrencyTable.Arn}"},
		"Sub Arn indexes":   map[string]any{"Fn::Sub": "${ConcurrencyTable.Arn}/index/*"},
		"Sub built ARN":     map[string]any{"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${ConcurrencyTable}"},
		"Join GetAtt indexes": map[string]any{"Fn::Join": []any{"", []any{
			map[string]any{"Fn::GetAtt": []any{"ConcurrencyTable", "Arn"}}, "/index/*",
		}}},
		"Join built ARN": map[string]any{"Fn::Join": []any{":", []any{
			"arn", "aws", "dynamodb", map[string]any{"Ref": "AWS::Region"},
			map[string]any{"Ref": "AWS::AccountId"}, map[string]any{"Fn::Sub": "table/${ConcurrencyTable}"},
		}}},
	} {
		tpl := goodTemplate(t)
		st := tableStatement(t, tpl)
		st["Resource"] = []any{st["Resource"].([]any)[0], res}
		if problems := deploy.CheckTemplate(marshal(t, tpl)); len(problems) > 0 {
			t.Errorf("%s: CheckTemplate found problems:\n%s", name, strings.Join(problems, "\n"))
		}
	}
}

func TestCheckTemplateNotJSON(t *testing.T) {
	t.Parallel()
	if problems := deploy.CheckTemplate([]byte("Resources: {}")); len(problems) != 1 {
		t.Errorf("CheckTemplate(YAML) = %q, want one problem", problems)
	}
}

// TestPackagedTemplate checks the template that scripts/sls-package.sh makes.
// Without it the test is skipped, unless SLS_PACKAGED=1 says it must exist.
func TestPackagedTemplate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json")
	b := readPackaged(t, path)
	if problems := deploy.CheckTemplate(b); len(problems) > 0 {
		t.Errorf("%s:\n%s", path, strings.Join(problems, "\n"))
	}
	// The defaults: one table per stage, logs kept 30 days.
	tpl := decode(t, b)
	stage, _ := envOf(t, tpl, "ApiLambdaFunction")["STAGE"].(string)
	if stage == "" {
		t.Fatalf("%s: ApiLambdaFunction has no STAGE", path)
	}
	if got, want := properties(t, tpl, "ConcurrencyTable")["TableName"], "streamlimit-"+stage; got != want {
		t.Errorf("%s: table name %v, want %q (one table per stage)", path, got, want)
	}
	checkRetention(t, path, tpl, 30)
	// No alarm topic (alarms notify nobody), no reserved concurrency, the
	// default throttles.
	checkOperations(t, path, tpl, "", 500, 1000, "")
	// Observability that costs cents: no tracing of Lambda's own (its
	// fixed 5 % cannot be lowered), one success in a hundred logged.
	checkObservability(t, path, tpl, "PassThrough", "0.01")
}

// checkObservability checks both functions' X-Ray tracing mode and log
// sample (params tracing and logSampleRate).
func checkObservability(t *testing.T, path string, tpl map[string]any, mode, sample string) {
	t.Helper()
	for _, fn := range []string{"ApiLambdaFunction", "WsLambdaFunction"} {
		tc, _ := properties(t, tpl, fn)["TracingConfig"].(map[string]any)
		if tc["Mode"] != mode {
			t.Errorf("%s: %s TracingConfig %v, want Mode %s", path, fn, tc, mode)
		}
		if got := envOf(t, tpl, fn)["LOG_SAMPLE_RATE"]; got != sample {
			t.Errorf("%s: %s LOG_SAMPLE_RATE %v, want %s", path, fn, got, sample)
		}
	}
}

// The parameters scripts/sls-package.sh passes to its second, parameterised
// `serverless package` run (keep both in step).
const (
	paramsStage         = "prod"
	paramsTableName     = "uid_concurrency_count" // the seed's table
	paramsRetentionDays = 14
	paramsAlarmTopic    = "arn:aws:sns:us-east-1:123456789012:streamlimit-alarms"
	paramsBurst         = 50
	paramsRate          = 100
	paramsTracing       = "Active"
	paramsLogSample     = "0.1"
	paramsReserved      = "20"
)

// TestPackagedTemplateParams checks the template that scripts/sls-package.sh
// makes with --stage prod --param="tableName=uid_concurrency_count"
// --param="logRetentionDays=14": the seed's table stays reachable, and the
// functions and IAM follow it (CheckTemplate: Ref and GetAtt to the table).
func TestPackagedTemplateParams(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, ".serverless", "with-params", "cloudformation-template-update-stack.json")
	b := readPackaged(t, path)
	if problems := deploy.CheckTemplate(b); len(problems) > 0 {
		t.Errorf("%s:\n%s", path, strings.Join(problems, "\n"))
	}
	tpl := decode(t, b)
	if got := envOf(t, tpl, "ApiLambdaFunction")["STAGE"]; got != paramsStage {
		t.Errorf("%s: STAGE is %v, want %q", path, got, paramsStage)
	}
	if got := properties(t, tpl, "ConcurrencyTable")["TableName"]; got != paramsTableName {
		t.Errorf("%s: table name %v, want %q (the tableName parameter)", path, got, paramsTableName)
	}
	checkRetention(t, path, tpl, paramsRetentionDays)
	checkOperations(t, path, tpl, paramsAlarmTopic, paramsBurst, paramsRate, paramsReserved)
	checkObservability(t, path, tpl, paramsTracing, paramsLogSample)
}

// checkOperations checks what the alarm, throttle and reserved-concurrency
// parameters made of the template: every alarm notifies topic when it is set
// and nobody when it is empty; the HTTP API's stage has these throttles; the
// api function reserves reserved concurrent executions ("" for none); the ws
// function has its Errors and Throttles alarms too.
func checkOperations(t *testing.T, path string, tpl map[string]any, topic string, burst, rate float64, reserved string) {
	t.Helper()
	alarms := 0
	for id, r := range tpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms++
		for _, key := range []string{"AlarmActions", "OKActions"} {
			got := resolveIf(t, tpl, r["Properties"].(map[string]any)[key])
			want := any(nil)
			if topic != "" {
				want = []any{topic}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: alarm %s %s is %v, want %v", path, id, key, got, want)
			}
		}
	}
	if alarms == 0 {
		t.Errorf("%s: no alarms", path)
	}
	for _, id := range []string{"ApiErrorsAlarm", "ApiThrottlesAlarm", "WsErrorsAlarm", "WsThrottlesAlarm"} {
		if _, ok := tpl["Resources"].(map[string]any)[id]; !ok {
			t.Errorf("%s: no alarm %s", path, id)
		}
	}
	settings, _ := properties(t, tpl, "HttpApiStage")["DefaultRouteSettings"].(map[string]any)
	for key, want := range map[string]float64{"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate} {
		if got := fmt.Sprint(settings[key]); got != fmt.Sprint(want) {
			t.Errorf("%s: HttpApiStage %s is %s, want %v", path, key, got, want)
		}
	}
	got := resolveIf(t, tpl, properties(t, tpl, "ApiLambdaFunction")["ReservedConcurrentExecutions"])
	if (reserved == "" && got != nil) || (reserved != "" && fmt.Sprint(got) != reserved) {
		t.Errorf("%s: ApiLambdaFunction ReservedConcurrentExecutions is %v, want %q", path, got, reserved)
	}
}

// resolveIf evaluates a value as CloudFormation would deploy the template
// with its parameters' defaults (Serverless params are resolved when
// packaging): Fn::If on conditions made of Fn::Not and Fn::Equals, Ref to a
// parameter, in lists too. Ref AWS::NoValue, like an absent value, is nil.
func resolveIf(t *testing.T, tpl map[string]any, v any) any {
	t.Helper()
	if l, ok := v.([]any); ok {
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = resolveIf(t, tpl, e)
		}
		return out
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if ref, ok := m["Ref"].(string); ok {
		if ref == "AWS::NoValue" {
			return nil
		}
		if p, ok := tpl["Parameters"].(map[string]any)[ref].(map[string]any); ok {
			return p["Default"]
		}
		return v
	}
	args, ok := m["Fn::If"].([]any)
	if !ok || len(args) != 3 {
		return v
	}
	name, _ := args[0].(string)
	conditions, _ := tpl["Conditions"].(map[string]any)
	if evalCondition(t, tpl, conditions[name]) {
		return resolveIf(t, tpl, args[1])
	}
	return resolveIf(t, tpl, args[2])
}

func evalCondition(t *testing.T, tpl map[string]any, c any) bool {
	t.Helper()
	m, _ := c.(map[string]any)
	if not, ok := m["Fn::Not"].([]any); ok && len(not) == 1 {
		return !evalCondition(t, tpl, not[0])
	}
	if eq, ok := m["Fn::Equals"].([]any); ok && len(eq) == 2 {
		return fmt.Sprint(resolveIf(t, tpl, eq[0])) == fmt.Sprint(resolveIf(t, tpl, eq[1]))
	}
	t.Fatalf("cannot evaluate condition %v", c)
	return false
}

// checkRetention checks that the api and ws functions' log groups, and every
// other log group, keep logs days days.
func checkRetention(t *testing.T, path string, tpl map[string]any, days float64) {
	t.Helper()
	for _, id := range []string{"ApiLogGroup", "WsLogGroup"} {
		if _, ok := tpl["Resources"].(map[string]any)[id]; !ok {
			t.Errorf("%s: no log group %s", path, id)
		}
	}
	for id, r := range tpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] != "AWS::Logs::LogGroup" {
			continue
		}
		if got := r["Properties"].(map[string]any)["RetentionInDays"]; got != days {
			t.Errorf("%s: log group %s RetentionInDays is %v, want %v", path, id, got, days)
		}
	}
}

// readPackaged reads a template made by scripts/sls-package.sh; without it
// the test is skipped, unless SLS_PACKAGED=1 says it must exist.
func readPackaged(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv("SLS_PACKAGED") == "1" {
			t.Fatalf("SLS_PACKAGED=1 but %s does not exist: run scripts/sls-package.sh", path)
		}
		t.Skipf("%s does not exist: run scripts/sls-package.sh (set SLS_PACKAGED=1 to require it)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goodTemplate returns a fresh decoded copy of testdata/good-template.json.
func goodTemplate(tb testing.TB) map[string]any {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "good-template.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return decode(tb, b)
}

func decode(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		tb.Fatal(err)
	}
	return tpl
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// resourceOf returns the resource id of tpl.
func resourceOf(tb testing.TB, tpl map[string]any, id string) map[string]any {
	tb.Helper()
	r, ok := tpl["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		tb.Fatalf("template has no resource %s", id)
	}
	return r
}

// properties returns the Properties of a resource of tpl.
func properties(tb testing.TB, tpl map[string]any, id string) map[string]any {
	tb.Helper()
	return resourceOf(tb, tpl, id)["Properties"].(map[string]any)
}

// envOf returns the environment variables of a function of tpl.
func envOf(tb testing.TB, tpl map[string]any, id string) map[string]any {
	tb.Helper()
	env, ok := properties(tb, tpl, id)["Environment"].(map[string]any)
	if !ok {
		tb.Fatalf("function %s has no Environment", id)
	}
	return env["Variables"].(map[string]any)
}

// replaceInDashboard replaces old (which must be there) by new in the good
// template's dashboard body.
func replaceInDashboard(tb testing.TB, tpl map[string]any, old, new string) {
	tb.Helper()
	body := properties(tb, tpl, "Dashboard")["DashboardBody"].(map[string]any)
	sub := body["Fn::Sub"].(string)
	if !strings.Contains(sub, old) {
		tb.Fatalf("the good dashboard has no %s", old)
	}
	body["Fn::Sub"] = strings.ReplaceAll(sub, old, new)
}

// tableStatement returns the IAM statement of the good template that grants
// the DynamoDB actions.
func tableStatement(tb testing.TB, tpl map[string]any) map[string]any {
	tb.Helper()
	policies := properties(tb, tpl, "IamRoleLambdaExecution")["Policies"].([]any)
	doc := policies[0].(map[string]any)["PolicyDocument"].(map[string]any)
	for _, s := range doc["Statement"].([]any) {
		st := s.(map[string]any)
		if actions, ok := st["Action"].([]any); ok && slices.Contains(actions, any("dynamodb:Query")) {
			return st
		}
	}
	tb.Fatal("good template has no DynamoDB statement")
	return nil
}
