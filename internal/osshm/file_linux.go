//go:build linux

package osshm

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func fileKind(mode uint32) string { return kindOf(mode & unix.S_IFMT) }

// Reserve allocates size bytes of backing store for f, so a full tmpfs
// fails here with ErrNoSpace instead of with SIGBUS on first touch. On a
// filesystem without fallocate it falls back to ftruncate (sparse).
func Reserve(f *os.File, size int64) error {
	fd := int(f.Fd())
	var err error
	for {
		err = unix.Fallocate(fd, 0, 0, size)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		return nil
	case IsNoSpace(err):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return f.Truncate(size)
	}
	return err
}

// IsNoSpace reports a write that failed for want of space.
func IsNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.ENOMEM)
}

// PopulateRange allocates and maps the pages of b (part of a shared
// mapping): a full tmpfs is ErrNoSpace here, not SIGBUS later, and writes
// then take no page faults. Kernels before 5.14 say ErrNoPopulate (then
// reserve the file's space with Reserve instead).
func PopulateRange(b []byte) error {
	err := unix.Madvise(b, unix.MADV_POPULATE_WRITE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return ErrNoPopulate
	case errors.Is(err, unix.EFAULT), errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: %w", ErrNoSpace, unix.ENOSPC) // a page could not be allocated
	}
	return fmt.Errorf("populate: %w", err)
}

// SealedAgainstShrink reports whether f carries F_SEAL_SHRINK (a memfd made
// by CreateAnonymous or npshm.share_anonymous): no process can then make it
// shorter, so no mapping of it can fault. Files that take no seals say no.
func SealedAgainstShrink(f *os.File) bool {
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	return err == nil && seals&unix.F_SEAL_SHRINK != 0
}

// ShmSizeFixed says whether a POSIX shm object's size, once set, can never
// change (macOS), so that no peer can shrink it under a mapping. On Linux
// it is a file in /dev/shm that ftruncate can shrink at any time.
const ShmSizeFixed = false

// Errors of the xattr calls that mean "no attribute" (GetXattr) and "this
// filesystem keeps none" (SetXattr, GetXattr).
var (
	errNoXattr        = unix.ENODATA
	errsXattrUnusable = []error{unix.ENOTSUP, unix.EOPNOTSUPP}
)

// RenameNoReplace renames old to new, failing with os.ErrExist if new exists.
func RenameNoReplace(old, new string) error {
	return unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
}

// Memfd creates an anonymous, sealable memory file.
func Memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// SealSize forbids shrinking or growing f, so no process it is shared with
// can truncate it under another's mapping (which would fault with SIGBUS).
func SealSize(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW)
	return err
}

// DirSpace is the free space of the filesystem holding dir (f_bavail *
// f_bsize: what a process without root's reserve can use; MaxInt64 for a
// filesystem with no size limit, such as ramfs or tmpfs size=0), and whether
// its files are memory (tmpfs, ramfs), so that their pages take memory too.
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
	memory = st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
	free = math.MaxInt64
	if st.Blocks != 0 && st.Bsize > 0 && st.Bavail < uint64(math.MaxInt64/st.Bsize) {
		free = int64(st.Bavail) * st.Bsize
	}
	return free, memory, nil
}

// freeMemory is the memory free outright, RAM and swap (sysinfo(2)): a
// lower bound on what the machine can give, which costs no /proc read.
func freeMemory() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Freeram+si.Freeswap) * int64(si.Unit)
}

// ShmDir is where shm_open's objects are files on Linux.
const ShmDir = "/dev/shm"

// ShmOpen is shm_open("/"+name, flag, perm) as glibc does it: open(2) of
// /dev/shm/name with O_NOFOLLOW and O_CLOEXEC (and O_NONBLOCK, so a FIFO
// planted there cannot block). What is not a regular file is refused with
// NotRegular. name is a valid segment name without its slash.
func ShmOpen(name string, flag int, perm uint32) (*os.File, error) {
	path := filepath.Join(ShmDir, name)
	flag |= unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	for {
		fd, err := unix.Open(path, flag, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "shm_open", Path: "/" + name, Err: whyNotOpened(path, err)}
		}
		return checkRegular(fd, "/"+name)
	}
}

// ShmUnlink is shm_unlink("/"+name).
func ShmUnlink(name string) error {
	if err := unix.Unlink(filepath.Join(ShmDir, name)); err != nil {
		if err == unix.EISDIR { // glibc's shm_unlink is unlink(2): never an rmdir
			err = NotRegular{"a directory"}
		}
		return &os.PathError{Op: "shm_unlink", Path: "/" + name, Err: err}
	}
	return nil
}
