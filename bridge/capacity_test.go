//go:build linux

package bridge_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory, points
// NPSHM_DIR at it and unmounts it at cleanup. It skips when not root.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
	t.Setenv("NPSHM_DIR", dir)
	return dir
}

// memoryTotal is MemTotal + SwapTotal in bytes: more than any process can
// allocate.
func memoryTotal(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	var total int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "MemTotal:" || f[0] == "SwapTotal:") {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}

// creates are the ways to make a segment, each asked for an array of n
// float64s under a fresh name (the returned cleanup closes and removes it).
var creates = []struct {
	name   string
	create func(t *testing.T, n int) (func(), error)
}{
	{"CreateArray", func(t *testing.T, n int) (func(), error) {
		a, err := bridge.CreateArray(shmtest.Name(t), f64(n))
		return closer(a), err
	}},
	{"CreateSegment", func(t *testing.T, n int) (func(), error) {
		s, err := bridge.CreateSegment(shmtest.Name(t), int64(n)*8)
		if err != nil {
			return nil, err
		}
		return func() { s.Close(); s.Unlink() }, nil
	}},
	{"CreateArrayWriter", func(t *testing.T, n int) (func(), error) {
		w, err := bridge.CreateArrayWriter(shmtest.Name(t), f64(n))
		if err != nil {
			return nil, err
		}
		return w.Discard, nil
	}},
	{"Publish", func(t *testing.T, n int) (func(), error) {
		a, err := bridge.Publish(shmtest.Name(t), f64(n), nil)
		return closer(a), err
	}},
	{"Put", func(t *testing.T, n int) (func(), error) {
		hdr, _ := f64(n).Encode()
		a, err := bridge.Put(shmtest.Name(t), io.MultiReader(bytes.NewReader(hdr), io.LimitReader(zeros{}, int64(n)*8)))
		return closer(a), err
	}},
	{"CreateAnonymous", func(t *testing.T, n int) (func(), error) {
		a, err := bridge.CreateAnonymous(f64(n))
		return closer(a), err
	}},
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func f64(n int) npy.Header { return npy.Header{DType: npy.Float64, Shape: []int{n}} }

func closer(a *bridge.Array) func() {
	if a == nil {
		return nil
	}
	return func() { a.Close(); a.Unlink() }
}

// mustNoSpace checks err is ErrNoSpace, says what was asked, names the
// given fixes, and that dir is empty.
func mustNoSpace(t *testing.T, what string, err error, dir string, fixes ...string) {
	t.Helper()
	if !errors.Is(err, bridge.ErrNoSpace) {
		t.Fatalf("%s: %v, want ErrNoSpace", what, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "asked") {
		t.Errorf("%s: message %q should be one line saying what was asked", what, msg)
	}
	for _, fix := range fixes {
		if !strings.Contains(msg, fix) {
			t.Errorf("%s: message %q does not name %q", what, msg, fix)
		}
	}
	if dir != "" {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: a failed create left %d file(s) in %s", what, len(entries), dir)
		}
	}
}

// TestCreateBeyondMemory: a request larger than the memory the machine has
// (8 TiB here; /dev/shm is often as large as RAM, so the old code populated
// it until the OOM killer struck) fails at create, before any page is
// allocated, with ErrNoSpace naming the fix, and leaves nothing behind.
func TestCreateBeyondMemory(t *testing.T) {
	dir := shmtest.PrivateDir(t)
	for _, c := range creates {
		t.Run(c.name, func(t *testing.T) {
			done, err := c.create(t, 1<<40)
			if err == nil {
				done()
			}
			mustNoSpace(t, c.name+" of 8 TiB", err, dir)
		})
	}
}

// TestSmallTmpfs: on a 64 MiB tmpfs as NPSHM_DIR (a container's default
// /dev/shm is 64 MB) segments that fit are made; one that does not fails at
// create with ErrNoSpace naming --shm-size, Kubernetes' emptyDir and
// NPSHM_DIR, and nothing is left behind.
func TestSmallTmpfs(t *testing.T) {
	shmtest.NeedsDir(t)
	dir := mountTmpfs(t, 64<<20)
	fixes := []string{"--shm-size", "emptyDir", "medium: Memory", "NPSHM_DIR"}
	for _, c := range creates {
		t.Run(c.name, func(t *testing.T) {
			done, err := c.create(t, 2<<20) // 16 MiB
			if err != nil {
				t.Fatalf("%s of 16 MiB on a 64 MiB tmpfs: %v", c.name, err)
			}
			done()
			if c.name == "CreateAnonymous" {
				return // a memfd is not in NPSHM_DIR
			}
			done, err = c.create(t, 10<<20) // 80 MiB
			if err == nil {
				done()
			}
			mustNoSpace(t, c.name+" of 80 MiB on a 64 MiB tmpfs", err, dir, fixes...)
		})
	}

	// What is in use counts: 40 MiB held leaves no room for 40 MiB more.
	held, err := bridge.CreateArray(shmtest.Name(t), f64(5<<20))
	if err != nil {
		t.Fatalf("CreateArray of 40 MiB: %v", err)
	}
	_, err = bridge.CreateArray(shmtest.Name(t), f64(5<<20))
	mustNoSpace(t, "a second CreateArray of 40 MiB", err, "", fixes...)
	held.Close()
	held.Unlink()

	// A writer's segment fills as it is written: one that outgrows the
	// filesystem (another took the room meanwhile) fails in Write, with the fix.
	w, err := bridge.CreateArrayWriter(shmtest.Name(t), f64(5<<20))
	if err != nil {
		t.Fatalf("CreateArrayWriter of 40 MiB: %v", err)
	}
	other, err := bridge.CreateArray(shmtest.Name(t), f64(5<<20))
	if err != nil {
		t.Fatalf("CreateArray of 40 MiB beside a sparse writer: %v", err)
	}
	err = w.Write(make([]byte, 40<<20), 0)
	mustNoSpace(t, "ArrayWriter.Write past a full tmpfs", err, "", fixes...)
	w.Discard()
	other.Close()
	other.Unlink()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d file(s) left in %s", len(entries), dir)
	}
}

// TestTmpfsLargerThanMemory: on a tmpfs larger than the machine's memory,
// its free space does not stop a request larger than memory; fits does,
// at create, before anything is allocated (the old code populated until
// the OOM killer struck), naming what memory there is.
func TestTmpfsLargerThanMemory(t *testing.T) {
	shmtest.NeedsDir(t)
	total := memoryTotal(t)
	dir := mountTmpfs(t, 2*total+(64<<20))
	n := int(2 * total / 8)
	for _, c := range creates {
		t.Run(c.name, func(t *testing.T) {
			done, err := c.create(t, n)
			if err == nil {
				done()
			}
			mustNoSpace(t, fmt.Sprintf("%s of %d bytes", c.name, 2*total), err, dir, "of memory", "--memory")
		})
	}
}

// TestCgroupHelper is not a test: TestCgroupLimit runs it inside a memory
// cgroup. It moves itself into NPSHM_CGROUP and asks for NPSHM_CGROUP_ASK
// bytes, printing the error.
func TestCgroupHelper(t *testing.T) {
	cg := os.Getenv("NPSHM_CGROUP")
	if cg == "" {
		t.Skip("helper process only")
	}
	if err := os.WriteFile(cg+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		fmt.Println("join cgroup:", err)
		os.Exit(1)
	}
	n, _ := strconv.Atoi(os.Getenv("NPSHM_CGROUP_ASK"))
	a, err := bridge.CreateArray("", f64(n/8))
	if err == nil {
		a.Close()
		a.Unlink()
	}
	fmt.Println(err)
	os.Exit(0)
}

// TestCgroupLimit: in a container with a memory limit, a segment larger than
// the room under the limit fails at create naming the limit (populating it
// would have the cgroup's OOM killer kill the process), although /dev/shm
// and the machine have room. Needs root and a memory cgroup (v1 or v2).
func TestCgroupLimit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a cgroup needs root")
	}
	var parent, limitFile string
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(string(b), "memory") {
		parent, limitFile = "/sys/fs/cgroup", "memory.max"
	} else if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		parent, limitFile = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
	} else {
		t.Skip("no memory cgroup controller to make a child of")
	}
	cg := fmt.Sprintf("%s/npshm_test_%d", parent, os.Getpid())
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(cg) })
	if err := os.WriteFile(cg+"/"+limitFile, []byte("67108864"), 0); err != nil {
		t.Skipf("cannot set a memory limit: %v", err)
	}
	dir := shmtest.PrivateDir(t)
	for _, c := range []struct {
		ask     int64
		wantErr bool
	}{{8 << 20, false}, {128 << 20, true}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCgroupHelper$")
		cmd.Env = append(os.Environ(), "NPSHM_CGROUP="+cg, fmt.Sprintf("NPSHM_CGROUP_ASK=%d", c.ask))
		out, err := cmd.CombinedOutput()
		msg := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			t.Fatalf("helper: %v\n%s", err, out)
		case !c.wantErr && msg != "<nil>":
			t.Errorf("CreateArray of %d MiB under a 64 MiB limit: %s", c.ask>>20, msg)
		case c.wantErr && !(strings.Contains(msg, "no space for segment") && strings.Contains(msg, "the cgroup memory limit") && strings.Contains(msg, "--memory")):
			t.Errorf("CreateArray of %d MiB under a 64 MiB limit: %q, want the limit named", c.ask>>20, msg)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d file(s) left in %s", len(entries), dir)
	}
}

// TestPutNamesItsName: a Put that cannot fit says which name it was asked
// for, not only the temporary it fills first.
func TestPutNamesItsName(t *testing.T) {
	shmtest.PrivateDir(t)
	name := shmtest.Name(t)
	hdr, _ := f64(1 << 40).Encode()
	_, err := bridge.Put(name, bytes.NewReader(hdr))
	if !errors.Is(err, bridge.ErrNoSpace) || !strings.Contains(err.Error(), fmt.Sprintf("put %q", name)) {
		t.Fatalf("Put of 8 TiB: %v, want ErrNoSpace naming %q", err, name)
	}
}
