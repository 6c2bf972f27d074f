//go:build linux

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

// TestReceivedNamedIsHeld: a named segment received through a descriptor
// that holds no lock (as Python's send makes) is held by the receiver, as
// an attach holds it: once its creator lets go, gc still cannot lock it
// exclusively, so it cannot take the name from under the receiver.
func TestReceivedNamedIsHeld(t *testing.T) {
	shmtest.NeedsDir(t) // shm_open objects take no flock
	name := shmtest.Name(t)
	a, err := bridge.Publish(name, npy.Header{DType: npy.Int64, Shape: []int{4}}, func(*bridge.Array) error { return nil })
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer bridge.Unlink(name)
	desc := a.Descriptor().String() + "\n"
	a.Close() // the creator lets go
	path := filepath.Join(bridge.Dir(), name)
	f, err := os.Open(path) // a fresh, unlocked descriptor
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	c1, c2, err := socketPair()
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	defer c1.Close()
	defer c2.Close()
	if _, _, err := c1.WriteMsgUnix([]byte(desc), unix.UnixRights(int(f.Fd())), nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	f.Close()
	got, err := bridge.Receive(c2, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	probe, err := os.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer probe.Close()
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Fatalf("the received segment could be locked exclusively (gc would remove it): the receiver does not hold it")
	}
	got.Close()
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("after the receiver closed it, the segment is still held: %v", err)
	}
}

// TestReceiveSparseMemfd: a sealed memfd declaring more than memory can
// hold, with no pages behind it (1 TiB: a header and a hole), is refused
// with ErrNoSpace naming the declared size, before mapping: reading it
// would otherwise allocate until the OOM killer came.
func TestReceiveSparseMemfd(t *testing.T) {
	if shmtest.ShmOpen() {
		t.Skip("memfds and seals are the dir backend's, as on Linux without NPSHM_BACKEND")
	}
	const n = 1 << 37 // float64s: 1 TiB
	hdr, err := npy.Header{DType: npy.Float64, Shape: []int{n}}.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	fd, err := unix.MemfdCreate("sparse", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	if _, err := f.WriteAt(hdr, 0); err != nil {
		t.Fatalf("write header: %v", err)
	}
	if err := f.Truncate(int64(len(hdr)) + 8*n); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		t.Fatalf("seal: %v", err)
	}
	c1, c2, err := socketPair()
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	defer c1.Close()
	defer c2.Close()
	hl := int64(len(hdr))
	desc := bridge.Descriptor{Anonymous: true, DType: npy.Float64, Shape: []int{n}, Offset: hl, NBytes: 8 * n, Size: hl + 8*n}.String() + "\n"
	if _, _, err := c1.WriteMsgUnix([]byte(desc), unix.UnixRights(fd), nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	got, err := bridge.Receive(c2, bridge.ReadOnly)
	if err == nil {
		got.Close()
	}
	if !errors.Is(err, bridge.ErrNoSpace) || !strings.Contains(err.Error(), "1.0 TiB") {
		t.Fatalf("Receive of a 1 TiB sparse sealed memfd: %v, want ErrNoSpace naming 1.0 TiB", err)
	}
}
