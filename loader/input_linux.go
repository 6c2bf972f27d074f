//go:build linux

package loader

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapInput maps a plain file read-only (its pages come from the page cache,
// no copy); release unmaps it.
func mapInput(f *os.File, size int64) (data []byte, release func(), err error) {
	if size == 0 {
		return nil, func() {}, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	unix.Madvise(b, unix.MADV_SEQUENTIAL)
	return b, func() { unix.Munmap(b) }, nil
}
