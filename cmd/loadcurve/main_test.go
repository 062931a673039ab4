package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestArguments(t *testing.T) {
	t.Parallel()
	if got, err := hotPairs("1x100, 4x25"); err != nil || len(got) != 2 || got[0] != [2]int{1, 100} || got[1] != [2]int{4, 25} {
		t.Fatalf("hotPairs: %v, %v", got, err)
	}
	if got, err := ints("40,80, 160"); err != nil || len(got) != 3 || got[2] != 160 {
		t.Fatalf("ints: %v, %v", got, err)
	}
	for _, args := range [][]string{
		{"-bursts", "40,x"},
		{"-hot", "4by25"},
		{"-hb-rates", "0"},
		{"-base", "http://192.0.2.1/dev"}, // not loopback
		{"plot"},                          // no report named
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: accepted", strings.Join(args, " "))
		}
	}
}
