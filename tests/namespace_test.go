package tests

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
)

// TestNamespaceHelper is not a test: it is a process the PID-namespace
// tests start in another PID namespace. It makes an unpublished array,
// closes it (so that only its creator record speaks for it), says so and
// waits for stdin to close.
func TestNamespaceHelper(t *testing.T) {
	switch os.Getenv("NPSHM_NS_HELPER") {
	case "":
		t.Skip("helper process only")
	case "create":
		a, err := bridge.CreateArray(os.Getenv("NPSHM_NS_NAME"), npy.Header{DType: npy.Float64, Shape: []int{1000}})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		a.Close()
		fmt.Println("created", os.Getpid())
		io.Copy(io.Discard, os.Stdin)
	}
	os.Exit(0)
}

// inNewPIDNamespace starts argv in a new PID namespace (unshare; it is PID
// 1 there, with its own /proc), or skips when that needs root we lack. Its
// stdin is returned; closing it ends the helper.
func inNewPIDNamespace(t *testing.T, env []string, argv ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := unshare(t, argv...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	return cmd, stdin, bufio.NewReader(stdout)
}

// unshare is the command that runs argv in a new PID namespace.
func unshare(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	return exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", "--kill-child"}, argv...)...)
}

func firstLine(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("helper in a new PID namespace said nothing: %v (unshare may be refused here)", err)
	}
	return strings.Fields(line)
}

// TestGCAcrossPIDNamespaces: a container sharing /dev/shm has its own PID
// namespace, where its creator may be PID 1. gc on the host must judge that
// creator, not the host's PID 1: it keeps the segment while the creator runs
// and reclaims it once it exits. The old code removed it at once ("creator
// exited"). The creator is Go here and Python in the subtest.
func TestGCAcrossPIDNamespaces(t *testing.T) {
	shmtest.NeedsDir(t)
	creators := map[string]func(name string) []string{
		"go": func(name string) []string {
			return []string{os.Args[0], "-test.run=^TestNamespaceHelper$"}
		},
		"python": func(name string) []string {
			return []string{python(t), "-c", `import npshm, os, sys
s = npshm.create(1000, "f8", name=sys.argv[1]); s.close()
print("created", os.getpid(), flush=True); sys.stdin.read()`, name}
		},
	}
	for lang, argv := range creators {
		t.Run(lang, func(t *testing.T) {
			shmtest.PrivateDir(t)
			name := shmtest.Name(t)
			cmd, stdin, out := inNewPIDNamespace(t, []string{"NPSHM_NS_HELPER=create", "NPSHM_NS_NAME=" + name}, argv(name)...)
			if f := firstLine(t, out); len(f) != 2 || f[0] != "created" {
				t.Fatalf("helper: %v", f)
			}
			entries, _ := lifecycle.List()
			i := slices.IndexFunc(entries, func(e lifecycle.Entry) bool { return e.Name == name })
			if i < 0 {
				t.Fatalf("%s not listed", name)
			}
			if c := entries[i].Creator; c.PIDNS == 0 || c.PIDNS == namespaceOfSelf(t) {
				t.Fatalf("creator record %v does not name the helper's own PID namespace", c)
			}
			if removed := gcNames(t); slices.Contains(removed, name) || !exists(name) {
				t.Fatalf("gc removed %s while its creator (in another PID namespace) runs", name)
			}
			stdin.Close()
			cmd.Wait()
			removed := gcNames(t)
			if namespaceOfSelf(t) != rootPIDNamespace {
				// this test runs in a container: it cannot see into the helper's
				// namespace, so gc keeps the segment (conservatively) for good
				if slices.Contains(removed, name) || !exists(name) {
					t.Fatalf("gc outside the root PID namespace removed %s, whose creator it cannot see", name)
				}
				bridge.Unlink(name)
				return
			}
			if !slices.Contains(removed, name) || exists(name) {
				t.Fatalf("gc after the creator exited removed %v, want %s", removed, name)
			}
		})
	}
}

// TestGCFromAnotherPIDNamespace: gc run inside a container (a PID
// namespace that is not the root one) cannot see the host's processes; it
// keeps a segment whose creator it cannot see, even one that exited, and
// says why. gc on the host reclaims it. The old code removed it.
func TestGCFromAnotherPIDNamespace(t *testing.T) {
	shmtest.NeedsDir(t)
	shmtest.PrivateDir(t)
	creator, fields := helper(t, "create-exit", "")
	name := fields[1]
	creator.Wait()
	out, err := unshare(t, cliPath(t), "gc").CombinedOutput()
	if err != nil {
		t.Fatalf("npshm gc in a child PID namespace: %v\n%s", err, out)
	}
	if !exists(name) {
		t.Fatalf("gc in a child PID namespace removed %s, whose creator it cannot see:\n%s", name, out)
	}
	if want := "gc: kept " + name + ": its creator is in another PID namespace"; !strings.Contains(string(out), want) {
		t.Errorf("npshm gc in a child PID namespace said:\n%s\nwant %q", out, want)
	}
	if removed := gcNames(t); !slices.Contains(removed, name) {
		t.Fatalf("gc on the host removed %v, want %s", removed, name)
	}
}

// TestCLIRefusesReservedNames: npshm put and load cannot publish under
// npshm's temporary prefix, which gc would then delete as an abandoned
// temporary.
func TestCLIRefusesReservedNames(t *testing.T) {
	shmtest.NeedsDir(t) // counts the segments in a directory of its own
	dir := shmtest.PrivateDir(t)
	csv := filepath.Join(t.TempDir(), "a.csv")
	os.WriteFile(csv, []byte("1,2\n3,4\n"), 0o600)
	for _, args := range [][]string{
		{"put", "testdata/small.npy", "--name", ".npshm-tmp-999999-x"},
		{"load", "--dtype", "f8", "--delimiter", ",", "--name", ".npshm-tmp-999999-x", csv},
	} {
		out, err := exec.Command(cliPath(t), args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "reserved for npshm's temporaries") {
			t.Errorf("npshm %v: %v\n%s", args, err, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused names left %d file(s)", len(entries))
	}
}

// rootPIDNamespace is the inode of the initial PID namespace.
const rootPIDNamespace = 0xEFFFFFFC

func namespaceOfSelf(t *testing.T) uint64 {
	t.Helper()
	var ino uint64
	target, err := os.Readlink("/proc/self/ns/pid")
	if _, err2 := fmt.Sscanf(target, "pid:[%d]", &ino); err != nil || err2 != nil {
		t.Fatalf("readlink /proc/self/ns/pid: %q %v", target, err)
	}
	return ino
}
