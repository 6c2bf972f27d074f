package bridge

import (
	"errors"
	"fmt"
	"math"

	"github.com/npshm/npshm/internal/osshm"
)

// Room for a new segment.
//
// A segment's pages are allocated when it is created, so that a full
// filesystem is an error then rather than a SIGBUS on first touch. But a
// tmpfs is often as large as RAM (/dev/shm in containers is; so is a
// NPSHM_DIR mounted without size=), and then a request larger than the
// memory the machine can give does not fail with ENOSPC: the allocation
// runs until the kernel's OOM killer kills the process, leaving a file that
// holds all of memory. fits refuses such a request first, from what the
// kernel reports:
//
//   - every directory: the filesystem's free space (statfs);
//   - a memory-backed one (tmpfs, ramfs), and a memfd, also: the memory the
//     machine can give (MemAvailable + SwapFree) and the room under this
//     process's cgroup memory limits.
//
// Each is an upper bound on what can be had, so fits refuses only requests
// that cannot succeed; one that passes and still finds no room (others
// allocated meanwhile) fails in the allocation with ErrNoSpace, naming the
// same fix.
func fits(dir string, size int64) error {
	free, memory := int64(math.MaxInt64), true // a memfd: memory, with no filesystem limit
	if dir != "" {
		var err error
		if free, memory, err = osshm.DirSpace(dir); err != nil {
			return nil // the create that follows reports what is wrong with dir
		}
	}
	if size > free {
		return fmt.Errorf("%w: %s asked, %s has %s free; %s", ErrNoSpace, sizeText(size), dir, sizeText(free), noSpaceFix(dir, false))
	}
	if !memory {
		return nil
	}
	room, bound, short := osshm.MemoryShort(size)
	if !short {
		return nil
	}
	asked := sizeText(size) + " asked for a memfd"
	if dir != "" {
		asked = fmt.Sprintf("%s asked, %s has %s free", sizeText(size), dir, sizeText(free))
	}
	return fmt.Errorf("%w: %s, but %s leaves only %s of memory; %s",
		ErrNoSpace, asked, bound, sizeText(room), noSpaceFix(dir, true))
}

// noSpaceFix says how to make room for segments in dir ("" for a memfd),
// when the filesystem is full or (short of memory) the memory is.
func noSpaceFix(dir string, short bool) string {
	switch {
	case dir == "":
		return "free memory or raise the memory limit (docker run --memory=..., Kubernetes resources.limits.memory)"
	case dir != Dir():
		return "free space there"
	case short:
		return "free memory or raise the memory limit (docker run --memory=..., Kubernetes resources.limits.memory), or set " + DirEnv + " to a disk directory"
	}
	if _, memory, err := osshm.DirSpace(dir); err == nil && !memory {
		return "free space there or set " + DirEnv + " to a directory with room"
	}
	return "give the container more shared memory (docker run --shm-size=..., Kubernetes emptyDir {medium: Memory, sizeLimit: ...}) or set " + DirEnv + " to a larger tmpfs or a disk directory"
}

// noSpaceAt adds what was asked and the fix to an ErrNoSpace from the
// allocation of size bytes in dir ("" for a memfd); other errors pass.
func noSpaceAt(err error, dir string, size int64) error {
	switch {
	case errors.Is(err, ErrNoSpace):
	case osshm.IsNoSpace(err):
		err = fmt.Errorf("%w: %w", ErrNoSpace, err)
	default:
		return err
	}
	where := "memory"
	if dir != "" {
		where = dir
	}
	return fmt.Errorf("%w (%s asked of %s); %s", err, sizeText(size), where, noSpaceFix(dir, false))
}

// sizeText is n bytes for people: "512 B", "64.0 MiB", "8.0 TiB".
func sizeText(n int64) string {
	if n == math.MaxInt64 {
		return "unlimited"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
