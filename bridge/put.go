package bridge

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Put copies a .npy stream (a file, a pipe) into shared memory and
// publishes it as name (see Array.Publish): written under a temporary name
// first, then renamed, so readers of name never see a partial array and a
// republish replaces it atomically. An empty name picks a fresh "psm_"
// name. The segment holds the header as it was, then the data, so it is
// byte-identical to a .npy file that holds nothing after its data, and it
// is persistent, as published arrays are. Data is written with
// write(2)-family calls (copy_file_range or sendfile when src is a file),
// which fills tmpfs without page-fault overhead. If src is short or anything
// fails, nothing is left behind.
func Put(name string, src io.Reader) (*Array, error) {
	if err := checkNewName(name); err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	raw, err := npy.ReadRawHeader(src)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	h, err := npy.ParseHeader(raw)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	nbytes, err := h.NBytes()
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	size := int64(len(raw)) + nbytes
	b, err := backend()
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	if !b.CanRename() {
		return putInPlace(name, src, raw, h, nbytes)
	}
	seg, err := createNamed(namespace.TempName(), size)
	if err != nil {
		return nil, fmt.Errorf("put %q: %w", cmp.Or(name, "(new name)"), err)
	}
	a := &Array{seg: seg, header: h, nbytes: nbytes}
	fail := func(err error) (*Array, error) {
		seg.discard()
		return nil, fmt.Errorf("put %q: %w", cmp.Or(name, "(new name)"), noSpaceAt(err, Dir(), size))
	}
	if f, ok := src.(*os.File); ok && isRegular(f) {
		// A file: copy it on every core straight into the populated mapping.
		if seg.data, err = mapFile(seg.file, size, ReadWrite); err != nil {
			return fail(err)
		}
		if err := copyFileInto(seg.data, f, nbytes, len(raw)); err != nil {
			return fail(err)
		}
	} else {
		if err := writeImage(seg.file, raw, src, nbytes); err != nil {
			return fail(err)
		}
		if seg.data, err = mapFile(seg.file, size, ReadWrite); err != nil {
			return fail(err)
		}
	}
	if name != "" {
		err = a.Publish(name)
	} else {
		for attempt := 0; attempt < 100; attempt++ {
			if err = a.PublishNew(NewName()); !errors.Is(err, os.ErrExist) {
				break
			}
		}
	}
	if err != nil {
		return fail(err)
	}
	return a, nil
}

// putInPlace is Put for a backend that cannot rename (shm_open): the
// segment is created under name (replacing what is there; a fresh name if
// empty) and filled through its mapping (shm objects take no write(2) on
// macOS), the first byte of its header written last, so a reader that
// attaches before is refused (not an npy image) rather than handed a
// half-filled array.
func putInPlace(name string, src io.Reader, raw []byte, h npy.Header, nbytes int64) (*Array, error) {
	size := int64(len(raw)) + nbytes
	if f, ok := src.(*os.File); ok && isRegular(f) {
		// a short file fails before the name is touched: creating it
		// in place would first unlink the array published there
		if st, err := f.Stat(); err == nil && st.Size() < size {
			return nil, fmt.Errorf("put %q: %w: input has %d of %d data bytes",
				cmp.Or(name, "(new name)"), ErrTruncated, max(st.Size()-int64(len(raw)), 0), nbytes)
		}
	}
	var seg *Segment
	var err error
	if name == "" {
		seg, err = createSegment("", size)
	} else {
		seg, err = createReplacing(name, size)
	}
	if err != nil {
		return nil, fmt.Errorf("put %q: %w", cmp.Or(name, "(new name)"), err)
	}
	copy(seg.data[1:], raw[1:])
	n, err := io.ReadFull(src, seg.data[len(raw):])
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: input has %d of %d data bytes", ErrTruncated, n, nbytes)
	}
	if err != nil {
		seg.discard()
		return nil, fmt.Errorf("put %q: %w", cmp.Or(name, "(new name)"), err)
	}
	seg.data[0] = raw[0]
	return &Array{seg: seg, header: h, nbytes: nbytes}, nil
}

func isRegular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

// copyFileInto copies a .npy file, whose header is hlen bytes, into dst (a
// fresh shared mapping of the same size): chunks are populated (allocated,
// ENOSPC-safe) and read into with pread on every core.
func copyFileInto(dst []byte, src *os.File, nbytes int64, hlen int) error {
	size := int64(len(dst))
	if st, err := src.Stat(); err != nil {
		return err
	} else if st.Size() < size {
		return fmt.Errorf("%w: input has %d of %d data bytes", ErrTruncated, st.Size()-int64(hlen), nbytes)
	}
	return inChunks(size, 16<<20, func(lo, hi int64) error {
		if err := osshm.PopulateRange(dst[lo:hi]); err != nil && !errors.Is(err, osshm.ErrNoPopulate) {
			return err
		}
		if _, err := src.ReadAt(dst[lo:hi], lo); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: input ends before its %d data bytes", ErrTruncated, nbytes)
			}
			return err
		}
		return nil
	})
}

func writeImage(f *os.File, header []byte, src io.Reader, nbytes int64) error {
	if _, err := f.WriteAt(header, 0); err != nil {
		return err
	}
	if _, err := f.Seek(int64(len(header)), io.SeekStart); err != nil {
		return err
	}
	n, err := f.ReadFrom(io.LimitReader(src, nbytes))
	if err != nil {
		return err
	}
	if n != nbytes {
		return fmt.Errorf("%w: input has %d of %d data bytes", ErrTruncated, n, nbytes)
	}
	return nil
}
