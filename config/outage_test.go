package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
)

func TestOutagePolicyConfig(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (config.Config, error) {
		return config.Load(func(k string) string { return env[k] })
	}
	for _, c := range []struct {
		env  map[string]string
		want time.Duration
	}{
		{map[string]string{}, 0},
		{map[string]string{"FAIL_OPEN": "false", "FAIL_OPEN_SECONDS": "30"}, 0},
		{map[string]string{"FAIL_OPEN": "true"}, 60 * time.Second},
		{map[string]string{"FAIL_OPEN": "TRUE", "FAIL_OPEN_SECONDS": "15"}, 15 * time.Second},
	} {
		cfg, err := load(c.env)
		if err != nil || cfg.FailOpen != c.want {
			t.Errorf("%v: FailOpen %v, %v; want %v", c.env, cfg.FailOpen, err, c.want)
		}
	}
	for _, env := range []map[string]string{
		{"FAIL_OPEN": "sometimes"},
		{"FAIL_OPEN": "true", "FAIL_OPEN_SECONDS": "0"},
		{"FAIL_OPEN_SECONDS": "3601"},
		{"FAIL_OPEN_SECONDS": "-5"},
	} {
		if _, err := load(env); err == nil || !strings.Contains(err.Error(), "FAIL_OPEN") {
			t.Errorf("%v: err %v, want one naming FAIL_OPEN", env, err)
		}
	}
}
