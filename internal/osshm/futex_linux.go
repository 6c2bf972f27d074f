//go:build linux

package osshm

import (
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

// futex(2) operations (linux/futex.h).
const (
	futexWait = 0
	futexWake = 1
)
