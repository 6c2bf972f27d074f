//go:build darwin

package osshm

import (
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// fileKind: fstat of a POSIX shm object on macOS reports no file type
// (S_IFMT bits 0); it is mapped as a regular file is.
func fileKind(mode uint32) string {
	if mode&unix.S_IFMT == 0 {
		return ""
	}
	return kindOf(mode & unix.S_IFMT)
}

// Reserve preallocates size bytes for f (F_PREALLOCATE) where the
// filesystem supports it; elsewhere the file keeps its sparse size.
func Reserve(f *os.File, size int64) error {
	st := unix.Fstore_t{Flags: unix.F_ALLOCATEALL, Posmode: unix.F_PEOFPOSMODE, Length: size}
	err := unix.FcntlFstore(f.Fd(), unix.F_PREALLOCATE, &st)
	switch {
	case err == nil:
		return nil
	case IsNoSpace(err):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return nil // not supported here (a shm object, some filesystems): sparse
}

// IsNoSpace reports a write that failed for want of space.
func IsNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.ENOMEM)
}

// PopulateRange does nothing on macOS: it has no MADV_POPULATE_WRITE, and
// its shared memory is backed by the VM system (compressed, swapped), so a
// page allocated on first touch does not fault for want of space as a full
// tmpfs does on Linux.
func PopulateRange([]byte) error { return nil }

// SealedAgainstShrink: macOS has no file seals.
func SealedAgainstShrink(*os.File) bool { return false }

// ShmSizeFixed: on macOS a POSIX shm object's size is set once (a second
// ftruncate fails with EINVAL), so no peer can shrink it under a mapping.
const ShmSizeFixed = true

// Errors of the xattr calls that mean "no attribute" (GetXattr) and "this
// filesystem keeps none" (SetXattr, GetXattr; EPERM: shm objects take none).
var (
	errNoXattr        = unix.ENOATTR
	errsXattrUnusable = []error{unix.ENOTSUP, unix.EOPNOTSUPP, unix.EPERM}
)

// RenameNoReplace renames old to new, failing with os.ErrExist if new exists.
func RenameNoReplace(old, new string) error { return unix.RenamexNp(old, new, unix.RENAME_EXCL) }

// Memfd: macOS has no memfd; anonymous arrays use an shm_open object
// unlinked right after it is made (see bridge.CreateAnonymous).
func Memfd(string) (*os.File, error) {
	return nil, fmt.Errorf("memfd_create: %w on macOS", errors.ErrUnsupported)
}

// SealSize: macOS has no file seals (a shm object's size is fixed anyway).
func SealSize(*os.File) error { return fmt.Errorf("seals: %w on macOS", errors.ErrUnsupported) }

// DirSpace is the free space of the filesystem holding dir; memory is
// always false (macOS has no tmpfs under /dev/shm).
func DirSpace(dir string) (free int64, memory bool, err error) {
	var st unix.Statfs_t
	for {
		err = unix.Statfs(dir, &st)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, false, err
	}
	free = math.MaxInt64
	if st.Blocks != 0 && st.Bsize > 0 && st.Bavail < uint64(math.MaxInt64)/uint64(st.Bsize) {
		free = int64(st.Bavail) * int64(st.Bsize)
	}
	return free, false, nil
}

// ShmDir: macOS's shm objects live in no directory.
const ShmDir = ""
