package loader

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// Views of memory without Go's slice checks, for the row kernel: a chunk's
// text (text), its rows (record), and a field as a string (stringView).
// This file and the C kernel's Go side (kernel_cgo.go) are the loader's
// only unsafe code.

// text is a chunk's bytes for the row kernel's loads: one comparison per
// load instead of a slice expression and its checks (about ten
// instructions, and registers the hot loop needs). Every access is still
// checked; the scanner's invariant (a line is read only up to 8 bytes past
// its '\n', and pad bytes follow it) keeps them from failing, and under
// -race checkptr verifies each one against the allocation.
type text struct {
	base unsafe.Pointer
	n    int
}

func textOf(b []byte) text { return text{unsafe.Pointer(unsafe.SliceData(b)), len(b)} }

// word is the 8 bytes at p.
func (t text) word(p int) uint64 {
	if uint(p)+8 > uint(t.n) {
		panic(errTextBounds)
	}
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(t.base, p))[:])
}

// at is the byte at p.
func (t text) at(p int) byte {
	if uint(p) >= uint(t.n) {
		panic(errTextBounds)
	}
	return *(*byte)(unsafe.Add(t.base, p))
}

var errTextBounds = errors.New("loader: read past the text (a bug)")

// record is one output row, written the same way.
type record struct {
	base unsafe.Pointer
	n    int
}

func recordOf(b []byte) record { return record{unsafe.Pointer(unsafe.SliceData(b)), len(b)} }

func (r record) check(off, size int) {
	if uint(off)+uint(size) > uint(r.n) {
		panic(errTextBounds)
	}
}

func (r record) put8(off int, v byte) {
	r.check(off, 1)
	*(*byte)(unsafe.Add(r.base, off)) = v
}

func (r record) put16(off int, v uint16) {
	r.check(off, 2)
	binary.LittleEndian.PutUint16((*[2]byte)(unsafe.Add(r.base, off))[:], v)
}

func (r record) put32(off int, v uint32) {
	r.check(off, 4)
	binary.LittleEndian.PutUint32((*[4]byte)(unsafe.Add(r.base, off))[:], v)
}

func (r record) put64(off int, v uint64) {
	r.check(off, 8)
	binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(r.base, off))[:], v)
}

// stringView is b as a string, without a copy: for calls that only read it
// while b does not change (strconv.ParseFloat, which copies what it keeps).
func stringView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
