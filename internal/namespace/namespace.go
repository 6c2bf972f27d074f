// Package namespace is where segment names live, behind one interface with
// two backends, chosen by $NPSHM_BACKEND (default: dir on Linux, shm_open
// on macOS):
//
//   - dir: each segment is a file in a directory, /dev/shm or $NPSHM_DIR.
//     Everything works: listing (ls, gc), lifecycle records in xattrs and
//     flocks, atomic publish by rename, pooling.
//   - shm_open: POSIX shm_open/shm_unlink, as Python's _posixshmem calls
//     them; on macOS the only shared memory with a name, on Linux open(2)
//     under /dev/shm (NPSHM_DIR is ignored). It keeps macOS's limits on
//     Linux too, so that running the tests there checks the macOS logic:
//     names of at most 30 bytes (31 with the slash shm_open is given,
//     PSHMNAMLEN); the size fstat reports is taken as page-rounded, and the
//     header says the array's size; no read(2)/write(2) on the object (the
//     header is read through the mapping); no flock, no xattrs, no rename,
//     no listing. So List fails with ErrUnsupported (no ls, no gc), a
//     segment cannot be published under another name (publish creates the
//     array under its final name and writes the first byte of its header
//     last, so a reader never takes a half-filled array for a whole one),
//     and anonymous arrays are shm objects unlinked right after they are
//     made (no memfd).
//
// It also holds the lifecycle records' names (xattr keys, the temporary
// prefix) and this process's creator record, which bridge writes and
// package lifecycle reads.
package namespace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/npshm/npshm/internal/osshm"
)

// Backend is a kind of namespace: Dir or ShmOpen.
type Backend string

const (
	// Dir is the directory backend: files in Dir().
	Dir Backend = "dir"
	// ShmOpen is the POSIX shm_open backend.
	ShmOpen Backend = "shm_open"
)

const (
	// BackendEnv names the variable that chooses the backend.
	BackendEnv = "NPSHM_BACKEND"
	// DirEnv names the variable that moves the dir backend's directory.
	DirEnv = "NPSHM_DIR"
	// DefaultDir is where POSIX shared memory lives on Linux.
	DefaultDir = "/dev/shm"
	// MaxShmName is the longest name shm_open takes on macOS without its
	// leading slash (PSHMNAMLEN is 31 with it).
	MaxShmName = 30
	// maxFileName is NAME_MAX.
	maxFileName = 255
)

// ErrUnknownBackend: $NPSHM_BACKEND holds a value that is not a backend.
var ErrUnknownBackend = errors.New("unknown backend")

// Current is the backend $NPSHM_BACKEND chooses: "dir" or "shm_open"; unset
// or empty, dir on Linux and shm_open on macOS. Any other value is an error
// naming the variable.
func Current() (Backend, error) {
	switch v := os.Getenv(BackendEnv); v {
	case "":
		if runtime.GOOS == "darwin" {
			return ShmOpen, nil
		}
		return Dir, nil
	case string(Dir), string(ShmOpen):
		return Backend(v), nil
	default:
		return "", fmt.Errorf("%w: %s=%q; set it to %q or %q (or unset it)", ErrUnknownBackend, BackendEnv, v, Dir, ShmOpen)
	}
}

// DirPath is the dir backend's directory: $NPSHM_DIR if set, else /dev/shm.
func DirPath() string {
	if d := os.Getenv(DirEnv); d != "" {
		return filepath.Clean(d) // "/mnt/shm/" is "/mnt/shm", in messages too
	}
	return DefaultDir
}

// MaxNameLen is the longest segment name (without a leading slash) b takes.
func (b Backend) MaxNameLen() int {
	if b == ShmOpen {
		return MaxShmName
	}
	return maxFileName
}

// Path is the file behind name: in DirPath() for dir; for shm_open, the
// file under /dev/shm on Linux, "/name" (no file) on macOS.
func (b Backend) Path(name string) string {
	if b == ShmOpen {
		return osshm.ShmDir + "/" + name
	}
	return filepath.Join(DirPath(), name)
}

// SpaceDir is the directory whose free space bounds a new segment ("" if
// none: macOS's shm objects take memory only).
func (b Backend) SpaceDir() string {
	if b == ShmOpen {
		return osshm.ShmDir
	}
	return DirPath()
}

// Create makes name exclusively, mode 0600, empty (O_CREAT|O_EXCL).
func (b Backend) Create(name string) (*os.File, error) {
	if b == ShmOpen {
		return osshm.ShmOpen(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	return os.OpenFile(b.Path(name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// Open opens an existing segment (flag os.O_RDONLY or os.O_RDWR), never
// following a link and never blocking; what is not a regular file (or shm
// object) wraps osshm.ErrNotRegular.
func (b Backend) Open(name string, flag int) (*os.File, error) {
	if b == ShmOpen {
		return osshm.ShmOpen(name, flag, 0)
	}
	return osshm.Open(b.Path(name), flag, false)
}

// Unlink removes name.
func (b Backend) Unlink(name string) error {
	if b == ShmOpen {
		return osshm.ShmUnlink(name)
	}
	return osshm.RemoveFile(b.Path(name))
}

// CanRename reports whether segments can be renamed (publish, pools).
func (b Backend) CanRename() bool { return b == Dir }

// Records reports whether segments carry lifecycle records (a creator
// xattr, flocks of holders) that gc relies on.
func (b Backend) Records() bool { return b == Dir }

// ErrNoListing is returned by List for shm_open: POSIX shared memory
// objects cannot be listed on macOS. It wraps errors.ErrUnsupported.
var ErrNoListing = fmt.Errorf("the %s backend cannot list segments (macOS has no directory of POSIX shared memory objects; "+
	"set %s=%s and %s to a directory to list and gc them): %w", ShmOpen, BackendEnv, Dir, DirEnv, errors.ErrUnsupported)

// List is the names of the entries in the dir backend's directory; for
// shm_open an error wrapping ErrNoListing.
func (b Backend) List() ([]os.DirEntry, error) {
	if b == ShmOpen {
		return nil, ErrNoListing
	}
	return os.ReadDir(DirPath())
}

// MapSize is the length to map of a segment whose fstat size is size: for
// shm_open the size rounded up to a page, as macOS reports it (the array's
// header, not fstat, then says how much is the array); for dir, size.
// Mapping the rounded length is safe on Linux too: the pages past the end
// of the file are never touched.
func (b Backend) MapSize(size int64) int64 {
	if b != ShmOpen || size <= 0 {
		return size
	}
	page := int64(os.Getpagesize())
	return (size + page - 1) / page * page
}
