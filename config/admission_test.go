package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/streamlimit/streamlimit/config"
)

func TestAdmissionDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Admission{On: true, AccountQueue: true, MaxWait: 1200 * time.Millisecond, Target: 300 * time.Millisecond,
		MinInFlight: 8, MaxInFlight: 256}
	if c.Admission != want {
		t.Fatalf("defaults: %+v; want %+v", c.Admission, want)
	}
	c, err = config.Load(envOf(map[string]string{
		"STORE_TIMEOUT_MS": "3000", "ADMISSION": "OFF", "ACCOUNT_QUEUE": "off", "ADMISSION_MAX_INFLIGHT": "8", "ADMISSION_MIN_INFLIGHT": "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want = config.Admission{MaxWait: 2400 * time.Millisecond, Target: 600 * time.Millisecond, MinInFlight: 2, MaxInFlight: 8}
	if c.Admission != want {
		t.Fatalf("set: %+v; want %+v", c.Admission, want)
	}
	// The wait's default leaves the target for the work, whatever it is.
	c, err = config.Load(envOf(map[string]string{"ADMISSION_TARGET_MS": "500"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admission.MaxWait != time.Second {
		t.Fatalf("max wait with a 500 ms target of 1500: %v; want 1s", c.Admission.MaxWait)
	}
}

func TestAdmissionConfigErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"switch":           {map[string]string{"ADMISSION": "maybe"}, "ADMISSION"},
		"queue switch":     {map[string]string{"ACCOUNT_QUEUE": "1"}, "ACCOUNT_QUEUE"},
		"wait past budget": {map[string]string{"ADMISSION_MAX_WAIT_MS": "1500"}, "ADMISSION_MAX_WAIT_MS"},
		"zero target":      {map[string]string{"ADMISSION_TARGET_MS": "0"}, "ADMISSION_TARGET_MS"},
		"min above max":    {map[string]string{"ADMISSION_MIN_INFLIGHT": "10", "ADMISSION_MAX_INFLIGHT": "5"}, "ADMISSION_MIN_INFLIGHT"},
	} {
		_, err := config.Load(envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming %s", name, err, tc.want)
		}
	}
}
