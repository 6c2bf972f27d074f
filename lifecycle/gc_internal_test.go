package lifecycle

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
)

// TestGCKeepsRepublished: a segment whose creator is dead is republished
// (a new file renamed over its name) just as gc, holding the old file
// exclusively, is about to remove it. gc removes the old file only: the
// name still holds the new array afterwards.
func TestGCKeepsRepublished(t *testing.T) {
	if os.Getenv(namespace.BackendEnv) == string(namespace.ShmOpen) {
		t.Skip("gc needs the dir backend's listing and records")
	}
	dir, err := os.MkdirTemp(namespace.DefaultDir, "npshm_test_gc_")
	if err != nil {
		t.Skipf("no %s: %v", namespace.DefaultDir, err)
	}
	defer os.RemoveAll(dir)
	t.Setenv(namespace.DirEnv, dir)
	path := filepath.Join(dir, "seg")
	dead := Creator{PID: self.PID, Start: self.Start + 1, PIDNS: self.PIDNS} // this PID, another start: gone
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := osshm.SetXattr(f, namespace.XattrCreator, dead.String()); err != nil {
		t.Fatalf("SetXattr: %v", err)
	}
	f.Close()
	var republished osshm.State
	beforeRemove = func(string) { // a publish renames a new array over the name
		tmp := filepath.Join(dir, "new")
		if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
			t.Errorf("WriteFile: %v", err)
		}
		republished, _ = osshm.Lstat(tmp)
		if err := os.Rename(tmp, path); err != nil {
			t.Errorf("Rename: %v", err)
		}
	}
	defer func() { beforeRemove = nil }()
	removed, err := GC(false)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	defer os.Remove(path)
	at, err := osshm.Lstat(path)
	if err != nil || !at.Same(republished) {
		t.Fatalf("after gc (removed %v), the republished array is gone from its name: %v", removed, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("gc left %d files, want the republished one only", len(entries))
	}
}
