package bridge

import (
	"fmt"
	"io"
	"os"

	"github.com/npshm/npshm/npy"
)

// Put copies a .npy stream (a file, a pipe) into a new segment: the header
// as it is, then the data, so the segment is byte-identical to a .npy file
// that holds nothing after its data. An empty name picks a fresh "psm_"
// name. Data is written with write(2)-family calls (copy_file_range or
// sendfile when src is a file), which fills tmpfs without page-fault
// overhead. If src is short or anything fails, the segment is removed:
// nothing half-written is left under the name.
func Put(name string, src io.Reader) (*Array, error) {
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
	seg, err := createNamed(name, func(path string) (*os.File, error) { return createFile(path, size) })
	if err != nil {
		return nil, err
	}
	if err := writeImage(seg.file, raw, src, nbytes); err != nil {
		seg.discard()
		return nil, fmt.Errorf("put %q: %w", seg.name, err)
	}
	if seg.data, err = mapFile(seg.file, size, ReadWrite); err != nil {
		seg.discard()
		return nil, fmt.Errorf("put %q: %w", seg.name, err)
	}
	return &Array{seg: seg, header: h, nbytes: nbytes}, nil
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
