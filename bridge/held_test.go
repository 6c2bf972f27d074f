package bridge_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

// TestOpenLockedGivesUp: a planted file that another process holds under an
// exclusive flock (gc holds it so only for a moment) makes an open wait a
// bounded time, then fail with ErrLocked naming the holder's PID, instead
// of hanging.
func TestOpenLockedGivesUp(t *testing.T) {
	shmtest.NeedsDir(t) // shm_open objects take no flock
	name := shmtest.Name(t)
	a, err := bridge.Publish(name, npy.Header{DType: npy.Int64, Shape: []int{4}}, func(*bridge.Array) error { return nil })
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer a.Unlink()
	a.Close()
	f, err := os.Open(filepath.Join(bridge.Dir(), name))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("Flock: %v", err)
	}
	waited := 0
	defer bridge.SetLockWait(50*time.Millisecond, func() { waited++ })()
	_, err = bridge.OpenArray(name, bridge.ReadOnly)
	if !errors.Is(err, bridge.ErrLocked) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("OpenArray of an exclusively locked segment: %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if waited != 1 {
		t.Fatalf("the open started to wait %d times, want 1", waited)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	b, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenArray once the lock is released: %v", err)
	}
	b.Close()
}
