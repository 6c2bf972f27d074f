// Package shmtest holds test helpers shared by npshm's test packages: unique
// segment names, and a TestMain that fails the run if a test left a segment
// behind.
package shmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

var counter atomic.Int64

// Name returns a segment name unique to this test process and registers a
// cleanup that unlinks it if the test did not.
func Name(t testing.TB) string {
	t.Helper()
	n := fmt.Sprintf("npshm_test_%d_%d", os.Getpid(), counter.Add(1))
	t.Cleanup(func() { os.Remove(filepath.Join(dir(), n)) })
	return n
}

func dir() string {
	if d := os.Getenv("NPSHM_DIR"); d != "" {
		return d
	}
	return "/dev/shm"
}

func list(d string) map[string]bool {
	entries, _ := os.ReadDir(d)
	m := make(map[string]bool, len(entries))
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

// Main runs the tests and then fails the run if the segment directory holds
// files that were not there before, listing them and removing them. It
// assumes no other npshm test binary runs at the same time (scripts/test
// runs packages one at a time).
func Main(m *testing.M) int {
	d := dir()
	before := list(d)
	code := m.Run()
	var leaked []string
	for name := range list(d) {
		if !before[name] && (strings.HasPrefix(name, "psm_") || strings.HasPrefix(name, "npshm")) {
			leaked = append(leaked, name)
		}
	}
	if len(leaked) > 0 {
		sort.Strings(leaked)
		fmt.Fprintf(os.Stderr, "FAIL: tests left %d segment(s) in %s: %s\n", len(leaked), d, strings.Join(leaked, " "))
		for _, n := range leaked {
			os.Remove(filepath.Join(d, n))
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}
