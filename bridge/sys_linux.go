//go:build linux

package bridge

// The only file in the package that makes system calls directly.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// reserve allocates size bytes of backing store for f, so a full tmpfs
// fails here with ErrNoSpace instead of with SIGBUS on first touch. On a
// filesystem without fallocate it falls back to ftruncate (sparse).
func reserve(f *os.File, size int64) error {
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
	case isNoSpace(err):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return f.Truncate(size)
	}
	return err
}

// isNoSpace reports a write that failed for want of space.
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.ENOMEM)
}

// mapFile maps size bytes of f shared, read-only (PROT_READ) or read-write.
func mapFile(f *os.File, size int64, mode Mode) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if size < 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidSize, size)
	}
	prot := unix.PROT_READ
	if mode == ReadWrite {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return b, nil
}

func unmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// lockShared takes a shared flock on f, waiting if gc holds it exclusively
// (which it does only for a moment). The lock lives as long as the open
// file, so it marks the segment in use until Close or process death.
func lockShared(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if err != unix.EINTR {
			return err
		}
	}
}

// tryLockExclusive reports whether f could be locked exclusively now, that
// is, whether no process holds the segment.
func tryLockExclusive(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// openFile opens an existing segment (or .npy) file for the library; every
// open of a file that may already exist goes through it. It refuses what is
// not a regular file with an error wrapping ErrNotRegular that names what it
// is, and never blocks to do so (O_NONBLOCK: opening a FIFO returns at once
// instead of waiting for a writer; on a regular file the flag does nothing).
//
// A segment is opened with follow false (O_NOFOLLOW): a symbolic link as the
// last component, the segment name, which anyone who may write the
// directory controls, is refused, so a link planted in /dev/shm cannot make
// us open, map or echo another file. Directories above it are trusted, as
// $NPSHM_DIR is. A .npy path the caller chose (OpenFile) is followed, as
// np.load follows it: naming the target directly gives no less access.
//
// Unlike os.OpenFile it does not offer the descriptor to the runtime's
// poller (a wasted syscall for a regular file, on the attach path).
func openFile(path string, flag int, follow bool) (*os.File, error) {
	flag |= unix.O_CLOEXEC | unix.O_NONBLOCK
	if !follow {
		flag |= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Open(path, flag, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: whyNotOpened(path, err)}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
		}
		if kind := fileKind(st.Mode); kind != "" {
			unix.Close(fd)
			return nil, notRegular{kind}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// whyNotOpened turns the errors open gives for what is not a regular file
// (ELOOP for a link under O_NOFOLLOW, EISDIR, ENXIO for a socket, ...) into
// notRegular naming it; other errors are returned as they are.
func whyNotOpened(path string, err error) error {
	switch err {
	case unix.ELOOP, unix.EISDIR, unix.ENXIO, unix.ENODEV, unix.EOPNOTSUPP:
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil {
			if kind := fileKind(st.Mode); kind != "" {
				return notRegular{kind}
			}
		}
	}
	return err
}

// fileKind is "" for a regular file, else what the file is, for messages.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	}
	return fmt.Sprintf("of unknown type %#o", mode&unix.S_IFMT)
}

// statOf is what fstat says of an open file. gc's unlink, or a republish
// renaming a new array over the name, leaves a file we opened unlinked.
func statOf(f *os.File) (fileState, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileState{}, err
	}
	return stateFrom(&st), nil
}

// lstatState is what lstat says of path (a link is not followed).
func lstatState(path string) (fileState, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileState{}, err
	}
	return stateFrom(&st), nil
}

func stateFrom(st *unix.Stat_t) fileState {
	return fileState{kind: fileKind(st.Mode), size: st.Size, linked: st.Nlink > 0, dev: uint64(st.Dev), ino: st.Ino}
}

// sealedAgainstShrink reports whether f carries F_SEAL_SHRINK (a memfd made
// by CreateAnonymous or npshm.share_anonymous): no process can then make it
// shorter, so no mapping of it can fault. Files that take no seals say no.
func sealedAgainstShrink(f *os.File) bool {
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	return err == nil && seals&unix.F_SEAL_SHRINK != 0
}

// sameFile reports whether path still names the file open as f (gc checks
// this while it holds the exclusive lock, just before unlinking). A link at
// path is not followed: it is not the file.
func sameFile(f *os.File, path string) bool {
	a, err1 := statOf(f)
	b, err2 := lstatState(path)
	return err1 == nil && err2 == nil && a.same(b)
}

// setXattr sets a user attribute; filesystems without xattrs are ignored
// (lifecycle information is then unknown and gc leaves the file alone).
func setXattr(f *os.File, key, value string) error {
	err := unix.Fsetxattr(int(f.Fd()), key, []byte(value), 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	return err
}

// getXattr reads a user attribute of path; missing is ("", nil).
func getXattr(path, key string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, key, buf) // a link is not the segment: not followed
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
		return "", nil
	case err != nil:
		return "", err
	}
	return string(buf[:n]), nil
}

// removeFile unlinks path, never a directory (which os.Remove would remove
// if empty): a name in the segment directory is not ours to rmdir.
func removeFile(path string) error {
	if err := unix.Unlink(path); err != nil {
		if err == unix.EISDIR {
			err = notRegular{"a directory"}
		}
		return &os.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// renameNoReplace renames old to new, failing with os.ErrExist if new exists.
func renameNoReplace(old, new string) error {
	return unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
}

// memfd creates an anonymous, sealable memory file.
func memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// sealSize forbids shrinking or growing f, so no process it is shared with
// can truncate it under another's mapping (which would fault with SIGBUS).
func sealSize(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW)
	return err
}

// rightsFor and fdFrom wrap SCM_RIGHTS control messages.
func rightsFor(f *os.File) []byte { return unix.UnixRights(int(f.Fd())) }

func fdFrom(oob []byte) (*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "received fd"))
		}
	}
	if len(files) != 1 {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("want one file descriptor in the message, got %d", len(files))
	}
	return files[0], nil
}

// inodeOf is the inode number of a stat result.
func inodeOf(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*unix.Stat_t); ok {
		return st.Ino
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// populate allocates and maps every page of b, a fresh shared mapping of f,
// on every core: the pages are reserved (a full tmpfs is ErrNoSpace here,
// not SIGBUS later) and the producer's writes then take no page faults.
// Kernels before 5.14 lack MADV_POPULATE_WRITE; then f's space is reserved
// with fallocate instead.
func populate(f *os.File, b []byte) error {
	err := inChunks(int64(len(b)), 32<<20, func(lo, hi int64) error { return populateRange(b[lo:hi]) })
	if errors.Is(err, errNoPopulate) {
		return reserve(f, int64(len(b)))
	}
	return err
}

// populateRange allocates and maps the pages of b (part of a shared mapping).
func populateRange(b []byte) error {
	err := unix.Madvise(b, unix.MADV_POPULATE_WRITE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return errNoPopulate
	case errors.Is(err, unix.EFAULT), errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: %w", ErrNoSpace, unix.ENOSPC) // a page could not be allocated
	}
	return fmt.Errorf("populate: %w", err)
}

// dirSpace is the free space of the filesystem holding dir (f_bavail *
// f_bsize: what a process without root's reserve can use; MaxInt64 for a
// filesystem with no size limit, such as ramfs or tmpfs size=0), and whether
// its files are memory (tmpfs, ramfs), so that their pages take memory too.
func dirSpace(dir string) (free int64, memory bool, err error) {
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
