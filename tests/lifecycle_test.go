package tests

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
)

// TestHelperProcess is not a test: it is the Go producer that the lifecycle
// tests start as a separate process (and kill). NPSHM_HELPER says what to do.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("NPSHM_HELPER")
	if mode == "" {
		t.Skip("helper process only")
	}
	name := os.Getenv("NPSHM_HELPER_NAME")
	h := npy.Header{DType: npy.Float64, Shape: []int{1 << 20}}
	switch mode {
	case "publish-slow": // fill half, say so, then hang until killed
		bridge.Publish(name, h, func(a *bridge.Array) error {
			v, _ := bridge.View[float64](a)
			for i := range v[:len(v)/2] {
				v[i] = 2
			}
			fmt.Println("filling", a.Name())
			time.Sleep(time.Hour)
			return nil
		})
	case "create-hold": // an unpublished array, held until killed
		a, err := bridge.CreateArray("", h)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("created", a.Name())
		time.Sleep(time.Hour)
	case "create-exit": // an unpublished array, left behind by an exiting creator
		a, err := bridge.CreateArray("", h)
		if err != nil {
			os.Exit(1)
		}
		fmt.Println("created", a.Name())
	}
	os.Exit(0)
}

// helper starts the helper process and returns it and its first output line.
func helper(t *testing.T, mode, name string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "NPSHM_HELPER="+mode, "NPSHM_HELPER_NAME="+name)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	shmtest.Track(cmd.Process.Pid)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: %v", mode, err)
	}
	return cmd, strings.Fields(line)
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

func gcNames(t *testing.T) []string {
	t.Helper()
	removed, err := lifecycle.GC(false)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	var names []string
	for _, r := range removed {
		names = append(names, r.Name)
	}
	return names
}

func exists(name string) bool {
	_, err := os.Stat(filepath.Join(bridge.Dir(), name))
	return err == nil
}

// TestKillProducerMidFill: a producer republishing a name is SIGKILLed half
// way through; readers of the name only ever see the complete old array, and
// gc reclaims the unfinished temporary.
func TestKillProducerMidFill(t *testing.T) {
	shmtest.NeedsDir(t)
	shmtest.PrivateDir(t)
	name := shmtest.Name(t)
	old, err := bridge.Publish(name, npy.Header{DType: npy.Float64, Shape: []int{1 << 20}}, func(a *bridge.Array) error {
		v, _ := bridge.View[float64](a)
		for i := range v {
			v[i] = 1
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	old.Close()
	producer, line := helper(t, "publish-slow", name)
	if line[0] != "filling" || !strings.HasPrefix(line[1], ".npshm-tmp-") {
		t.Fatalf("helper said %v", line)
	}
	temp := line[1]
	want := "1048576.0" // Python's repr of the old array's sum
	if out := strings.TrimSpace(runPy(t, "attach", name)); out != want {
		t.Errorf("while the producer fills, a reader of %s sums %s, want %s", name, out, want)
	}
	if removed := gcNames(t); len(removed) != 0 {
		t.Errorf("gc removed %v while the producer runs", removed)
	}
	kill(t, producer)
	if out := strings.TrimSpace(runPy(t, "attach", name)); out != want {
		t.Errorf("after the kill a reader sums %s, want the old %s", out, want)
	}
	if removed := gcNames(t); len(removed) != 1 || removed[0] != temp {
		t.Errorf("gc removed %v, want the temporary %s", removed, temp)
	}
	if !exists(name) || exists(temp) {
		t.Errorf("after gc: %s exists=%v, %s exists=%v", name, exists(name), temp, exists(temp))
	}
	bridge.Unlink(name)
}

// TestKillProducerFirstPublish: with no previous array, a killed publish
// leaves no array under the name at all.
func TestKillProducerFirstPublish(t *testing.T) {
	shmtest.NeedsDir(t)
	shmtest.PrivateDir(t)
	name := shmtest.Name(t)
	producer, _ := helper(t, "publish-slow", name)
	kill(t, producer)
	if exists(name) {
		t.Fatalf("a killed first publish left %s", name)
	}
	if _, err := bridge.Get(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get: %v, want ErrNotExist", err)
	}
	if removed := gcNames(t); len(removed) != 1 {
		t.Fatalf("gc removed %v, want one temporary", removed)
	}
}

// TestKillConsumers: SIGKILLed Python consumers leave nothing behind: their
// holds vanish with them, gc keeps the segment while its creator runs and
// reclaims it once the creator is killed too.
func TestKillConsumers(t *testing.T) {
	shmtest.NeedsDir(t)
	shmtest.PrivateDir(t)
	creator, line := helper(t, "create-hold", "")
	name := line[1]
	t.Cleanup(func() { bridge.Unlink(name) })
	var consumers []*pyProc
	for i := 0; i < 2; i++ {
		p := startPy(t, "hold", name)
		if l := p.line(); !strings.HasPrefix(l, "attached") {
			t.Fatalf("consumer: %q", l)
		}
		consumers = append(consumers, p)
	}
	if n := holders(t, name); n != 3 {
		t.Errorf("%d holders, want 3 (creator and two consumers)", n)
	}
	for _, p := range consumers {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
	if n := holders(t, name); n != 1 {
		t.Errorf("%d holders after killing the consumers, want 1", n)
	}
	if removed := gcNames(t); len(removed) != 0 {
		t.Fatalf("gc removed %v while the creator runs", removed)
	}
	kill(t, creator)
	if removed := gcNames(t); len(removed) != 1 || removed[0] != name {
		t.Fatalf("gc removed %v, want %s", removed, name)
	}
}

func holders(t *testing.T, name string) int {
	t.Helper()
	entries, err := lifecycle.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, e := range entries {
		if e.Name == name {
			return len(e.Holders)
		}
	}
	t.Fatalf("%s not listed", name)
	return 0
}

// TestGCNeverRemovesInUse: the creator has exited without unlinking, but a
// Python process still holds the array: gc leaves it until that one exits.
func TestGCNeverRemovesInUse(t *testing.T) {
	shmtest.NeedsDir(t)
	shmtest.PrivateDir(t)
	creator, line := helper(t, "create-exit", "")
	name := line[1]
	t.Cleanup(func() { bridge.Unlink(name) })
	p := startPy(t, "hold", name)
	p.line()
	creator.Wait() // gone for sure (under -race a Go process lingers a second at exit)
	for i := 0; i < 3; i++ {
		if removed := gcNames(t); len(removed) != 0 {
			t.Fatalf("gc removed %v while a consumer holds it", removed)
		}
	}
	p.wait() // closes its stdin: it exits normally
	if removed := gcNames(t); len(removed) != 1 || removed[0] != name {
		t.Fatalf("gc removed %v, want %s", removed, name)
	}
}

// TestGCLeavesForeignAndPublished: gc never touches files npshm did not
// make (written by hand) or published arrays whose publisher exited; and on
// the real /dev/shm it would not touch a segment made by the stdlib's
// SharedMemory whose creator is gone (a dry run, so the test removes nothing
// of anyone else's).
func TestGCLeavesForeignAndPublished(t *testing.T) {
	shmtest.NeedsDir(t)
	stdlib := strings.TrimSpace(runPy(t, "foreign"))
	t.Cleanup(func() { bridge.Unlink(stdlib) })
	would, err := lifecycle.GC(true)
	if err != nil {
		t.Fatalf("GC dry run: %v", err)
	}
	for _, r := range would {
		if r.Name == stdlib {
			t.Fatalf("gc would remove %s, made by the stdlib", stdlib)
		}
	}
	bridge.Unlink(stdlib)

	dir := shmtest.PrivateDir(t)
	hdr, _ := npy.Header{DType: npy.Uint8, Shape: []int{3}}.Encode()
	os.WriteFile(filepath.Join(dir, "by_hand"), append(hdr, 1, 2, 3), 0o600)
	if out, err := exec.Command(cliPath(t), "put", "testdata/small.npy", "--name", "published").CombinedOutput(); err != nil {
		t.Fatalf("npshm put: %v\n%s", err, out)
	}
	if removed := gcNames(t); len(removed) != 0 {
		t.Fatalf("gc removed %v", removed)
	}
	for _, n := range []string{"by_hand", "published"} {
		if !exists(n) {
			t.Errorf("%s is gone", n)
		}
		os.Remove(filepath.Join(dir, n))
	}
}

// cliPath builds cmd/npshm once per test binary.
func cliPath(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		cliBin = filepath.Join(os.TempDir(), fmt.Sprintf("npshm-test-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", cliBin, "../cmd/npshm").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// TestKillProducerShmOpen: with the shm_open backend (macOS's: no rename,
// no gc), a publish fills the array under its name and writes the header's
// first byte last. Killed mid-fill, it leaves the array there, but Go and
// Python readers are refused (not an npy image), never handed the
// half-filled array; only an unlink removes it.
func TestKillProducerShmOpen(t *testing.T) {
	t.Setenv("NPSHM_BACKEND", "shm_open")
	name := shmtest.Name(t)
	producer, line := helper(t, "publish-slow", name)
	if len(line) != 2 || line[0] != "filling" || line[1] != name {
		t.Fatalf("helper said %v, want it filling %s itself", line, name)
	}
	for _, when := range []string{"while the producer fills", "after the kill"} {
		if when == "after the kill" {
			kill(t, producer)
		}
		if a, err := bridge.Get(name); !errors.Is(err, npy.ErrNotNpy) {
			if a != nil {
				a.Close()
			}
			t.Errorf("%s, Get: %v, want ErrNotNpy", when, err)
		}
		out, err := exec.Command(python(t), "-c", `import sys, npshm
try:
    npshm.attach(sys.argv[1])
except npshm.SegmentError as e:
    print("refused:", e)`, name).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "refused:") {
			t.Errorf("%s, Python's attach: %v\n%s", when, err, out)
		}
	}
	if err := bridge.Unlink(name); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
}
