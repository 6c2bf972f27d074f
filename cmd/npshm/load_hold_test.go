package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/loader"
)

// readerFunc is an io.Reader made of a function: the hand-off's stdin.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestHoldArrays: --hold prints each array's descriptor, keeps the array
// unpublished under its name until stdin ends (the caller attaches then),
// and removes the names at end of input.
func TestHoldArrays(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, text := range []string{"1 2\n3 4\n", "5 6 7\n"} {
		f := filepath.Join(dir, "in"+string(rune('a'+i))+".txt")
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	dt, _ := loader.ParseSpec("f8")
	arrays, err := loader.Load(files, loader.Options{DType: dt, Comments: "#"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer func() {
		for _, a := range arrays {
			a.Close()
		}
	}()
	var out bytes.Buffer
	held := false
	stdin := readerFunc(func([]byte) (int, error) {
		for _, a := range arrays { // while stdin is open, each array is there
			if _, err := os.Lstat(filepath.Join(bridge.Dir(), a.Name())); err != nil {
				t.Errorf("array %s is gone before stdin closed: %v", a.Name(), err)
			}
		}
		held = true
		return 0, io.EOF
	})
	if err := holdArrays(&out, stdin, arrays); err != nil {
		t.Fatalf("holdArrays: %v", err)
	}
	if !held {
		t.Fatal("holdArrays did not wait for stdin")
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want 2 descriptor lines, got %q", out.String())
	}
	for i, line := range lines {
		var d struct{ Name string }
		if err := json.Unmarshal(line, &d); err != nil || d.Name != arrays[i].Name() {
			t.Errorf("line %d: %q names %q, want %q (%v)", i, line, d.Name, arrays[i].Name(), err)
		}
		if _, err := os.Lstat(filepath.Join(bridge.Dir(), d.Name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("array %s still has its name after stdin closed: %v", d.Name, err)
		}
	}
}

func TestHoldRefusesNames(t *testing.T) {
	_, _, err := runCLI("load", "x.txt", "--dtype", "f8", "--hold", "--name", "n")
	if err == nil {
		t.Fatal("load --hold --name: want a usage error")
	}
}
