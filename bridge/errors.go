package bridge

import (
	"errors"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
)

// Errors callers can branch on with errors.Is. Missing segments wrap
// os.ErrNotExist, name clashes os.ErrExist, use after Close os.ErrClosed;
// malformed images wrap the npy package's sentinels (npy.ErrNotNpy, ...).
var (
	// ErrInvalidName: a segment name that is empty, too long, or holds '/',
	// NUL or ".."; or, for a new or published segment, one beginning with
	// ".npshm-tmp-" (npshm's temporaries, which gc removes).
	ErrInvalidName = errors.New("invalid segment name")
	// ErrNotRegular: a segment name (or .npy path) that is not a regular
	// file: a FIFO, a directory, a device, a socket, or a symbolic link,
	// which opening never follows. The error says which.
	ErrNotRegular = osshm.ErrNotRegular
	// ErrUnsafeFD: a file descriptor received from a peer (Receive) that is
	// unsafe to map: not a regular file, or one whose sender could shrink it
	// under the mapping, being neither sealed against shrinking (a memfd
	// from CreateAnonymous) nor the very file its descriptor names. It is
	// refused before mapping.
	ErrUnsafeFD = errors.New("unsafe file descriptor")
	// ErrReplaced: the name was republished (replaced by a new file) each
	// time it was opened, for longer than an open waits. Try again.
	ErrReplaced = errors.New("segment replaced while opening")
	// ErrLocked: another process has held the segment under an exclusive
	// flock for longer than an open waits (gc holds it so only for a
	// moment, while it removes it). The error names the holder's PID where
	// /proc/locks tells it.
	ErrLocked = errors.New("segment locked exclusively by another process")
	// ErrInvalidSize: a segment size that is zero, negative or too large.
	ErrInvalidSize = errors.New("invalid segment size")
	// ErrNoSpace: the shared-memory filesystem (or the file's) has no room
	// for the segment, or (for a tmpfs or memfd) the machine or this
	// process's cgroup has not the memory. It is reported at create, never
	// as a SIGBUS later, with what was asked, what is free and the fix.
	ErrNoSpace = osshm.ErrNoSpace
	// ErrTruncated: the segment is shorter than its header says its data is.
	ErrTruncated = errors.New("segment shorter than its array")
	// ErrDType: a typed view was asked for a type that is not the array's.
	ErrDType = errors.New("dtype mismatch")
	// ErrReadOnly: a write was asked of an array opened read-only.
	ErrReadOnly = errors.New("array is read-only")
	// ErrDescriptor: a descriptor that is malformed or does not match the
	// segment it names.
	ErrDescriptor = errors.New("bad descriptor")
	// ErrUnknownBackend: $NPSHM_BACKEND is neither "dir" nor "shm_open".
	ErrUnknownBackend = namespace.ErrUnknownBackend
)
