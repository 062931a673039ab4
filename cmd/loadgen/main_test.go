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

// TestHelp: -h and --help describe the tool with examples on stdout and
// exit 0, without starting a run.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out, errOut bytes.Buffer
		code, err := run(t.Context(), []string{arg}, &out, &errOut)
		if code != 0 || err != nil {
			t.Errorf("%s: exit %d, err %v; want 0", arg, code, err)
		}
		for _, want := range []string{
			"simulates video players", "usage: loadgen [flags]", "examples:",
			"go run ./cmd/loadgen -players 50 -duration 30s", "-duration duration",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: stdout lacks %q:\n%s", arg, want, out.String())
			}
		}
		if errOut.Len() != 0 {
			t.Errorf("%s: stderr %q, want nothing", arg, errOut.String())
		}
	}
}

// TestUsageErrors: a bad command line exits 2 with the error and a pointer
// to -h on stderr, and starts no run.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-duration", "soon"}, `invalid value "soon" for flag -duration`},
		// Port 9 (discard) and a second: should the argument be ignored,
		// the run is short and loads nothing.
		{[]string{"-base", "http://127.0.0.1:9/dev", "-duration", "1s", "-skip-final", "30s"}, `unexpected argument "30s"`},
	} {
		var out, errOut bytes.Buffer
		code, err := run(t.Context(), tc.args, &out, &errOut)
		if err != nil {
			errOut.WriteString(err.Error())
		}
		if code != 2 || !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "loadgen -h") {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q and a pointer to loadgen -h", tc.args, code, errOut.String(), tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q, want nothing", tc.args, out.String())
		}
	}
}
