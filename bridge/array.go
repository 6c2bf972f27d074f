package bridge

import (
	"fmt"
	"io"
	"os"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Array is a segment (or file) holding one .npy image: numpy's header, then
// the data at a 64-byte-aligned offset. The bytes are exactly what np.save
// writes, so numpy maps them with np.load(path, mmap_mode='r') as well as
// with the npshm Python package, and Python's SharedMemory(name) attaches.
//
// Close and Unlink follow Segment's rules: everyone closes, the owner
// unlinks.
type Array struct {
	seg    *Segment
	header npy.Header
	nbytes int64
}

// CreateArray creates a segment holding a zero-filled array described by h
// (dtype, shape, order; Version and DataOffset are ignored). An empty name
// picks a fresh "psm_" name. The segment is mapped read-write.
//
// As with CreateSegment, a request that cannot fit is refused at once, with
// the fix in the message, and names beginning with ".npshm-tmp-" are
// reserved for npshm's temporaries.
func CreateArray(name string, h npy.Header) (*Array, error) {
	if err := checkNewName(name); err != nil {
		return nil, fmt.Errorf("create array: %w", err)
	}
	return createArray(name, h)
}

// createArray is CreateArray for any name, temporaries included.
func createArray(name string, h npy.Header) (*Array, error) {
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("create array %q: %w", name, err)
	}
	seg, err := createSegment(name, int64(len(hdr))+nbytes)
	if err != nil {
		return nil, err
	}
	return fillHeader(seg, hdr, h, nbytes), nil
}

// CreateFile is CreateArray for a .npy file at path (created exclusively,
// 0600, its blocks reserved with fallocate but not read into memory), for
// arrays kept on disk or bigger than RAM.
func CreateFile(path string, h npy.Header) (*Array, error) {
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	size := int64(len(hdr)) + nbytes
	f, err := createFile(path, size)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	seg := newSegment(path, path, ReadWrite, true, f, "")
	if err := osshm.Reserve(f, size); err != nil {
		seg.discard()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if seg.data, err = mapFile(f, size, ReadWrite); err != nil {
		seg.discard()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return fillHeader(seg, hdr, h, nbytes), nil
}

func encodeImage(h npy.Header) (hdr []byte, nbytes int64, err error) {
	if hdr, err = h.Encode(); err != nil {
		return nil, 0, err
	}
	if nbytes, err = h.NBytes(); err != nil {
		return nil, 0, err
	}
	if nbytes > maxSegment-int64(len(hdr)) {
		return nil, 0, fmt.Errorf("%w: %d data bytes", ErrInvalidSize, nbytes)
	}
	return hdr, nbytes, nil
}

const maxSegment = int64(^uint(0) >> 1)

func fillHeader(seg *Segment, hdr []byte, h npy.Header, nbytes int64) *Array {
	copy(seg.data, hdr)
	return &Array{seg: seg, header: encodedHeader(h, hdr), nbytes: nbytes}
}

// encodedHeader is h as encoded into hdr: its own copy of the shape, the
// version and data offset the encoding chose.
func encodedHeader(h npy.Header, hdr []byte) npy.Header {
	h.Shape = append([]int{}, h.Shape...)
	h.Version = npy.Version{Major: hdr[6], Minor: hdr[7]}
	h.DataOffset = len(hdr)
	return h
}

// OpenArray maps the named segment and checks that it holds an npy image
// whose data fits inside it. A missing name wraps os.ErrNotExist; a bad
// image wraps an npy sentinel or ErrTruncated.
func OpenArray(name string, mode Mode) (*Array, error) {
	seg, err := OpenSegment(name, mode)
	if err != nil {
		return nil, err
	}
	a, err := newArray(seg)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("open array %q: %w", seg.Name(), err)
	}
	return a, nil
}

// OpenFile maps a .npy file in place, as np.load(path, mmap_mode) does. A
// symbolic link at path is followed (a segment name's is not); a FIFO,
// directory or device is refused with ErrNotRegular.
func OpenFile(path string, mode Mode) (*Array, error) {
	seg, err := openPath(path, path, mode, true)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	a, err := newArray(seg)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return a, nil
}

func newArray(seg *Segment) (*Array, error) {
	var h npy.Header
	var err error
	if seg.ns == namespace.ShmOpen {
		h, err = headerFromMapping(seg.data)
	} else {
		h, err = readHeader(seg.file)
	}
	if err != nil {
		return nil, err
	}
	nbytes, err := h.NBytes()
	if err != nil {
		return nil, err
	}
	if avail := int64(len(seg.data) - h.DataOffset); h.DataOffset > len(seg.data) || nbytes > avail {
		return nil, fmt.Errorf("%w: %s %s needs %d data bytes after a %d-byte header, segment is %d bytes",
			ErrTruncated, h.DType, shapeString(h.Shape), nbytes, h.DataOffset, len(seg.data))
	}
	if seg.ns == namespace.ShmOpen {
		// the size fstat gave is page-rounded (macOS): the header says where
		// the array ends. The capacity is kept, so Close unmaps it all.
		seg.data = seg.data[:int64(h.DataOffset)+nbytes]
	}
	return &Array{seg: seg, header: h, nbytes: nbytes}, nil
}

// headerFromMapping parses the header at the start of a mapping: shm_open
// objects cannot be read with pread on macOS. The mapping covers whole
// pages of the object, so reading any of it cannot fault.
func headerFromMapping(b []byte) (npy.Header, error) {
	if len(b) == 0 { // being published in place (not an npy image yet), or truncated, as the dir backend says
		return npy.Header{}, fmt.Errorf("%w: segment is empty (%w)", npy.ErrNotNpy, npy.ErrTruncated)
	}
	total, err := npy.HeaderLen(b)
	if err == nil && total < len(b) {
		b = b[:total]
	}
	return npy.ParseHeader(b)
}

// readHeader reads and parses the header with pread, not through the
// mapping: attaching then takes no page fault, and a segment truncated by
// someone else is a short read rather than a SIGBUS.
func readHeader(f *os.File) (npy.Header, error) {
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return npy.Header{}, err
	}
	total, err := npy.HeaderLen(buf[:n])
	if err == nil && total > n && n == len(buf) && total <= 12+4*npy.DefaultMaxHeaderSize {
		buf = make([]byte, total)
		if n, err = f.ReadAt(buf, 0); err != nil && err != io.EOF {
			return npy.Header{}, err
		}
	}
	return npy.ParseHeader(buf[:n])
}

func shapeString(s []int) string { return fmt.Sprint(s) }

// Header describes the array: dtype, order, shape, and where data starts.
func (a *Array) Header() npy.Header {
	h := a.header
	h.Shape = append([]int{}, h.Shape...)
	return h
}

// DType is the array's element type; for records its Fields give each
// field's offset and size within an element.
func (a *Array) DType() npy.DType { return a.header.DType }

// Shape is the array's shape (a copy).
func (a *Array) Shape() []int { return append([]int{}, a.header.Shape...) }

// Len is the number of elements.
func (a *Array) Len() int {
	if a.header.DType.Size == 0 {
		n, _ := a.header.Len()
		return int(n)
	}
	return int(a.nbytes / int64(a.header.DType.Size))
}

// Name is the segment's name (the path, for a file).
func (a *Array) Name() string { return a.seg.Name() }

// Segment is the mapping behind the array.
func (a *Array) Segment() *Segment { return a.seg }

// Data is the array's bytes in its order (C, or Fortran when the header
// says so): Len() elements of DType().Size bytes. nil after Close.
func (a *Array) Data() []byte {
	b := a.seg.Bytes()
	if b == nil {
		return nil
	}
	off := int64(a.header.DataOffset)
	return b[off : off+a.nbytes : off+a.nbytes]
}

// Image is the whole .npy image: header and data, as np.save writes it.
func (a *Array) Image() []byte {
	b := a.seg.Bytes()
	if b == nil {
		return nil
	}
	end := int64(a.header.DataOffset) + a.nbytes
	return b[:end:end]
}

// Descriptor describes the array for another process.
func (a *Array) Descriptor() Descriptor {
	id := a.seg.id.Load() // name and path from the same publish
	d := Descriptor{
		Name:         id.name,
		DType:        a.header.DType,
		Shape:        a.Shape(),
		FortranOrder: a.header.FortranOrder,
		Offset:       int64(a.header.DataOffset),
		NBytes:       a.nbytes,
		Size:         int64(a.header.DataOffset) + a.nbytes,
	}
	if b := a.seg.Bytes(); b != nil {
		d.Size = int64(len(b))
	}
	switch {
	case id.path == "":
		d.Anonymous = true
	case a.seg.ns == "" || id.path != a.seg.ns.Path(id.name):
		d.Path = id.path
	}
	return d
}

// Close unmaps the array. It does not unlink; calling it again does nothing.
func (a *Array) Close() error { return a.seg.Close() }

// Unlink removes the array's name (or file). Mapped views stay valid until
// closed.
func (a *Array) Unlink() error { return a.seg.Unlink() }

// checkOpen returns os.ErrClosed after Close.
func (a *Array) checkOpen() error {
	if a.seg.Bytes() == nil {
		return fmt.Errorf("array %q: %w", a.seg.Name(), os.ErrClosed)
	}
	return nil
}
