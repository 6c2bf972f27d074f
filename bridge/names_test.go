//go:build linux

package bridge_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
)

// TestReservedTempPrefix: a name beginning with ".npshm-tmp-" is npshm's
// temporary, which gc removes once the PID in its name is gone; so no
// caller may create or publish one (the old code published it, and gc then
// deleted the published array). npshm's own temporaries still work.
func TestReservedTempPrefix(t *testing.T) {
	dir := shmtest.PrivateDir(t)
	h := f64(10)
	hdr, _ := h.Encode()
	image := append(hdr, make([]byte, 80)...)
	for _, name := range []string{".npshm-tmp-999999-x", "/.npshm-tmp-1-y", ".npshm-tmp-"} {
		ways := map[string]func() error{
			"CreateArray":       func() error { _, err := bridge.CreateArray(name, h); return err },
			"CreateSegment":     func() error { _, err := bridge.CreateSegment(name, 100); return err },
			"CreateArrayWriter": func() error { _, err := bridge.CreateArrayWriter(name, h); return err },
			"Publish":           func() error { _, err := bridge.Publish(name, h, nil); return err },
			"Put":               func() error { _, err := bridge.Put(name, bytes.NewReader(image)); return err },
			"Array.Publish": func() error {
				a, err := bridge.CreateArray("", h)
				if err != nil {
					return err
				}
				defer func() { a.Close(); a.Unlink() }()
				return a.Publish(name)
			},
			"Array.PublishNew": func() error {
				a, err := bridge.CreateArray("", h)
				if err != nil {
					return err
				}
				defer func() { a.Close(); a.Unlink() }()
				return a.PublishNew(name)
			},
		}
		for way, f := range ways {
			err := f()
			if !errors.Is(err, bridge.ErrInvalidName) || !strings.Contains(err.Error(), "reserved for npshm's temporaries") {
				t.Errorf("%s(%q): %v, want ErrInvalidName (reserved)", way, name, err)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused names left %d file(s)", len(entries))
	}
	// npshm's own temporaries: Publish and Put go through one.
	name := shmtest.Name(t)
	a, err := bridge.Publish(name, h, nil)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	a.Close()
	b, err := bridge.Put(name, bytes.NewReader(image))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	b.Close()
	bridge.Unlink(name)
}

// TestMissingDir: a segment directory that does not exist (a mistyped
// NPSHM_DIR) is said so, naming NPSHM_DIR, by every call that uses it,
// rather than read as "no such segment"; errors still match os.ErrNotExist.
// A trailing slash in NPSHM_DIR changes nothing.
func TestMissingDir(t *testing.T) {
	shmtest.NeedsDir(t)
	dir := filepath.Join(t.TempDir(), "no-such-dir")
	for _, env := range []string{dir, dir + "/"} {
		t.Setenv("NPSHM_DIR", env)
		testMissingDir(t, dir)
	}
}

func testMissingDir(t *testing.T, dir string) {
	t.Helper()
	want := "segment directory " + dir + " does not exist (set by NPSHM_DIR)"
	calls := map[string]func() error{
		"OpenArray":   func() error { _, err := bridge.OpenArray("x", bridge.ReadOnly); return err },
		"OpenSegment": func() error { _, err := bridge.OpenSegment("x", bridge.ReadOnly); return err },
		"Get":         func() error { _, err := bridge.Get("x"); return err },
		"CreateArray": func() error { _, err := bridge.CreateArray("x", f64(1)); return err },
		"Publish":     func() error { _, err := bridge.Publish("x", f64(1), nil); return err },
		"Unlink":      func() error { return bridge.Unlink("x") },
		"List":        func() error { _, err := lifecycle.List(); return err },
		"GC":          func() error { _, err := lifecycle.GC(true); return err },
	}
	for name, f := range calls {
		err := f()
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "no such segment") {
			t.Errorf("NPSHM_DIR=%s: %s: %v\nwant an os.ErrNotExist saying %q", os.Getenv("NPSHM_DIR"), name, err, want)
		}
	}
}

// TestUnlinkRefusesDirectory: Unlink (npshm rm) removes segment files only;
// an empty directory under the name is left in place, with ErrNotRegular.
func TestUnlinkRefusesDirectory(t *testing.T) {
	d := filepath.Join(shmtest.PrivateDir(t), "d")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	defer os.Remove(d)
	if err := bridge.Unlink("d"); !errors.Is(err, bridge.ErrNotRegular) {
		t.Errorf("Unlink of a directory: %v, want ErrNotRegular", err)
	}
	if _, err := os.Stat(d); err != nil {
		t.Errorf("Unlink removed the directory: %v", err)
	}
}
