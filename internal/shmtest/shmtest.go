// Package shmtest holds test helpers shared by npshm's test packages: unique
// segment names, and a TestMain that fails the run if a test left a segment
// behind.
//
// Test binaries of several packages may run at once (go test ./...), so a
// segment counts as this run's only when it can be attributed to it: its
// name has this process's test prefix, or its creator record (the xattr
// user.npshm.creator, or a temporary's name) is this process or a child it
// registered with Track. Nothing else is reported or touched.
package shmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/npshm/npshm/lifecycle"
)

var (
	counter atomic.Int64
	mu      sync.Mutex
	tracked = map[int]bool{os.Getpid(): true}
)

func prefix() string { return fmt.Sprintf("npshm_test_%d_", os.Getpid()) }

// Name returns a segment name unique to this test process and registers a
// cleanup that unlinks it if the test did not.
func Name(t testing.TB) string {
	t.Helper()
	n := prefix() + strconv.FormatInt(counter.Add(1), 10)
	t.Cleanup(func() { os.Remove(filepath.Join(Dir(), n)) })
	return n
}

// Track registers a child process whose segments belong to this test run.
func Track(pid int) {
	mu.Lock()
	tracked[pid] = true
	mu.Unlock()
}

// Dir is the segment directory the tests use (/dev/shm, where shm_open's
// objects are on Linux, with NPSHM_BACKEND=shm_open).
func Dir() string {
	if os.Getenv("NPSHM_BACKEND") == "shm_open" {
		return "/dev/shm"
	}
	if d := os.Getenv("NPSHM_DIR"); d != "" {
		return d
	}
	return "/dev/shm"
}

// Ours lists the segments in Dir() that belong to this test run.
func Ours() []string {
	entries, err := lifecycle.List() // creators come from the xattr or a temporary's name
	if err != nil {                  // the shm_open backend cannot list: on Linux its objects are in /dev/shm
		des, _ := os.ReadDir(Dir())
		entries = lifecycle.ListDir(Dir(), des)
	}
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name, prefix()) || tracked[e.Creator.PID] {
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Main runs the tests and then fails the run if segments that belong to it
// remain, listing and removing them.
func Main(m *testing.M) int {
	before := map[string]bool{}
	for _, n := range Ours() {
		before[n] = true
	}
	code := m.Run()
	var leaked []string
	for _, n := range Ours() {
		if !before[n] {
			leaked = append(leaked, n)
		}
	}
	if len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests left %d segment(s) in %s: %s\n", len(leaked), Dir(), strings.Join(leaked, " "))
		for _, n := range leaked {
			os.Remove(filepath.Join(Dir(), n))
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// ShmOpen reports whether the tests run with NPSHM_BACKEND=shm_open.
func ShmOpen() bool { return os.Getenv("NPSHM_BACKEND") == "shm_open" }

// NeedsDir skips t with NPSHM_BACKEND=shm_open: what it checks (ls, gc,
// lifecycle records, temporaries, NPSHM_DIR) exists with the dir backend
// only, as on macOS.
func NeedsDir(t testing.TB) {
	t.Helper()
	if ShmOpen() {
		t.Skip("needs the dir backend (listing, gc, lifecycle records): NPSHM_BACKEND=shm_open has none, as on macOS")
	}
}

// PrivateDir points NPSHM_DIR (for this test and the processes it starts)
// at a fresh directory on the same tmpfs as /dev/shm, so a test can run gc
// or count segments without touching anyone else's. At cleanup it fails the
// test if segments remain there, and removes the directory. With
// NPSHM_BACKEND=shm_open, which ignores NPSHM_DIR, it returns Dir().
func PrivateDir(t *testing.T) string {
	t.Helper()
	NeedsDir(t) // NPSHM_DIR means nothing to the shm_open backend
	if ShmOpen() {
		return Dir() // shm_open ignores NPSHM_DIR: the tests' unique names keep them apart
	}
	dir := filepath.Join("/dev/shm", prefix()+strconv.FormatInt(counter.Add(1), 10)+".d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("PrivateDir: %v", err)
	}
	t.Setenv("NPSHM_DIR", dir)
	t.Cleanup(func() {
		entries, _ := os.ReadDir(dir)
		var left []string
		for _, e := range entries {
			left = append(left, e.Name())
		}
		if len(left) > 0 {
			t.Errorf("segments left in %s: %v", dir, left)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Python is the interpreter cross-language tests run: $NPSHM_PYTHON, else
// the repo's .venv (found from the test's package directory, one level
// below the root). Without one the test skips, unless
// NPSHM_REQUIRE_PYTHON=1 (scripts/test sets it), when it fails.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("NPSHM_PYTHON")
	if py == "" {
		py, _ = filepath.Abs("../.venv/bin/python")
	}
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("NPSHM_REQUIRE_PYTHON") == "1" {
			t.Fatalf("no Python at %s (set NPSHM_PYTHON)", py)
		}
		t.Skipf("no Python at %s: run scripts/test, or set NPSHM_PYTHON", py)
	}
	return py
}
