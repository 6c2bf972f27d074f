package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

func TestMain(m *testing.M) { os.Exit(shmtest.Main(m)) }

func runCLI(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(&o, &e, args)
	return o.String(), e.String(), err
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
	ls, _, err := runCLI("ls", "--json")
	if err != nil {
		t.Fatalf("ls: %v", err)
	}
	var entries []struct {
		Name  string `json:"name"`
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
		Size  int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(ls), &entries); err != nil {
		t.Fatalf("ls --json is not JSON: %v\n%s", err, ls)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Name == name && e.DType == "<i4" && e.Size == 152 && len(e.Shape) == 2)
	}
	if !found {
		t.Fatalf("ls --json does not list %s: %s", name, ls)
	}
	if table, _, _ := runCLI("ls"); !strings.Contains(table, name) || !strings.Contains(table, "(2, 3) F") {
		t.Fatalf("ls table:\n%s", table)
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
	entries, _ := bridge.List()
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
