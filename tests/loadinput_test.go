package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/loader"
)

// TestLoadPipes: a FIFO and standard input (whose size stat says is 0)
// load in full, across many chunks, equal to np.loadtxt on the same text.
// (Sized by stat, a pipe loaded as shape [0].)
func TestLoadPipes(t *testing.T) {
	shmtest.PrivateDir(t)
	r := rand.New(rand.NewPCG(5, 8))
	text := genomic(r, 300_000) // about 12 MB: a few chunks
	dir := t.TempDir()
	same := filepath.Join(dir, "same.txt") // for numpy
	if err := os.WriteFile(same, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for s := text; len(s) > 0; s = s[min(len(s), 1<<16):] { // a writer's pieces
			f.WriteString(s[:min(len(s), 1<<16)])
		}
	}()
	seed, _ := loader.ParseSpec(seedSpec)
	arrays, err := loader.Load([]string{fifo}, loader.Options{DType: seed, Comments: "#"})
	if err != nil {
		t.Fatalf("Load of a FIFO: %v", err)
	}
	fromFIFO := arrays[0]
	defer func() { fromFIFO.Unlink(); fromFIFO.Close() }()

	// The CLI, from standard input, as in `printf ... | npshm load - ...`.
	small := "1 2\n3 4\n"
	var descriptors []string
	for _, in := range []struct{ text, dtype, name string }{{small, "f8", "p"}, {text, seedSpec, "q"}} {
		cmd := exec.Command(cliPath(t), "load", "/dev/stdin", "--dtype", in.dtype, "--name", in.name)
		cmd.Stdin = strings.NewReader(in.text)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npshm load /dev/stdin: %v\n%s", err, out)
		}
		defer bridge.Unlink(in.name)
		descriptors = append(descriptors, strings.TrimSpace(string(out)))
	}
	if !strings.Contains(descriptors[0], `"shape":[2,2]`) {
		t.Fatalf("printf '1 2\\n3 4\\n' | npshm load /dev/stdin: %s, want shape [2,2]", descriptors[0])
	}
	smallFile := filepath.Join(dir, "small.txt")
	os.WriteFile(smallFile, []byte(small), 0o644)

	p := startPy(t, "loadtxt")
	for _, c := range []struct {
		name, path, descriptor string
		kwargs                 map[string]any
	}{
		{"FIFO", same, fromFIFO.Descriptor().String(), map[string]any{"dtype": seedJSON}},
		{"stdin, small", smallFile, descriptors[0], map[string]any{"dtype": "f8"}},
		{"stdin, multi-chunk", same, descriptors[1], map[string]any{"dtype": seedJSON}},
	} {
		line, _ := json.Marshal(map[string]any{"case": c.name, "paths": []string{c.path}, "kwargs": c.kwargs,
			"descriptor": json.RawMessage(c.descriptor)})
		p.send(string(line))
		var v struct {
			Dtype, Bytes bool
			Shape        [2][]int
			SameAsNpSave bool `json:"same_as_np_save"`
		}
		if err := json.Unmarshal([]byte(p.line()), &v); err != nil {
			t.Fatalf("%s: verdict: %v", c.name, err)
		}
		if !v.Dtype || !v.Bytes || fmt.Sprint(v.Shape[0]) != fmt.Sprint(v.Shape[1]) || !v.SameAsNpSave {
			t.Errorf("%s: dtype ok=%v, shape npshm %v numpy %v, bytes ok=%v, segment = np.save's file: %v", c.name, v.Dtype, v.Shape[0], v.Shape[1], v.Bytes, v.SameAsNpSave)
		}
	}
	p.wait()
}

// TestLoadFileChangedUnderCLI: `npshm load big.txt &` then truncating or
// shrinking big.txt while it runs. Mapped, that was a SIGBUS and a Go stack
// dump; now it is exit 1 with one line naming the file, and nothing in the
// segment directory. (Whether the change lands mid-load is up to the
// scheduler; the loader's own TestInputChanged makes it land every time.)
func TestLoadFileChangedUnderCLI(t *testing.T) {
	shmtest.NeedsDir(t) // counts the segments in a directory of its own
	dir := shmtest.PrivateDir(t)
	text := []byte(strings.Repeat("chr1 123456 12.5 7 8\n", 2_000_000)) // 42 MB
	midLoad := 0
	for round, size := range []int64{0, int64(len(text) / 2), 0} {
		path := filepath.Join(t.TempDir(), "big.txt")
		if err := os.WriteFile(path, text, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cliPath(t), "load", path, "--dtype", "chr:S10,pos:i4,pct:f4,c:i4,t:i4", "--name", fmt.Sprintf("big%d", round))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		opened := waitOpened(cmd.Process.Pid, path)
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled() || strings.Contains(stderr.String(), "goroutine") || strings.Contains(stderr.String(), "SIGBUS"):
			t.Fatalf("round %d: npshm load crashed when its input was truncated to %d bytes: %v\n%s", round, size, err, stderr.String())
		case err == nil:
			t.Logf("round %d: the load finished before the truncation (the process had the file open: %v)", round, opened)
			bridge.Unlink(fmt.Sprintf("big%d", round))
			continue
		}
		midLoad++
		msg := strings.TrimSpace(stderr.String())
		if ws.ExitStatus() != 1 || strings.Count(msg, "\n") > 0 || !strings.Contains(msg, path) || !strings.Contains(msg, "changed while loading") {
			t.Errorf("round %d: exit %d, stderr %q; want exit 1 and one line naming %s and the change", round, ws.ExitStatus(), msg, path)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("round %d: a failed load left %d segment(s)", round, len(entries))
		}
	}
	t.Logf("%d of 3 truncations landed mid-load", midLoad)
}

// waitOpened waits (up to 5 s) until process pid has path open or mapped.
func waitOpened(pid int, path string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		if maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); bytes.Contains(maps, []byte(path)) {
			return true
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if target, _ := os.Readlink(fd); target == path {
				return true
			}
		}
	}
	return false
}

// gzMembers writes a .gz file of count copies of one gzip member holding
// text, then one member holding tail: a small file that decompresses to
// count*len(text) bytes (a gzip bomb, as far as memory goes).
func gzMembers(t *testing.T, text string, count int, tail string) string {
	t.Helper()
	member := func(s string) []byte {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	m := member(text)
	out := bytes.Repeat(m, count)
	out = append(out, member(tail)...)
	path := filepath.Join(t.TempDir(), "bomb.txt.gz")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// peakRSS runs the CLI and returns its exit error, stderr and its peak
// resident memory in MiB: the largest VmHWM read from /proc/PID/status
// while it runs. (getrusage's ru_maxrss would not do: Go starts a child
// with vfork, and exec records the parent's high-water mark as the
// child's.)
func peakRSS(t *testing.T, args ...string) (error, string, int64) {
	t.Helper()
	cmd := exec.Command(cliPath(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	for {
		select {
		case err := <-done:
			return err, stderr.String(), peak >> 10
		case <-time.After(time.Millisecond):
			b, _ := os.ReadFile(status)
			if _, v, ok := strings.Cut(string(b), "VmHWM:"); ok {
				var kb int64
				fmt.Sscan(v, &kb)
				peak = max(peak, kb)
			}
		}
	}
}

// TestLoadBoundedMemory: memory is bounded by the chunks in flight, not by
// the input. A .gz of 384 MiB of comment lines (np.loadtxt: about 27 MB)
// and a .gz of one 320 MiB line (over the 64 MiB line limit: an error
// naming file:line) stay under 128 and 240 MiB of peak RSS (the line limit's buffer as it grew, garbage included). Read
// whole, as before, they took over 384 and 320 MiB (and more).
func TestLoadBoundedMemory(t *testing.T) {
	shmtest.PrivateDir(t)
	comments := strings.Repeat("# "+strings.Repeat("x", 77)+"\n", 8<<20/80) // 8 MiB of comment lines
	bomb := gzMembers(t, comments, 48, "1 2\n3 4\n")
	err, stderr, rss := peakRSS(t, "load", bomb, "--dtype", "f8", "--name", "bomb")
	if err != nil {
		t.Fatalf("npshm load of 384 MiB of comments: %v\n%s", err, stderr)
	}
	defer bridge.Unlink("bomb")
	a, err := bridge.OpenArray("bomb", bridge.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if fmt.Sprint(a.Shape()) != "[2 2]" {
		t.Errorf("shape %v, want [2 2]", a.Shape())
	}
	t.Logf("384 MiB of comment lines (.gz): peak RSS %d MiB", rss)
	if rss > 128 {
		t.Errorf("npshm load of a .gz of 384 MiB of comment lines: peak RSS %d MiB, want under 128", rss)
	}

	long := gzMembers(t, strings.Repeat("x", 8<<20), 40, "\n1 2\n") // one line of 320 MiB
	err, stderr, rss = peakRSS(t, "load", long, "--dtype", "S10", "--name", "long")
	if err == nil {
		bridge.Unlink("long")
		t.Fatalf("npshm load of a 320 MiB line succeeded, want the line limit's error")
	}
	if want := long + ":1: line too long: over 67108864 bytes"; !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("stderr %q, want one line with %q", stderr, want)
	}
	t.Logf("one 320 MiB line (.gz): peak RSS %d MiB", rss)
	if rss > 240 {
		t.Errorf("npshm load of a 320 MiB line: peak RSS %d MiB, want under 240", rss)
	}
}
