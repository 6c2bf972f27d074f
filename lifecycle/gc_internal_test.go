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
	gcWhileRepublishing(t, false)
}

// TestGCKeepsNewest: as TestGCKeepsRepublished, and the name is published
// once more while gc has the first new array aside: the newest keeps the
// name, and the one aside, superseded, is removed (nothing is left behind).
func TestGCKeepsNewest(t *testing.T) {
	gcWhileRepublishing(t, true)
}

func gcWhileRepublishing(t *testing.T, again bool) {
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
	if c, _ := osshm.GetXattr(path, namespace.XattrCreator); c == "" {
		t.Skipf("%s keeps no user xattrs: gc would not take the file for npshm's", dir)
	}
	var republished osshm.State
	publish := func(string) { // renames a new array over the name
		tmp := filepath.Join(dir, "new")
		if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
			t.Errorf("WriteFile: %v", err)
		}
		republished, _ = osshm.Lstat(tmp)
		if err := os.Rename(tmp, path); err != nil {
			t.Errorf("Rename: %v", err)
		}
	}
	beforeRemove = publish
	if again {
		movedAside = publish
	}
	defer func() { beforeRemove, movedAside = nil, nil }()
	removed, err := GC(false)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	defer os.Remove(path)
	at, err := osshm.Lstat(path)
	if err != nil || !at.Same(republished) {
		t.Fatalf("after gc (removed %v), the newest republished array is not under its name: %v", removed, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("gc left %d files, want the newest republished one only", len(entries))
	}
}
