package bridge

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// ArrayWriter fills a new array segment with pwrite(2) rather than through
// a mapping, for producers that make the data piece by piece in buffers of
// their own (the text loader). The kernel allocates each page as it is
// written, which costs less than CreateArray's allocating, zeroing and
// mapping every page first, and nothing needs unmapping afterwards. A full
// filesystem is an error from Write wrapping ErrNoSpace, never a SIGBUS.
//
// The segment exists, under its name, from CreateArrayWriter on; Finish
// maps it as an Array, Discard removes it. A producer that learns the
// array's length as it goes (the text loader) starts with a guess and
// corrects it with SetShape.
//
// With the shm_open backend (whose objects take no write(2) and are sized
// once, on macOS) the name is taken at CreateArrayWriter with an empty
// object, the writes go to an unlinked staging file in os.TempDir(), and
// Finish sizes the object and copies the data in: one copy more.
type ArrayWriter struct {
	seg     *Segment
	stage   *os.File // shm_open: where writes go until Finish; nil for dir
	hlen    int64
	nbytes  atomic.Int64 // the data's size, for Write's bounds check
	written atomic.Int64 // data bytes written (callers write each byte once)

	mu     sync.Mutex // SetShape and Finish
	header npy.Header
}

// CreateArrayWriter creates a segment for the array h describes (as
// CreateArray does: an empty name picks a fresh "psm_" name) and writes its
// header. The data reads as zeros until written.
func CreateArrayWriter(name string, h npy.Header) (*ArrayWriter, error) {
	if err := checkNewName(name); err != nil {
		return nil, fmt.Errorf("create array: %w", err)
	}
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("create array %q: %w", name, err)
	}
	size := int64(len(hdr)) + nbytes
	b, err := backend()
	if err != nil {
		return nil, fmt.Errorf("create array %q: %w", name, err)
	}
	if !b.Records() {
		if err := fits(b.SpaceDir(), size); err != nil {
			return nil, fmt.Errorf("create array %q: %w", name, err)
		}
		size = 0 // sized once, at Finish
	}
	seg, err := createNamed(name, size)
	if err != nil {
		return nil, err
	}
	w := &ArrayWriter{seg: seg, header: encodedHeader(h, hdr), hlen: int64(len(hdr))}
	if !b.Records() {
		if w.stage, err = stagingFile(); err != nil {
			seg.discard()
			return nil, fmt.Errorf("create array %q: %w", seg.Name(), err)
		}
	}
	w.nbytes.Store(nbytes)
	if err := w.write(hdr, 0); err != nil {
		seg.discard()
		return nil, fmt.Errorf("create array %q: %w", seg.Name(), err)
	}
	return w, nil
}

// Name is the segment's name.
func (w *ArrayWriter) Name() string { return w.seg.Name() }

// Write writes p at offset off of the array's data. It is safe for
// concurrent use (on different ranges).
func (w *ArrayWriter) Write(p []byte, off int64) error {
	if nbytes := w.nbytes.Load(); off < 0 || off > nbytes || int64(len(p)) > nbytes-off {
		return fmt.Errorf("write array %q: %w: %d bytes at %d of %d", w.seg.Name(), io.ErrShortWrite, len(p), off, nbytes)
	}
	if err := w.write(p, w.hlen+off); err != nil {
		return fmt.Errorf("write array %q: %w", w.seg.Name(), err)
	}
	w.written.Add(int64(len(p)))
	return nil
}

// SetShape gives the array a new shape (same dtype and order) before
// Finish: the header is rewritten and the segment resized to the new data
// size; data past it is cut off. The data keeps its offset, so the new
// header must encode to the same length as the old one. npy pads the
// first dimension's digits to 21 as numpy does (for growing files), so a
// change of that dimension alone always keeps the length; any other change
// may not, and is then an error. Safe to call while Writes run (on ranges
// inside both sizes).
func (w *ArrayWriter) SetShape(shape []int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.header
	h.Shape = shape
	hdr, nbytes, err := encodeImage(h)
	if err == nil && int64(len(hdr)) != w.hlen {
		err = fmt.Errorf("the header would change length (%d to %d bytes)", w.hlen, len(hdr))
	}
	if grow := nbytes - w.nbytes.Load(); err == nil && grow > 0 {
		err = fits(filepath.Dir(w.seg.Path()), grow) // the writes that follow allocate it
	}
	if err == nil {
		err = w.target().Truncate(w.hlen + nbytes)
	}
	if err == nil {
		err = w.write(hdr, 0)
	}
	if err != nil {
		return fmt.Errorf("reshape array %q to %v: %w", w.seg.Name(), shape, err)
	}
	w.header = encodedHeader(h, hdr)
	w.nbytes.Store(nbytes)
	return nil
}

func (w *ArrayWriter) write(p []byte, off int64) error {
	_, err := w.target().WriteAt(p, off)
	return noSpaceAt(err, filepath.Dir(w.target().Name()), w.hlen+w.nbytes.Load())
}

// target is the file the writes go to: the segment's, or the staging file.
func (w *ArrayWriter) target() *os.File {
	if w.stage != nil {
		return w.stage
	}
	return w.seg.file
}

// stagingFile is an unlinked file in os.TempDir() for an ArrayWriter's
// writes (shm_open backend).
func stagingFile() (*os.File, error) {
	f, err := os.CreateTemp("", ".npshm-stage-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// Finish allocates whatever was not written (so that no later access can
// fault on a full filesystem; nothing to do if the writes covered the data,
// each byte once), maps the segment read-write and returns it as an Array
// (which the caller closes). Its pages are mapped as they are first
// touched.
func (w *ArrayWriter) Finish() (*Array, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	nbytes := w.nbytes.Load()
	size := w.hlen + nbytes
	if w.stage != nil {
		return w.finishStaged(size, nbytes)
	}
	if w.written.Load() != nbytes { // else every byte, so every page, is allocated
		if err := osshm.Reserve(w.seg.file, size); err != nil {
			w.Discard()
			return nil, fmt.Errorf("finish array %q: %w", w.seg.Name(), noSpaceAt(err, filepath.Dir(w.seg.Path()), size))
		}
	}
	data, err := mapFile(w.seg.file, size, ReadWrite)
	if err != nil {
		w.Discard()
		return nil, fmt.Errorf("finish array %q: %w", w.seg.Name(), err)
	}
	w.seg.data = data
	return &Array{seg: w.seg, header: w.header, nbytes: nbytes}, nil
}

// finishStaged sizes the shm object once, maps it and copies the staging
// file's image in.
func (w *ArrayWriter) finishStaged(size, nbytes int64) (*Array, error) {
	fail := func(err error) (*Array, error) {
		w.Discard()
		return nil, fmt.Errorf("finish array %q: %w", w.seg.Name(), noSpaceAt(err, w.seg.ns.SpaceDir(), size))
	}
	if err := fits(w.seg.ns.SpaceDir(), size); err != nil {
		return fail(err)
	}
	if err := w.seg.file.Truncate(size); err != nil {
		return fail(err)
	}
	if err := w.seg.mapPopulated(size); err != nil {
		return fail(err)
	}
	if _, err := w.stage.ReadAt(w.seg.data, 0); err != nil && err != io.EOF {
		return fail(err)
	}
	w.stage.Close()
	w.stage = nil
	return &Array{seg: w.seg, header: w.header, nbytes: nbytes}, nil
}

// Discard removes the segment (nothing is left behind).
func (w *ArrayWriter) Discard() {
	if w.stage != nil {
		w.stage.Close()
		w.stage = nil
	}
	w.seg.discard()
}
