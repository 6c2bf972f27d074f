//go:build !linux

package stream

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"
)

// Streams need futexes and open-file-description locks: Linux only for now.

func supported() error {
	return fmt.Errorf("streams need Linux (futex, OFD locks): %w", errors.ErrUnsupported)
}

func word64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func word32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
func low32(w *uint64) *uint32          { return (*uint32)(unsafe.Pointer(w)) }

var fenceWord atomic.Uint64

func fence()                                   { fenceWord.Add(1) }
func futexWait(*uint32, uint32, time.Duration) {}
func futexWake(*uint32)                        {}
func monotonicNS() uint64                      { return 0 }
func tryLock(*os.File, int64) (bool, error)    { return false, errors.ErrUnsupported }
func unlock(*os.File, int64) error             { return errors.ErrUnsupported }
func lockedByOther(*os.File, int64) (bool, error) {
	return false, errors.ErrUnsupported
}

const (
	oNoFollow = 0
	oNonBlock = 0
)
