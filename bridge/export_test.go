package bridge

import "time"

// SetReplacedWait sets how long opens follow a republished name, for a
// test; it returns a func that restores the previous value.
func SetReplacedWait(d time.Duration) (restore func()) {
	old := replacedWait
	replacedWait = d
	return func() { replacedWait = old }
}
