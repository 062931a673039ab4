package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRefusesRemoteTargets(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-base", "http://192.168.1.10:3000/dev", "-duration", "1s"},
		{"-base", "http://127.0.0.1:3000/dev", "-ddb-endpoint", "http://10.0.0.5:8000", "-duration", "1s"},
		{"-base", "http://127.0.0.1:3000/dev", "-capacity", "http://203.0.113.9/debug/capacity", "-duration", "1s"},
	} {
		var out, errOut bytes.Buffer
		code, err := run(context.Background(), args, &out, &errOut)
		if code != 2 || err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%v: code %d, err %v; want 2 and a loopback error", args, code, err)
		}
	}
}
