package stream

// The package's only unsafe pointers: words of the shared mapping used as
// atomics, and the runtime's monotonic clock. Its system calls (futex wait
// and wake, open-file-description byte locks) are in the module's OS seam,
// internal/osshm.

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe" // also for go:linkname

	"github.com/npshm/npshm/internal/osshm"
)

// supported reports whether streams work on this system.
func supported() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("streams need Linux (futex, OFD locks): %w", errors.ErrUnsupported)
	}
	return nil
}

// word64 and word32 are the naturally aligned words at off in a mapping,
// for use with sync/atomic only. Callers check off+8 <= len(b) and the
// alignment (every offset in the layout is a multiple of 8).
func word64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func word32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// low32 is the futex word of a 64-bit counter: its low half, which is the
// first four bytes on the little-endian machines Linux streams run on.
func low32(w *uint64) *uint32 { return (*uint32)(unsafe.Pointer(w)) }

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
// caller always looks again. The futex is a shared one: waker and sleeper
// are different processes. The kernel reads *addr after a full barrier
// (futex_wait's smp_mb), so a sleeper that stored a flag before calling
// cannot miss a waker that stored the value before looking at the flag.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	if d > 0 {
		osshm.FutexWait((*atomic.Uint32)(unsafe.Pointer(addr)), val, d)
	}
}

// futexWake wakes every process sleeping on addr. It is a full barrier
// too (futex_wake's smp_mb before it looks for sleepers).
func futexWake(addr *uint32) { osshm.FutexWake((*atomic.Uint32)(unsafe.Pointer(addr)), 1<<31-1) }

// monotonicNS is CLOCK_MONOTONIC in nanoseconds, the clock Python's
// time.monotonic_ns() reads: the runtime's nanotime, which on Linux reads
// CLOCK_MONOTONIC through the vDSO (no system call per frame).
func monotonicNS() uint64 { return uint64(nanotime()) }

//go:linkname nanotime runtime.nanotime
func nanotime() int64
