package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

const (
	// Magic starts every .npy image.
	Magic = "\x93NUMPY"
	// Align is the multiple numpy pads the header to, so the data that
	// follows is aligned for any dtype and for page-aligned mapping.
	Align = 64
	// DefaultMaxHeaderSize caps the header text, as numpy's max_header_size.
	DefaultMaxHeaderSize = 10000
	// growthAxisMaxDigits is numpy's room left after the dict so the growth
	// axis of the shape can be rewritten in place.
	growthAxisMaxDigits = 21
	// prefixLen is the magic plus the two version bytes.
	prefixLen = len(Magic) + 2
)

// Version is a .npy format version: 1.0, 2.0 or 3.0.
type Version struct{ Major, Minor uint8 }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// lenBytes is the width of the header-length field; utf8 reports whether the
// header text is UTF-8 (3.0) rather than Latin-1.
func (v Version) layout() (lenBytes int, utf8 bool, ok bool) {
	switch v {
	case Version{1, 0}:
		return 2, false, true
	case Version{2, 0}:
		return 4, false, true
	case Version{3, 0}:
		return 4, true, true
	}
	return 0, false, false
}

// Header is the description at the start of a .npy image.
type Header struct {
	DType        DType
	FortranOrder bool
	Shape        []int // never nil after ParseHeader; empty for a 0-d array
	// Version is the format version read by ParseHeader; Encode ignores it
	// and picks the version numpy would.
	Version Version
	// DataOffset is where the data starts, set by ParseHeader.
	DataOffset int
}

// MaxDims is the most dimensions an array may have: numpy 2's limit
// (numpy 1.x allows 32).
const MaxDims = 64

// Len is the number of elements: the product of Shape (1 for a 0-d array).
// It fails if Shape has a negative dimension, more than MaxDims of them, or
// a product beyond 2^63.
func (h Header) Len() (int64, error) {
	if len(h.Shape) > MaxDims {
		return 0, fmt.Errorf("%w: %d dimensions (numpy allows %d)", ErrShape, len(h.Shape), MaxDims)
	}
	n := int64(1)
	for _, d := range h.Shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension %d", ErrShape, d)
		}
		if d == 0 {
			n = 0
		}
	}
	for _, d := range h.Shape {
		if n == 0 {
			break
		}
		if n > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("%w: %s has more than 2^63 elements", ErrShape, pyTuple(h.Shape))
		}
		n *= int64(d)
	}
	return n, nil
}

// NBytes is the size of the data: Len() times the itemsize, checked for
// overflow as numpy checks it (zero dimensions count as 1, so numpy's
// (0, 2**62, 4) of '<f8' is refused too). It fails with ErrObject for
// object dtypes, whose data is pickled.
func (h Header) NBytes() (int64, error) {
	n, err := h.Len()
	if err != nil {
		return 0, err
	}
	if h.DType.HasObject() {
		return 0, ErrObject
	}
	check := int64(h.DType.Size)
	for _, d := range h.Shape {
		if d != 0 && check > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("%w: %s of %s is more than 2^63 bytes", ErrShape, pyTuple(h.Shape), h.DType)
		}
		check *= int64(max(d, 1))
	}
	return n * int64(h.DType.Size), nil
}

// dictText is the header dict exactly as numpy's writer formats it, with the
// spare room for the growth axis.
func (h Header) dictText() string {
	s := "{'descr': " + h.DType.Descr() + ", 'fortran_order': " + pyBool(h.FortranOrder) +
		", 'shape': " + pyTuple(h.Shape) + ", }"
	if len(h.Shape) > 0 {
		axis := h.Shape[0]
		if h.FortranOrder {
			axis = h.Shape[len(h.Shape)-1]
		}
		if pad := growthAxisMaxDigits - len(fmt.Sprint(axis)); pad > 0 {
			s += string(bytes.Repeat([]byte{' '}, pad))
		}
	}
	return s
}

// Encode returns the header bytes numpy (>= 1.24) writes for this dtype,
// order and shape: magic, version, length, dict, spaces and a newline, so
// that the data starts at a multiple of Align. The version is the lowest of
// 1.0, 2.0, 3.0 that can hold the header, as numpy picks it.
func (h Header) Encode() ([]byte, error) {
	if err := h.DType.valid(); err != nil {
		return nil, err
	}
	if _, err := h.Len(); err != nil {
		return nil, err
	}
	text := h.dictText()
	for _, v := range []Version{{1, 0}, {2, 0}, {3, 0}} {
		if b, ok := wrapHeader(text, v); ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: header of %d bytes does not fit any version", ErrHeaderTooLarge, len(text))
}

func wrapHeader(text string, v Version) ([]byte, bool) {
	lenBytes, isUTF8, _ := v.layout()
	body := []byte(text)
	if !isUTF8 {
		var ok bool
		if body, ok = latin1(text); !ok {
			return nil, false
		}
	}
	hlen := len(body) + 1 // the final newline
	pad := Align - (prefixLen+lenBytes+hlen)%Align
	total := hlen + pad
	if lenBytes == 2 && total > math.MaxUint16 || total > math.MaxUint32 {
		return nil, false
	}
	out := make([]byte, 0, prefixLen+lenBytes+total)
	out = append(out, Magic...)
	out = append(out, v.Major, v.Minor)
	if lenBytes == 2 {
		out = binary.LittleEndian.AppendUint16(out, uint16(total))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(total))
	}
	out = append(out, body...)
	out = append(out, bytes.Repeat([]byte{' '}, pad)...)
	return append(out, '\n'), true
}

// HeaderLen returns the number of bytes the whole header (magic, version,
// length field and text) occupies, from the first 12 bytes of an image
// (10 suffice for version 1.0). It checks only the magic and version.
func HeaderLen(prefix []byte) (int, error) {
	if len(prefix) < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), prefix) {
			return 0, fmt.Errorf("%w: %d bytes", ErrTruncated, len(prefix))
		}
		return 0, ErrNotNpy
	}
	if string(prefix[:len(Magic)]) != Magic {
		return 0, ErrNotNpy
	}
	if len(prefix) < prefixLen {
		return 0, fmt.Errorf("%w: no version", ErrTruncated)
	}
	v := Version{prefix[6], prefix[7]}
	lenBytes, _, ok := v.layout()
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrVersion, v)
	}
	if len(prefix) < prefixLen+lenBytes {
		return 0, fmt.Errorf("%w: no header length", ErrTruncated)
	}
	var n uint64
	if lenBytes == 2 {
		n = uint64(binary.LittleEndian.Uint16(prefix[prefixLen:]))
	} else {
		n = uint64(binary.LittleEndian.Uint32(prefix[prefixLen:]))
	}
	return prefixLen + lenBytes + int(n), nil
}

// ParseHeader parses the header at the start of b (b may run on into the
// data), with numpy's default cap of DefaultMaxHeaderSize characters.
func ParseHeader(b []byte) (Header, error) { return ParseHeaderLimit(b, DefaultMaxHeaderSize) }

// ParseHeaderLimit is ParseHeader with a cap of maxSize header characters.
// The header must be a Python literal dict with exactly the keys descr,
// fortran_order and shape; it is parsed, never evaluated. On error the
// Header is the zero value.
func ParseHeaderLimit(b []byte, maxSize int) (Header, error) {
	h, err := parseHeader(b, maxSize)
	if err != nil {
		return Header{}, err
	}
	return h, nil
}

func parseHeader(b []byte, maxSize int) (Header, error) {
	total, err := HeaderLen(b)
	if err != nil {
		return Header{}, err
	}
	v := Version{b[6], b[7]}
	lenBytes, isUTF8, _ := v.layout()
	textLen := total - prefixLen - lenBytes
	if textLen > 4*maxSize { // no header this long can have <= maxSize characters
		return Header{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrHeaderTooLarge, textLen, maxSize)
	}
	if len(b) < total {
		return Header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, total, len(b))
	}
	raw := b[prefixLen+lenBytes : total]
	var text string
	if isUTF8 {
		if !utf8.Valid(raw) {
			return Header{}, fmt.Errorf("%w: header is not valid UTF-8", ErrSyntax)
		}
		text = string(raw)
	} else {
		text = fromLatin1(raw)
	}
	if n := utf8.RuneCountInString(text); n > maxSize {
		return Header{}, fmt.Errorf("%w: %d characters (limit %d)", ErrHeaderTooLarge, n, maxSize)
	}
	d, err := parseLiteral(text, v.Major < 3)
	if err != nil {
		return Header{}, err
	}
	if d.kind != litDict {
		return Header{}, fmt.Errorf("%w: header is a %v, not a dict", ErrSyntax, d.kind)
	}
	var vals [3]*lit
	for i, k := range d.elems {
		idx := -1
		if k.kind == litStr {
			switch k.str {
			case "descr":
				idx = 0
			case "fortran_order":
				idx = 1
			case "shape":
				idx = 2
			}
		}
		if idx < 0 { // a repeated key is allowed: the last one counts, as in Python
			return Header{}, fmt.Errorf("%w: want exactly 'descr', 'fortran_order', 'shape'; found %s", ErrKeys, keyList(d.elems))
		}
		vals[idx] = &d.vals[i]
	}
	if vals[0] == nil || vals[1] == nil || vals[2] == nil {
		return Header{}, fmt.Errorf("%w: want exactly 'descr', 'fortran_order', 'shape'; found %s", ErrKeys, keyList(d.elems))
	}
	h := Header{Version: v, DataOffset: total}
	if h.DType, err = dtypeFromLit(*vals[0]); err != nil {
		return Header{}, err
	}
	if vals[1].kind != litBool {
		return Header{}, fmt.Errorf("%w: fortran_order is a %v, want True or False", ErrSyntax, vals[1].kind)
	}
	h.FortranOrder = vals[1].truth
	if h.Shape, err = shapeFromLit(*vals[2]); err != nil {
		return Header{}, err
	}
	if _, err := h.Len(); err != nil {
		return Header{}, err
	}
	if !h.DType.HasObject() {
		if _, err := h.NBytes(); err != nil {
			return Header{}, err
		}
	}
	return h, nil
}

func keyList(keys []lit) string {
	s := "["
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		if k.kind == litStr {
			s += pyStr(k.str)
		} else {
			s += k.kind.String()
		}
	}
	return s + "]"
}

// ReadHeader reads and parses a header from r, leaving r at the data.
func ReadHeader(r io.Reader) (Header, error) {
	raw, err := ReadRawHeader(r)
	if err != nil {
		return Header{}, err
	}
	return ParseHeader(raw)
}

// ReadRawHeader reads the header bytes (magic to newline) from r, leaving r
// at the data. It checks the magic, version and length cap, not the text.
func ReadRawHeader(r io.Reader) ([]byte, error) {
	buf := make([]byte, prefixLen, prefixLen+4)
	if n, err := io.ReadFull(r, buf); err != nil {
		if _, e := HeaderLen(buf[:n]); errors.Is(e, ErrNotNpy) {
			return nil, e
		}
		return nil, readErr(err)
	}
	if _, err := HeaderLen(buf); !errors.Is(err, ErrTruncated) { // magic and version
		return nil, err
	}
	lenBytes, _, _ := Version{buf[6], buf[7]}.layout()
	buf = buf[:prefixLen+lenBytes]
	if _, err := io.ReadFull(r, buf[prefixLen:]); err != nil {
		return nil, readErr(err)
	}
	total, err := HeaderLen(buf)
	if err != nil {
		return nil, err
	}
	if total-len(buf) > 4*DefaultMaxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrHeaderTooLarge, total-len(buf), DefaultMaxHeaderSize)
	}
	full := make([]byte, total)
	copy(full, buf)
	if _, err := io.ReadFull(r, full[len(buf):]); err != nil {
		return nil, readErr(err)
	}
	return full, nil
}

func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: input ends inside the header", ErrTruncated)
	}
	return err
}
