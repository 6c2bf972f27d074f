//go:build !linux

package osshm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// FutexWait: futexes are Linux-only (macOS's __ulock_wait is private API).
func FutexWait(*atomic.Uint32, uint32, time.Duration) error {
	return fmt.Errorf("futex: %w", errors.ErrUnsupported)
}

// FutexWake: see FutexWait.
func FutexWake(*atomic.Uint32, int) error { return fmt.Errorf("futex: %w", errors.ErrUnsupported) }

// TryLockByte, UnlockByte, ByteLockedByOther: OFD locks are Linux-only.
func TryLockByte(*os.File, int64) (bool, error) {
	return false, fmt.Errorf("OFD lock: %w", errors.ErrUnsupported)
}
func UnlockByte(*os.File, int64) error { return fmt.Errorf("OFD lock: %w", errors.ErrUnsupported) }
func ByteLockedByOther(*os.File, int64) (bool, error) {
	return false, fmt.Errorf("OFD lock: %w", errors.ErrUnsupported)
}
