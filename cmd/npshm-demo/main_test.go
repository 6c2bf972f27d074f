package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestCommandLine: --help prints the usage once and succeeds; a bad flag or
// a stray argument is a usage error, and nothing runs.
func TestCommandLine(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, []string{"--help"}); err != nil || strings.Count(out.String(), "Usage: npshm-demo") != 1 || !strings.Contains(out.String(), "-workers N") {
		t.Errorf("--help: %v\n%s", err, out.String())
	}
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--size", "x"}} {
		out.Reset()
		err := run(&out, args)
		if !errors.As(err, new(usageError)) || out.Len() != 0 {
			t.Errorf("%q: %v, output %q; want a usage error and no output", args, err, out.String())
		}
	}
}
