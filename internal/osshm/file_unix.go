//go:build linux || darwin

package osshm

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Open opens an existing segment (or .npy) file; every open of a file that
// may already exist goes through it. It refuses what is not a regular file
// with an error wrapping ErrNotRegular that names what it is, and never
// blocks to do so (O_NONBLOCK: opening a FIFO returns at once instead of
// waiting for a writer; on a regular file the flag does nothing).
//
// With follow false (a segment name) it opens with O_NOFOLLOW: a symbolic
// link as the last component, which anyone who may write the directory
// controls, is refused. A .npy path the caller chose is followed, as
// np.load follows it: naming the target directly gives no less access.
//
// Unlike os.OpenFile it does not offer the descriptor to the runtime's
// poller (a wasted syscall for a regular file, on the attach path).
func Open(path string, flag int, follow bool) (*os.File, error) {
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
		return checkRegular(fd, path)
	}
}

// checkRegular returns fd as a file if it is a regular file (or a POSIX
// shm object), else closes it and returns NotRegular.
func checkRegular(fd int, path string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if kind := fileKind(uint32(st.Mode)); kind != "" {
		unix.Close(fd)
		return nil, NotRegular{kind}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// whyNotOpened turns the errors open gives for what is not a regular file
// (ELOOP for a link under O_NOFOLLOW, EISDIR, ENXIO for a socket, ...) into
// NotRegular naming it; other errors are returned as they are.
func whyNotOpened(path string, err error) error {
	switch err {
	case unix.ELOOP, unix.EISDIR, unix.ENXIO, unix.ENODEV, unix.EOPNOTSUPP:
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil {
			if kind := fileKind(uint32(st.Mode)); kind != "" {
				return NotRegular{kind}
			}
		}
	}
	return err
}

// Stat is what fstat says of an open file. gc's unlink, or a republish
// renaming a new array over the name, leaves a file we opened unlinked.
func Stat(f *os.File) (State, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return State{}, err
	}
	return stateFrom(&st), nil
}

// Lstat is what lstat says of path (a link is not followed).
func Lstat(path string) (State, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return State{}, err
	}
	return stateFrom(&st), nil
}

func stateFrom(st *unix.Stat_t) State {
	return State{Kind: fileKind(uint32(st.Mode)), Size: st.Size, Allocated: int64(st.Blocks) * 512,
		Linked: st.Nlink > 0, Dev: uint64(st.Dev), Ino: st.Ino}
}

// SameFile reports whether path still names the file open as f (gc checks
// this while it holds the exclusive lock, just before unlinking). A link at
// path is not followed: it is not the file.
func SameFile(f *os.File, path string) bool {
	a, err1 := Stat(f)
	b, err2 := Lstat(path)
	return err1 == nil && err2 == nil && a.Same(b)
}

// Map maps size bytes of f shared, read-only or read-write. size must fit
// an int (the caller checks).
func Map(f *os.File, size int64, writable bool) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return b, nil
}

// Unmap unmaps b (nil does nothing).
func Unmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// LockShared takes a shared flock on f, waiting if gc holds it exclusively
// (which it does only for a moment). The lock lives as long as the open
// file, so it marks the segment in use until Close or process death.
func LockShared(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if err != unix.EINTR {
			return err
		}
	}
}

// TryLockShared takes a shared flock on f if it can now, without waiting:
// false if another process holds f exclusively (bridge waits for that a
// bounded time).
func TryLockShared(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		}
		return err == nil, err
	}
}

// TryLockExclusive reports whether f could be locked exclusively now, that
// is, whether no process holds the segment.
func TryLockExclusive(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// Rights is the SCM_RIGHTS control message carrying f.
func Rights(f *os.File) []byte { return unix.UnixRights(int(f.Fd())) }

// FileFromRights returns the one file descriptor an SCM_RIGHTS control
// message carries; any other count is an error, and all are closed.
func FileFromRights(oob []byte) (*os.File, error) {
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

// Truncated reports whether a ReadMsgUnix's flags say control data was cut
// (more descriptors than fit: the kernel closed the rest).
func Truncated(flags int) bool { return flags&syscall.MSG_CTRUNC != 0 }

// Inode is the inode number of a stat result.
func Inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// RemoveFile unlinks path, never a directory (which os.Remove would remove
// if empty): a name in the segment directory is not ours to rmdir.
func RemoveFile(path string) error {
	if err := unix.Unlink(path); err != nil {
		if err == unix.EISDIR {
			err = NotRegular{"a directory"}
		}
		return &os.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// SetXattr sets a user attribute; filesystems without xattrs are ignored
// (lifecycle information is then unknown and gc leaves the file alone).
func SetXattr(f *os.File, key, value string) error {
	err := unix.Fsetxattr(int(f.Fd()), key, []byte(value), 0)
	if xattrUnusable(err) {
		return nil
	}
	return err
}

// GetXattr reads a user attribute of path (a link is not followed);
// missing is ("", nil).
func GetXattr(path, key string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, key, buf)
	switch {
	case errors.Is(err, errNoXattr), xattrUnusable(err):
		return "", nil
	case err != nil:
		return "", err
	}
	return string(buf[:n]), nil
}

func xattrUnusable(err error) bool {
	for _, e := range errsXattrUnusable {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
