//go:build linux

package stream

// Every system call and every unsafe pointer of the package is in this file
// (and its stubs in sys_other.go), so that it can fold into the module's OS
// seam: words of the shared mapping as atomics, futex wait and wake,
// open-file-description byte locks, the monotonic clock.

import (
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe" // also for go:linkname

	"golang.org/x/sys/unix"
)

// supported reports whether streams work on this system.
func supported() error { return nil }

// word64 and word32 are the naturally aligned words at off in a mapping,
// for use with sync/atomic only. Callers check off+8 <= len(b) and the
// alignment (every offset in the layout is a multiple of 8).
func word64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func word32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// low32 is the futex word of a 64-bit counter: its low half, which is the
// first four bytes on the little-endian machines Linux streams run on.
func low32(w *uint64) *uint32 { return (*uint32)(unsafe.Pointer(w)) }

// futex(2) operations, shared (not FUTEX_PRIVATE_FLAG).
const (
	futexWaitOp = 0
	futexWakeOp = 1
)

// fenceWord is the target of fence's read-modify-write.
var fenceWord atomic.Uint64

// fence is a full memory barrier around plain accesses to the mapping.
// Go's atomics are sequentially consistent among themselves, but a plain
// load or store next to them may be reordered on arm64 (an STLR lets later
// plain stores move before it; an LDAR lets earlier plain loads move after
// it). An atomic read-modify-write is a full barrier on both x86-64 (LOCK
// XADD) and arm64 (LDADDAL, or an LDAXR/STLXR loop, acquire and release).
func fence() { fenceWord.Add(1) }

// futexWait sleeps while *addr == val, at most d (d <= 0: not at all). It
// returns on a wake, a changed value, a signal or the timeout alike: the
// caller always looks again. The futex is a shared one (no
// FUTEX_PRIVATE_FLAG): waker and sleeper are different processes. The
// kernel reads *addr after a full barrier (futex_wait's smp_mb), so a
// sleeper that stored a flag before calling cannot miss a waker that
// stored the value before looking at the flag.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every process sleeping on addr. It is a full barrier
// too (futex_wake's smp_mb before it looks for sleepers).
func futexWake(addr *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(1<<31-1), 0, 0, 0)
}

// monotonicNS is CLOCK_MONOTONIC in nanoseconds, the clock Python's
// time.monotonic_ns() reads: the runtime's nanotime, which on Linux reads
// CLOCK_MONOTONIC through the vDSO (no system call per frame).
func monotonicNS() uint64 { return uint64(nanotime()) }

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Liveness locks: open-file-description (OFD) write locks on single bytes
// of the control block. The kernel drops them when the last descriptor of
// the open file goes, SIGKILL included; they are independent of the flock
// that bridge keeps for gc, and of PID namespaces.

// tryLock takes the write lock on byte off of f; false if another open file
// holds it.
func tryLock(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// unlock releases the lock on byte off of f.
func unlock(f *os.File, off int64) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: 1}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// lockedByOther reports whether another open file holds a lock on byte off.
func lockedByOther(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}

// Flags Inspect opens a file with: never through a link, never blocking.
const (
	oNoFollow = unix.O_NOFOLLOW
	oNonBlock = unix.O_NONBLOCK
)
