package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(orphanEnv); name != "" {
		os.Exit(makeOrphan(name))
	}
	os.Exit(shmtest.Main(m))
}

// orphanEnv asks the test binary, run as a child, to create a segment and
// exit without unlinking it: an orphan for gc, since its creator is dead.
const orphanEnv = "NPSHM_CLI_TEST_ORPHAN"

func makeOrphan(name string) int {
	if _, err := bridge.CreateArray(name, npy.Header{DType: npy.Float64, Shape: []int{4}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func runCLI(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(&o, &e, args)
	return o.String(), e.String(), err
}

// cli runs a command line as main does: what it prints, and its exit status.
func cli(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = exitStatus(&e, run(&o, &e, args))
	return o.String(), e.String(), code
}

// npyFile writes a .npy file made by our encoder (golden-tested against numpy).
func npyFile(t *testing.T, h npy.Header, data []byte) string {
	t.Helper()
	hdr, err := h.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	path := filepath.Join(t.TempDir(), "a.npy")
	if err := os.WriteFile(path, append(hdr, data...), 0o644); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	return path
}

func TestPutInfoGetRm(t *testing.T) {
	name := shmtest.Name(t)
	data := make([]byte, 6*4)
	for i := range data {
		data[i] = byte(i)
	}
	in := npyFile(t, npy.Header{DType: npy.Int32, Shape: []int{2, 3}, FortranOrder: true}, data)
	out, _, err := runCLI("put", in, "--name", name)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	want := `{"name":"` + name + `","dtype":"<i4","shape":[2,3],"fortran_order":true,"offset":128,"nbytes":24,"size":152}` + "\n"
	if out != want {
		t.Fatalf("put printed %q, want %q", out, want)
	}
	if info, _, err := runCLI("info", name); err != nil || info != want {
		t.Fatalf("info = %q, %v", info, err)
	}
	orig, _ := os.ReadFile(in)
	seg, _ := os.ReadFile(filepath.Join(bridge.Dir(), name))
	if !bytes.Equal(seg, orig) {
		t.Fatalf("segment differs from the file it was put from")
	}
	got := filepath.Join(t.TempDir(), "b.npy")
	if _, _, err := runCLI("get", name, got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, orig) {
		t.Fatalf("get wrote different bytes")
	}
	stdout, _, err := runCLI("get", name, "-")
	if err != nil || stdout != string(orig) {
		t.Fatalf("get to stdout: %v", err)
	}
	if !shmtest.ShmOpen() { // listing is the dir backend's
		ls, _, err := runCLI("ls", "--json")
		if err != nil {
			t.Fatalf("ls: %v", err)
		}
		var entries []struct {
			Name  string          `json:"name"`
			DType json.RawMessage `json:"dtype"` // a string, a record's list, or null: others' segments may be listed
			Shape []int           `json:"shape"`
			Size  int64           `json:"size"`
		}
		if err := json.Unmarshal([]byte(ls), &entries); err != nil {
			t.Fatalf("ls --json is not JSON: %v\n%s", err, ls)
		}
		found := false
		for _, e := range entries {
			found = found || (e.Name == name && string(e.DType) == `"<i4"` && e.Size == 152 && len(e.Shape) == 2)
		}
		if !found {
			t.Fatalf("ls --json does not list %s: %s", name, ls)
		}
		if table, _, _ := runCLI("ls"); !strings.Contains(table, name) || !strings.Contains(table, "(2, 3) F") {
			t.Fatalf("ls table:\n%s", table)
		}
	}
	if _, _, err := runCLI("rm", name); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bridge.Dir(), name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rm left the segment")
	}
}

// TestPutRepublishes: put --name replaces the array for new readers while a
// reader of the old one keeps it intact, and leaves no temporary behind.
func TestPutRepublishes(t *testing.T) {
	name := shmtest.Name(t)
	put := func(v byte) {
		data := make([]byte, 8*4)
		for i := range data {
			data[i] = v
		}
		if _, _, err := runCLI("put", npyFile(t, npy.Header{DType: npy.Int64, Shape: []int{4}}, data), "--name", name); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	put(1)
	old, err := bridge.Get(name)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer old.Close()
	put(2)
	cur, err := bridge.Get(name)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer cur.Close()
	if old.Data()[31] != 1 || cur.Data()[31] != 2 {
		t.Fatalf("old reader sees %d, new reader %d; want 1 and 2", old.Data()[31], cur.Data()[31])
	}
	entries, _ := lifecycle.List()
	for _, e := range entries {
		if e.Temporary && e.Creator.PID == os.Getpid() {
			t.Errorf("temporary %s left behind", e.Name)
		}
		if e.Name == name && (!e.Published || !e.Ours) {
			t.Errorf("put did not publish %s: %+v", name, e)
		}
	}
	bridge.Unlink(name)
}

func TestPutStructuredFromStdinPipe(t *testing.T) {
	dt := npy.MustDType("[('chr','S10'),('pos','<i4'),('pct','<f4'),('c','<i4'),('t','<i4')]")
	in := npyFile(t, npy.Header{DType: dt, Shape: []int{3}}, make([]byte, 3*26))
	f, _ := os.Open(in)
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	out, _, err := runCLI("put", "-")
	if err != nil {
		t.Fatalf("put -: %v", err)
	}
	var d bridge.Descriptor
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("descriptor: %v", err)
	}
	defer bridge.Unlink(d.Name)
	if !d.DType.Equal(dt) || d.NBytes != 78 {
		t.Fatalf("descriptor %s", out)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	good, _ := npy.Header{DType: npy.Float64, Shape: []int{100}}.Encode()
	exists := shmtest.Name(t)
	a, err := bridge.CreateArray(exists, npy.Header{DType: npy.Float64, Shape: []int{1}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	a.Close()
	tests := []struct {
		name  string
		args  []string
		usage bool   // exit 2 rather than 1
		want  string // in the error message
	}{
		{"no command", nil, true, "no command"},
		{"unknown command", []string{"frob"}, true, "unknown command"},
		{"put no file", []string{"put"}, true, "want 1 argument"},
		{"put bad flag", []string{"put", "x.npy", "--nope"}, true, "flag provided but not defined"},
		{"put missing file", []string{"put", filepath.Join(dir, "missing.npy")}, false, "no such file"},
		{"put garbage", []string{"put", write("garbage.npy", []byte("hello, world; not numpy"))}, false, "not an npy image"},
		{"put truncated", []string{"put", write("trunc.npy", append(good, 1, 2, 3))}, false, "input has 3 of 800 data bytes"},
		{"put code header", []string{"put", write("code.npy", []byte("\x93NUMPY\x01\x00\x20\x00__import__('os').system('id')  \n"))}, false, "only Python literals"},
		{"put object", []string{"put", write("obj.npy", mustHeader(t, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"))}, false, "object dtype"},
		{"put bad name", []string{"put", write("ok2.npy", append(good, make([]byte, 800)...)), "--name", "../etc/x"}, false, "invalid segment name"},
		{"get missing", []string{"get", "npshm_none_here", filepath.Join(dir, "o.npy")}, false, "no such segment"},
		{"info dotdot", []string{"info", "../../etc/passwd"}, false, "invalid segment name"},
		{"info slash", []string{"info", "a/b"}, false, "invalid segment name"},
		{"rm missing", []string{"rm", "npshm_none_here"}, false, "errors reported"},
		{"ls extra arg", []string{"ls", "x"}, true, "want 0 argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(tt.args...)
			if err == nil {
				t.Fatalf("run %v succeeded", tt.args)
			}
			var u usageError
			if errors.As(err, &u) != tt.usage {
				t.Errorf("usage error = %v, want %v (%v)", !tt.usage, tt.usage, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	bridge.Unlink(exists)
	if entries, _ := os.ReadDir(bridge.Dir()); len(entries) > 0 {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "put") {
				t.Errorf("a failed put left %s", e.Name())
			}
		}
	}
}

func mustHeader(t *testing.T, text string) []byte {
	s := "\x93NUMPY\x01\x00xx" + text
	for len(s)%64 != 63 {
		s += " "
	}
	b := []byte(s + "\n")
	b[8], b[9] = byte(len(b)-10), 0
	return append(b, make([]byte, 16)...)
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"put", "--help"}, {"get", "-h"}, {"help", "ls"}, {"rm", "--help"}, {"info", "--help"}} {
		out, _, err := runCLI(args...)
		if err != nil || !strings.Contains(out, "npshm") {
			t.Errorf("%v: err %v, output %q", args, err, out)
		}
	}
	out, _, _ := runCLI("put", "--help")
	if !strings.Contains(out, "--name") || !strings.Contains(out, "descriptor") {
		t.Errorf("put --help does not explain --name:\n%s", out)
	}
}

// hostile ends a segment name a peer may choose: it breaks the line, forges
// a row, colours the terminal, adds a cell, reverses text (U+202E), breaks
// the line again (U+2028), and holds DEL and an 8-bit CSI (U+009B).
const hostile = "\nforged row\x1b[31m\tcell\u202e\u2028\x7f\u009b"

// hostileShown is how human-readable output must show it.
const hostileShown = `\nforged row\x1b[31m\tcell\u202e\u2028\x7f\u009b`

// checkPrintable fails unless out holds only printable runes and line ends.
func checkPrintable(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if r != '\n' && !strconv.IsPrint(r) {
			t.Errorf("%s: raw %U at byte %d in %q", what, r, i, out)
			return
		}
	}
}

// lines returns the lines of out that contain s.
func lines(out, s string) []string {
	var found []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			found = append(found, l)
		}
	}
	return found
}

// TestHostileNames: names holding control characters are shown escaped, one
// name per line and cell, by every command; --json keeps them exact.
func TestHostileNames(t *testing.T) {
	shmtest.NeedsDir(t)
	base := shmtest.Name(t)
	name := base + hostile
	t.Cleanup(func() { os.Remove(filepath.Join(bridge.Dir(), name)) })
	in := npyFile(t, npy.Header{DType: npy.Int32, Shape: []int{3}}, make([]byte, 12))

	// each step: a command line, what its stdout and stderr must show
	check := func(what string, wantCode int, stdout, stderr string, code int) {
		t.Helper()
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d; stderr %q", what, code, wantCode, stderr)
		}
		checkPrintable(t, what+" stdout", stdout)
		checkPrintable(t, what+" stderr", stderr)
	}
	jsonName := func(what, out string) {
		t.Helper()
		var d struct{ Name string }
		if err := json.Unmarshal([]byte(out), &d); err != nil || d.Name != name {
			t.Errorf("%s: JSON name %q (%v), want %q", what, d.Name, err, name)
		}
	}

	stdout, stderr, code := cli("put", in, "--name", name)
	check("put", 0, stdout, stderr, code)
	jsonName("put", stdout)

	stdout, stderr, code = cli("info", name)
	check("info", 0, stdout, stderr, code)
	jsonName("info", stdout)

	stdout, stderr, code = cli("ls")
	check("ls", 0, stdout, stderr, code)
	rows := lines(stdout, base)
	if len(rows) != 1 || !strings.HasPrefix(rows[0], base+hostileShown+"  ") ||
		!strings.HasPrefix(strings.Join(strings.Fields(strings.TrimPrefix(rows[0], base+hostileShown)), " "), "<i4 (3,) 140 B") ||
		!strings.HasSuffix(rows[0], "published") {
		t.Errorf("ls shows %s as %q, want one row starting %q", base, rows, base+hostileShown)
	}
	if n := len(lines(stdout, "forged row")); n != 1 {
		t.Errorf("ls: %d lines hold the forged row, want 1:\n%s", n, stdout)
	}

	stdout, stderr, code = cli("ls", "--json")
	check("ls --json", 0, stdout, stderr, code)
	var entries []struct{ Name string }
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
		t.Fatalf("ls --json: %v", err)
	}
	found := 0
	for _, e := range entries {
		if e.Name == name {
			found++
		}
	}
	if found != 1 {
		t.Errorf("ls --json lists %s %d times, want once, exactly", name, found)
	}

	out := filepath.Join(t.TempDir(), "out.npy")
	stdout, stderr, code = cli("get", name, out)
	check("get", 0, stdout, stderr, code)
	if b, _ := os.ReadFile(out); !bytes.Equal(b, must(os.ReadFile(in))) {
		t.Errorf("get wrote different bytes")
	}

	for _, args := range [][]string{{"info", name + "x"}, {"get", name + "x", out}, {"rm", name + "x"}, {"load", name + ".txt", "--dtype", "f8"}} {
		stdout, stderr, code = cli(args...)
		check(args[0]+" missing", 1, stdout, stderr, code)
		if got := lines(stderr, "npshm: "); len(got) != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, base+hostileShown) {
			t.Errorf("%s missing: stderr %q, want one line naming %s", args[0], stderr, base+hostileShown)
		}
	}

	stdout, stderr, code = cli("rm", name)
	check("rm", 0, stdout, stderr, code)
	if _, err := os.Stat(filepath.Join(bridge.Dir(), name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rm left %q", name)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestGCHostileName: gc reports an orphan with a hostile name on one line,
// escaped, and exactly in --json.
func TestGCHostileName(t *testing.T) {
	shmtest.PrivateDir(t)
	name := shmtest.Name(t) + hostile
	t.Cleanup(func() { os.Remove(filepath.Join(bridge.Dir(), name)) })
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), orphanEnv+"="+name)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("orphan maker: %v: %s", err, out)
	}

	stdout, stderr, code := cli("gc", "--dry-run", "--json")
	checkPrintable(t, "gc --json", stdout+stderr)
	var rows []struct{ Name string }
	if err := json.Unmarshal([]byte(stdout), &rows); code != 0 || err != nil || len(rows) != 1 || rows[0].Name != name {
		t.Fatalf("gc --dry-run --json: exit %d, %v, %q", code, err, stdout)
	}

	stdout, stderr, code = cli("gc")
	checkPrintable(t, "gc", stdout+stderr)
	want := "removed " + name[:len(name)-len(hostile)] + hostileShown + " (160 B, creator exited)\n"
	if code != 0 || stdout != want || strings.Count(stderr, "\n") != 1 {
		t.Errorf("gc: exit %d, stdout %q, stderr %q; want stdout %q", code, stdout, stderr, want)
	}
	if _, err := os.Stat(filepath.Join(bridge.Dir(), name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gc left the orphan")
	}
}

// commandNames are the commands TestHelpOnce and TestUsageOnce cover.
var commandNames = []string{"put", "get", "info", "ls", "rm", "gc", "load", "help"}

// TestHelpOnce: every way to ask for a command's help prints it once, on
// stdout, and succeeds; the help says what the command does, its flags and
// an example.
func TestHelpOnce(t *testing.T) {
	for _, name := range commandNames {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}, {"--help", name}} {
			stdout, stderr, code := cli(args...)
			if code != 0 || stderr != "" {
				t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
			}
			if n := strings.Count(stdout, "Usage: npshm "+name); n != 1 {
				t.Errorf("%q prints its usage %d times:\n%s", args, n, stdout)
			}
			if !strings.Contains(stdout, "Example") {
				t.Errorf("%q has no example:\n%s", args, stdout)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		stdout, stderr, code := cli(args...)
		if code != 0 || stderr != "" || strings.Count(stdout, "Commands:") != 1 {
			t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", args, code, stderr, stdout)
		}
		for _, name := range commandNames {
			if !strings.Contains(stdout, "\n  "+name+" ") {
				t.Errorf("%q does not list %s:\n%s", args, name, stdout)
			}
		}
	}
}

// TestUsageOnce: a mistake in a command line is one error line and the
// command's usage line, once, on stderr; exit status 2.
func TestUsageOnce(t *testing.T) {
	for _, name := range commandNames {
		for _, args := range [][]string{{name, "--bogus"}, {name, "a", "b", "c", "--bogus"}} {
			stdout, stderr, code := cli(args...)
			if code != 2 || stdout != "" {
				t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", args, code, stdout)
			}
			if n := strings.Count(stderr, "Usage: npshm "+name); n != 1 || !strings.HasPrefix(stderr, "npshm: "+name+": flag provided but not defined: -bogus\n") {
				t.Errorf("%q: usage shown %d times, stderr:\n%s", args, n, stderr)
			}
		}
	}
	for _, args := range [][]string{{"get", "x"}, {"ls", "x"}, {"info"}, {"help", "x", "y"}, {"help", "frob"}, {"load", "x.txt"}} {
		stdout, stderr, code := cli(args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "Usage: npshm "+args[0]) != 1 || strings.Count(stderr, "\n") != 3 {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s", args, code, stdout, stderr)
		}
	}
	if stdout, stderr, code := cli(); code != 2 || stdout != "" || strings.Count(stderr, "Commands:") != 1 || !strings.HasSuffix(stderr, "npshm: no command given\n") {
		t.Errorf("no command: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// TestDoubleDash: after "--" every argument is a name, even after other names.
func TestDoubleDash(t *testing.T) {
	a, b, c := shmtest.Name(t), "-"+shmtest.Name(t), "--"+shmtest.Name(t)
	t.Cleanup(func() {
		os.Remove(filepath.Join(bridge.Dir(), b))
		os.Remove(filepath.Join(bridge.Dir(), c))
	})
	for _, n := range []string{a, b, c} {
		arr, err := bridge.CreateArray(n, npy.Header{DType: npy.Uint8, Shape: []int{1}})
		if err != nil {
			t.Fatalf("CreateArray: %v", err)
		}
		arr.Close()
	}
	if _, stderr, code := cli("rm", a, "--", b, c); code != 0 {
		t.Fatalf("rm a -- -b --c: exit %d: %s", code, stderr)
	}
	for _, n := range []string{a, b, c} {
		if _, err := os.Stat(filepath.Join(bridge.Dir(), n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rm left %s", n)
		}
	}
	// a flag's value "--" is a value, not the end of the flags
	fs := cmdPut().Flag
	name := fs.Lookup("name")
	if pos, err := parseArgs(fs, []string{"--name", "--", "f.npy", "--name=x"}); err != nil || len(pos) != 1 || name.Value.String() != "x" {
		t.Errorf("parseArgs: %q, %v, --name %q", pos, err, name.Value)
	}
}
