package bridge

import "time"

// SetReplacedWait sets how long opens follow a republished name, for a
// test; it returns a func that restores the previous value.
func SetReplacedWait(d time.Duration) (restore func()) {
	old := replacedWait
	replacedWait = d
	return func() { replacedWait = old }
}

// SetLockWait sets how long an open waits for a segment another process
// holds exclusively, and a func called each time an open starts to wait
// (nil: none), for a test; it returns a func that restores both.
func SetLockWait(d time.Duration, waiting func()) (restore func()) {
	oldWait, oldHook := lockWait, lockWaiting
	lockWait, lockWaiting = d, waiting
	return func() { lockWait, lockWaiting = oldWait, oldHook }
}
