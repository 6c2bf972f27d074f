package osshm

import (
	"errors"
	"fmt"
)

var (
	// ErrNotRegular: the file is not a regular file (bridge.ErrNotRegular).
	ErrNotRegular = errors.New("not a regular file")
	// ErrNoSpace: no room for a segment (bridge.ErrNoSpace).
	ErrNoSpace = errors.New("no space for segment")
	// ErrNoPopulate: the kernel lacks MADV_POPULATE_WRITE (before 5.14).
	ErrNoPopulate = errors.New("MADV_POPULATE_WRITE unsupported")
)

// NotRegular is a name that is not a regular file; errors.Is(err,
// ErrNotRegular) holds. Kind says what it is ("a FIFO", ...).
type NotRegular struct{ Kind string }

func (e NotRegular) Error() string        { return "is " + e.Kind + ", not a regular file" }
func (e NotRegular) Is(target error) bool { return target == ErrNotRegular }

// State is what the kernel says of a file (Stat, Lstat).
type State struct {
	Kind string // "" for a regular file (or a POSIX shm object), else what it is: "a FIFO", ...
	Size int64
	// Allocated is the space its pages take (st_blocks * 512): less than
	// Size for a sparse file, whose holes take memory only when touched.
	Allocated int64
	Linked    bool // it has a name (a link count above zero)
	Dev, Ino  uint64
}

// Same reports whether two states are of the same file.
func (a State) Same(b State) bool { return a.Dev == b.Dev && a.Ino == b.Ino }

// kindOf is "" for a regular file, else what a file of type ifmt (the
// S_IFMT bits, in their common Unix values) is, for messages.
func kindOf(ifmt uint32) string {
	switch ifmt {
	case 0o100000:
		return ""
	case 0o120000:
		return "a symbolic link"
	case 0o040000:
		return "a directory"
	case 0o010000:
		return "a FIFO"
	case 0o140000:
		return "a socket"
	case 0o020000:
		return "a character device"
	case 0o060000:
		return "a block device"
	}
	return fmt.Sprintf("of unknown type %#o", ifmt)
}
