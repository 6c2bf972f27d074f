//go:build linux || darwin

package osshm_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/npshm/npshm/internal/osshm"
)

// TestShmOpen: create exclusively, size, map, reopen, unlink.
func TestShmOpen(t *testing.T) {
	name := fmt.Sprintf("npshm_osshm_%d", os.Getpid())
	f, err := osshm.ShmOpen(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("ShmOpen: %v", err)
	}
	defer osshm.ShmUnlink(name)
	defer f.Close()
	if _, err := osshm.ShmOpen(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, os.ErrExist) {
		t.Errorf("second exclusive ShmOpen: %v, want ErrExist", err)
	}
	if err := f.Truncate(100); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	b, err := osshm.Map(f, 100, true)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	b[99] = 7
	osshm.Unmap(b)
	g, err := osshm.ShmOpen(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("ShmOpen existing: %v", err)
	}
	defer g.Close()
	st, err := osshm.Stat(g)
	if err != nil || st.Kind != "" || st.Size < 100 {
		t.Fatalf("Stat: %+v %v, want a regular object of at least 100 bytes", st, err)
	}
	c, err := osshm.Map(g, 100, false)
	if err != nil || c[99] != 7 {
		t.Fatalf("Map of the reopened object: %v", err)
	}
	osshm.Unmap(c)
	if err := osshm.ShmUnlink(name); err != nil {
		t.Fatalf("ShmUnlink: %v", err)
	}
	if _, err := osshm.ShmOpen(name, os.O_RDONLY, 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ShmOpen after unlink: %v, want ErrNotExist", err)
	}
}

// TestOpenRefusesFIFO: a FIFO is refused at once, never waited on.
func TestOpenRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := osshm.Open(path, os.O_RDONLY, false); !errors.Is(err, osshm.ErrNotRegular) {
		t.Fatalf("Open of a FIFO: %v, want ErrNotRegular", err)
	}
}

// TestFutex: a waiter sleeps until woken (Linux); elsewhere ErrUnsupported.
func TestFutex(t *testing.T) {
	var word atomic.Uint32
	if runtime.GOOS != "linux" {
		if err := osshm.FutexWake(&word, 1); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("FutexWake: %v, want ErrUnsupported", err)
		}
		return
	}
	if err := osshm.FutexWait(&word, 1, -1); err != nil { // the word is not 1: returns at once
		t.Fatalf("FutexWait on a changed word: %v", err)
	}
	done := make(chan error)
	go func() {
		for word.Load() == 0 {
			if err := osshm.FutexWait(&word, 0, -1); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(10 * time.Millisecond)
	word.Store(1)
	if err := osshm.FutexWake(&word, 1); err != nil {
		t.Fatalf("FutexWake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("FutexWait: %v", err)
	}
}
