package lease_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/streamlimit/streamlimit/lease"
)

// FuzzValidLeaseID checks that every accepted lease id is a canonical UUID
// (it round-trips through uuid.Parse unchanged) and so a safe sort key.
func FuzzValidLeaseID(f *testing.F) {
	for _, s := range []string{"0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a", "{0d9f1c8e-2b6a-4c1e-9a57-6f3b2d1e0c4a}", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !lease.ValidLeaseID(s) {
			return
		}
		u, err := uuid.Parse(s)
		if err != nil || u.String() != s {
			t.Fatalf("accepted %q, which is not canonical", s)
		}
	})
}

// FuzzValidUID checks that accepted uids are short, free of the
// characters the store's keys and URLs use as separators, and never only
// dots (a "." or ".." path segment).
func FuzzValidUID(f *testing.F) {
	for _, s := range []string{"alice", "a#b", "a/b", "user@example.com", "", ".", "..", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !lease.ValidUID(s) {
			return
		}
		if len(s) == 0 || len(s) > 128 {
			t.Fatalf("accepted length %d", len(s))
		}
		if strings.Trim(s, ".") == "" {
			t.Fatalf("accepted %q, only dots", s)
		}
		for _, c := range []byte(s) {
			if c == '#' || c == '/' || c == '?' || c == '%' || c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted %q with %q", s, c)
			}
		}
	})
}
