//go:build linux

package bridge

// The only file in the package that makes system calls directly.

import (
	"errors"
	"fmt"
	"os"

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
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EFBIG), errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return f.Truncate(size)
	}
	return err
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
