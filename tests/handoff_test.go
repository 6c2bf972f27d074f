package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

// TestMemfdHandoff: Go sends an anonymous array over a Unix socket to a
// Python process (SCM_RIGHTS), which sums it and sends one back; nothing
// ever appears in /dev/shm.
func TestMemfdHandoff(t *testing.T) {
	before := shmtest.Ours()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("Socketpair: %v", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "go end"), os.NewFile(uintptr(fds[1]), "python end")
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()

	cmd := exec.Command(python(t), "testdata/xlang.py", "recv", "3")
	cmd.ExtraFiles = []*os.File{theirs}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start python: %v", err)
	}
	shmtest.Track(cmd.Process.Pid)
	theirs.Close()
	defer cmd.Wait()

	a, err := bridge.CreateAnonymous(npy.Header{DType: npy.Float64, Shape: []int{1000}})
	if err != nil {
		t.Fatalf("CreateAnonymous: %v", err)
	}
	v, _ := bridge.View[float64](a)
	for i := range v {
		v[i] = float64(i)
	}
	if err := bridge.Send(conn, a); err != nil {
		t.Fatalf("Send: %v", err)
	}
	a.Close() // the receiver has its own descriptor now
	line, _ := bufio.NewReader(out).ReadString('\n')
	if got := strings.TrimSpace(line); got != "499500.0 <f8 [1000]" {
		t.Fatalf("python received %q\n%s", got, stderr.String())
	}
	b, err := bridge.Receive(conn, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("Receive: %v\n%s", err, stderr.String())
	}
	defer b.Close()
	w, err := bridge.View[int32](b)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if !slices.Equal(w, []int32{0, 10, 20, 30, 40, 50}) || !slices.Equal(b.Shape(), []int{2, 3}) || !b.Anonymous() {
		t.Fatalf("received %v shape %v anonymous=%v", w, b.Shape(), b.Anonymous())
	}
	if err := cmd.Wait(); err != nil || stderr.Len() > 0 {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if after := shmtest.Ours(); !slices.Equal(before, after) {
		t.Fatalf("/dev/shm changed: %v -> %v", before, after)
	}
}

// TestDescriptorLines: a Go parent starts a Python worker and feeds it one
// descriptor JSON line per array on stdin (npshm.attach_lines).
func TestDescriptorLines(t *testing.T) {
	p := startPy(t, "lines")
	for i, n := range []int{10, 100, 1000} {
		a, err := bridge.CreateArray(shmtest.Name(t), npy.Header{DType: npy.Int64, Shape: []int{n}})
		if err != nil {
			t.Fatalf("CreateArray: %v", err)
		}
		v, _ := bridge.View[int64](a)
		for j := range v {
			v[j] = int64(j * (i + 1))
		}
		fmt.Fprintln(p.stdin, a.Descriptor())
		want := fmt.Sprintf("%d.0", (i+1)*n*(n-1)/2)
		if got := p.line(); got != want {
			t.Errorf("worker summed %s, want %s", got, want)
		}
		a.Close()
		a.Unlink()
	}
	p.wait()
}

// TestShareByNameAcrossScripts: the README's session. One script loads and
// publishes a matrix and exits; independent scripts started from a shell
// use it by name at the same time; gc leaves it; rm removes it.
func TestShareByNameAcrossScripts(t *testing.T) {
	dir := t.TempDir()
	shmtest.PrivateDir(t) // the session runs gc: keep it away from others' segments
	name, gc, gcSays := "matrix", cliPath(t)+" gc", "gc: nothing to remove\n"
	if shmtest.ShmOpen() { // no private directory, and no gc: it says so and fails
		name, gc, gcSays = shmtest.Name(t), "! "+cliPath(t)+" gc 2>/dev/null", ""
	}
	py := python(t)
	examples, _ := filepath.Abs("../pyshim/examples")
	session := fmt.Sprintf(`set -e
cd %s
%s -c 'import numpy as np; np.save("matrix.npy", np.arange(12.0).reshape(3, 4))'
python load_and_share.py matrix.npy %[3]s
python script.py %[3]s 1 > out1 &
python script.py %[3]s 2 > out2 &
wait
cat out1 out2
%[5]s
%[4]s rm %[3]s
`, dir, py, name, cliPath(t), gc)
	cmd := exec.Command("bash", "-c", session)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(py)+":"+os.Getenv("PATH"))
	cmd.Dir = examples
	os.Symlink(filepath.Join(examples, "load_and_share.py"), filepath.Join(dir, "load_and_share.py"))
	os.Symlink(filepath.Join(examples, "script.py"), filepath.Join(dir, "script.py"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("session: %v\n%s", err, out)
	}
	want := fmt.Sprintf("published %s: float64 (3, 4), 96 bytes\nscript 1: sum of row 1 = 22.0\nscript 2: sum of row 2 = 38.0\n%s", name, gcSays)
	if string(out) != want {
		t.Fatalf("session printed:\n%s\nwant:\n%s", out, want)
	}
	if exists(name) {
		t.Fatalf("rm left %s", name)
	}
}
