//go:build darwin

package osshm

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// RootPIDNamespace: macOS has no PID namespaces; every creator is seen.
const RootPIDNamespace = 0

// NamespaceOf: no namespaces on macOS (0, unknown).
func NamespaceOf(string, string) uint64 { return 0 }

// RunsInNamespace is never asked on macOS (no namespaces): "maybe".
func RunsInNamespace(uint64, int, uint64) bool { return true }

// MemoryShort never refuses on macOS: it has no MemAvailable or cgroups,
// and its shared memory is backed by the VM system (compressed, swapped).
func MemoryShort(int64) (int64, string, bool) { return 0, "", false }

// FlockHolders: macOS has no /proc/locks; holders are unknown.
func FlockHolders() map[uint64][]int { return map[uint64][]int{} }

// ExclusiveHolders: macOS has no /proc/locks; holders are unknown.
func ExclusiveHolders(uint64) []int { return nil }

// ProcessStart is a process's start time (microseconds since the epoch,
// from sysctl kern.proc.pid) and whether it is running (not a zombie); pid
// may be "self".
func ProcessStart(pid string) (start uint64, running bool, err error) {
	n := unix.Getpid()
	if pid != "self" {
		if n, err = strconv.Atoi(pid); err != nil {
			return 0, false, err
		}
	}
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", n)
	if err != nil {
		return 0, false, err
	}
	if kp.Proc.P_pid != int32(n) {
		return 0, false, unix.ESRCH // no such process: sysctl returns an empty record
	}
	tv := kp.Proc.P_starttime
	const zombie = 5 // SZOMB
	return uint64(tv.Sec)*1e6 + uint64(tv.Usec), kp.Proc.P_stat != zombie, nil
}
