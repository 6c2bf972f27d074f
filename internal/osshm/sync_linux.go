//go:build linux

package osshm

import (
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FutexWait sleeps while *addr == val, until FutexWake on the same word
// (in any process sharing the mapping), a signal, or timeout (forever if
// negative). It returns nil on a wake-up or when *addr != val already,
// unix.ETIMEDOUT on timeout; callers re-check the word in a loop.
func FutexWait(addr *atomic.Uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(timeout.Nanoseconds())
		ts = &t
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	}
	return e
}

// FutexWake wakes up to n waiters on addr (shared: not FUTEX_PRIVATE, so
// waiters in other processes mapping the same page wake too).
func FutexWake(addr *atomic.Uint32, n int) error {
	_, _, e := unix.Syscall(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n))
	if e != 0 {
		return e
	}
	return nil
}

// futex(2) operations (linux/futex.h), shared (not FUTEX_PRIVATE_FLAG).
const (
	futexWait = 0
	futexWake = 1
)

// Byte locks: open-file-description (OFD) write locks on single bytes of a
// file, for liveness records shared between processes (streams). The
// kernel drops them when the last descriptor of the open file goes,
// SIGKILL included; they are independent of flocks and of PID namespaces.

// TryLockByte takes the write lock on byte off of f; false if another open
// file holds it.
func TryLockByte(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// UnlockByte releases the lock on byte off of f.
func UnlockByte(f *os.File, off int64) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: 1}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// ByteLockedByOther reports whether another open file holds a lock on byte
// off of f.
func ByteLockedByOther(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}
