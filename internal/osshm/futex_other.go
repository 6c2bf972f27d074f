//go:build !linux

package osshm

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// FutexWait: futexes are Linux-only (macOS's __ulock_wait is private API).
func FutexWait(*atomic.Uint32, uint32, time.Duration) error {
	return fmt.Errorf("futex: %w", errors.ErrUnsupported)
}

// FutexWake: see FutexWait.
func FutexWake(*atomic.Uint32, int) error { return fmt.Errorf("futex: %w", errors.ErrUnsupported) }
