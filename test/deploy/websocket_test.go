package deploy_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamlimit/streamlimit/test/deploy"
	"github.com/streamlimit/streamlimit/wsapi"
)

// TestPackagedWebSocket checks the WebSocket API of the template that
// scripts/sls-package.sh makes (required under SLS_PACKAGED=1).
func TestPackagedWebSocket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot, ".serverless", "cloudformation-template-update-stack.json")
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
	if problems := deploy.CheckWebSocket(b, wsapi.WebSocketRoutes()); len(problems) > 0 {
		t.Errorf("%s:\n%s", path, strings.Join(problems, "\n"))
	}
}

// wsTemplate is the WebSocket part of a packaged template, as Serverless
// v3 writes it.
const wsTemplate = `{"Resources": {
  "WebsocketsApi": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"}},
  "SconnectWebsocketsRoute": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"ApiId": {"Ref": "WebsocketsApi"}, "RouteKey": "$connect", "Target": "integrations/x"}},
  "SdisconnectWebsocketsRoute": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"ApiId": {"Ref": "WebsocketsApi"}, "RouteKey": "$disconnect", "Target": "integrations/x"}},
  "heartbeatWebsocketsRoute": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"ApiId": {"Ref": "WebsocketsApi"}, "RouteKey": "heartbeat", "Target": "integrations/x"}},
  "SdefaultWebsocketsRoute": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"ApiId": {"Ref": "WebsocketsApi"}, "RouteKey": "$default", "Target": "integrations/x"}},
  "WsLambdaFunction": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "provided.al2023", "Architectures": ["arm64"], "TracingConfig": {"Mode": "Active"}, "Environment": {"Variables": {"TABLE_NAME": "t"}}}},
  "WsConnectFailuresAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Metrics": [
    {"Id": "failedshare", "Expression": "IF(failed >= 5, 100 * failed / attempts, 0)", "ReturnData": true},
    {"Id": "failed", "Expression": "FILL(connectfailed, 0) + FILL(notinvoked, 0)", "ReturnData": false},
    {"Id": "attempts", "Expression": "FILL(connects, 0) + FILL(notinvoked, 0)", "ReturnData": false},
    {"Id": "connectfailed", "ReturnData": false, "MetricStat": {"Stat": "Sum", "Period": 60, "Metric": {"Namespace": "streamlimit", "MetricName": "RequestsFailed",
      "Dimensions": [{"Name": "Stage", "Value": "dev"}, {"Name": "Operation", "Value": "ws.connect"}]}}},
    {"Id": "connects", "ReturnData": false, "MetricStat": {"Stat": "SampleCount", "Period": 60, "Metric": {"Namespace": "streamlimit", "MetricName": "Latency",
      "Dimensions": [{"Name": "Stage", "Value": "dev"}, {"Name": "Operation", "Value": "ws.connect"}]}}},
    {"Id": "notinvoked", "ReturnData": false, "MetricStat": {"Stat": "Sum", "Period": 60, "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "ExecutionError",
      "Dimensions": [{"Name": "ApiId", "Value": {"Ref": "WebsocketsApi"}}, {"Name": "Stage", "Value": "dev"}]}}}
  ]}},
  "IamRoleLambdaExecution": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {"Statement": [
    {"Effect": "Allow", "Action": ["execute-api:ManageConnections"], "Resource": [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":", {"Ref": "WebsocketsApi"}, "/dev/POST/@connections/*"]]}]},
    {"Effect": "Allow", "Action": ["execute-api:ManageConnections"], "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:execute-api:*:*:*/@connections/*"}]}
  ]}}]}}
}}`

func TestCheckWebSocketDefects(t *testing.T) {
	t.Parallel()
	if p := deploy.CheckWebSocket([]byte(wsTemplate), wsapi.WebSocketRoutes()); len(p) > 0 {
		t.Fatalf("good template: %v", p)
	}
	tests := []struct {
		name   string
		mutate func(res map[string]any)
		want   string
	}{
		{"no heartbeat route", func(res map[string]any) { delete(res, "heartbeatWebsocketsRoute") }, "routes [$connect $default $disconnect]"},
		{"route selection", func(res map[string]any) {
			props(res, "WebsocketsApi")["RouteSelectionExpression"] = "$request.body.type"
		}, "RouteSelectionExpression"},
		{"no TABLE_NAME", func(res map[string]any) { props(res, "WsLambdaFunction")["Environment"] = map[string]any{} }, "TABLE_NAME"},
		{"x86", func(res map[string]any) { props(res, "WsLambdaFunction")["Architectures"] = []any{"x86_64"} }, "Architectures"},
		{"only the broad grant", func(res map[string]any) {
			doc := props(res, "IamRoleLambdaExecution")["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)
			doc["Statement"] = doc["Statement"].([]any)[1:]
		}, "ManageConnections"},
		{"no WebSocket API", func(res map[string]any) { delete(res, "WebsocketsApi") }, "0 WebSocket APIs"},
		{"no connect failures alarm", func(res map[string]any) { delete(res, "WsConnectFailuresAlarm") }, "alarms: none on WebSocket connect failures"},
		{"connect failures alarm without invocation failures", func(res map[string]any) {
			p := props(res, "WsConnectFailuresAlarm")
			p["Metrics"] = p["Metrics"].([]any)[:5]
		}, "alarms: none on WebSocket connect failures"},
		{"connect failures alarm on every operation's failures", func(res map[string]any) {
			m := props(res, "WsConnectFailuresAlarm")["Metrics"].([]any)[3].(map[string]any)
			metric := m["MetricStat"].(map[string]any)["Metric"].(map[string]any)
			metric["Dimensions"] = metric["Dimensions"].([]any)[:1]
		}, "alarms: none on WebSocket connect failures"},
		{"connect failures alarm on another API", func(res map[string]any) {
			m := props(res, "WsConnectFailuresAlarm")["Metrics"].([]any)[5].(map[string]any)
			metric := m["MetricStat"].(map[string]any)["Metric"].(map[string]any)
			metric["Dimensions"].([]any)[0] = map[string]any{"Name": "ApiId", "Value": map[string]any{"Ref": "HttpApi"}}
		}, "alarms: none on WebSocket connect failures"},
		{"connect attempts counted as a sum of latencies", func(res map[string]any) {
			m := props(res, "WsConnectFailuresAlarm")["Metrics"].([]any)[4].(map[string]any)
			m["MetricStat"].(map[string]any)["Stat"] = "Sum"
		}, "alarms: none on WebSocket connect failures"},
	}
	for _, tc := range tests {
		var tpl map[string]any
		if err := json.Unmarshal([]byte(wsTemplate), &tpl); err != nil {
			t.Fatal(err)
		}
		tc.mutate(tpl["Resources"].(map[string]any))
		b, _ := json.Marshal(tpl)
		problems := deploy.CheckWebSocket(b, wsapi.WebSocketRoutes())
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want one mentioning %q", tc.name, problems, tc.want)
		}
	}
}

func props(res map[string]any, id string) map[string]any {
	return res[id].(map[string]any)["Properties"].(map[string]any)
}
