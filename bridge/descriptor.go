package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"reflect"
	"strings"

	"github.com/npshm/npshm/npy"
)

// Descriptor tells another process where an array is and what it holds. It
// travels as one line of JSON, e.g.
//
//	{"name":"psm_1a2b3c4d","dtype":"<f8","shape":[1000,3],"fortran_order":false,"offset":128,"nbytes":24000,"size":24128}
//
// dtype is numpy's descr: a type string, or for a record a list of
// [name, dtype] and [name, dtype, shape] entries. offset is where the data
// starts in the segment, nbytes the data's length and size the segment's.
// path is present only for an array in a file outside the segment
// directory. The header in the segment stays the authority: opening by
// descriptor checks that they agree.
type Descriptor struct {
	Name string `json:"name"`
	Path string `json:"path,omitempty"`
	// Anonymous marks a memfd-backed array handed over a socket (Send):
	// it has no name or path; the file descriptor travels with it.
	Anonymous    bool      `json:"anonymous,omitempty"`
	DType        npy.DType `json:"dtype"`
	Shape        []int     `json:"shape"`
	FortranOrder bool      `json:"fortran_order"`
	Offset       int64     `json:"offset"`
	NBytes       int64     `json:"nbytes"`
	Size         int64     `json:"size"`
}

// String is the descriptor as one JSON line (no newline).
func (d Descriptor) String() string {
	if d.Shape == nil {
		d.Shape = []int{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil { // a DType made by npy always marshals
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ReadDescriptors reads descriptor JSON lines from r (a child's stdout, a
// pipe) until EOF, yielding each with its parse error; blank lines are
// skipped. Write them with fmt.Fprintln(w, a.Descriptor()).
func ReadDescriptors(r io.Reader) iter.Seq2[Descriptor, error] {
	return func(yield func(Descriptor, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if !yield(ParseDescriptor(sc.Bytes())) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(Descriptor{}, err)
		}
	}
}

// ParseDescriptor reads a descriptor from JSON and checks its fields.
func ParseDescriptor(b []byte) (Descriptor, error) {
	var d Descriptor
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return Descriptor{}, fmt.Errorf("%w: %v", ErrDescriptor, err)
	}
	if d.Path == "" && !d.Anonymous {
		if _, err := CleanName(d.Name); err != nil {
			return Descriptor{}, fmt.Errorf("%w: %w", ErrDescriptor, err)
		}
	}
	h := npy.Header{DType: d.DType, Shape: d.Shape}
	if d.Shape == nil {
		return Descriptor{}, fmt.Errorf("%w: no shape", ErrDescriptor)
	}
	if n, err := h.NBytes(); err != nil || n != d.NBytes || d.Offset < 0 || d.Offset > d.Size-d.NBytes {
		return Descriptor{}, fmt.Errorf("%w: dtype, shape, offset, nbytes and size disagree", ErrDescriptor)
	}
	return d, nil
}

// OpenDescriptor opens the array a descriptor names (its path if it has
// one) and checks that the segment's header matches it, so a stale
// descriptor for a reused name is an error, not a misread.
func OpenDescriptor(d Descriptor, mode Mode) (*Array, error) {
	var a *Array
	var err error
	if d.Path != "" {
		a, err = OpenFile(d.Path, mode)
	} else {
		a, err = OpenArray(d.Name, mode)
	}
	if err != nil {
		return nil, err
	}
	if err := checkDescriptor(a, d); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// checkDescriptor fails with ErrDescriptor unless the array's header is the
// one the descriptor describes; the message names each field that differs,
// with both values.
func checkDescriptor(a *Array, d Descriptor) error {
	h := a.header
	var diffs []string
	differ := func(field string, same bool, says, holds any) {
		if !same {
			diffs = append(diffs, fmt.Sprintf("descriptor says %s %v, segment holds %s %v", field, says, field, holds))
		}
	}
	differ("dtype", h.DType.Equal(d.DType), d.DType, h.DType)
	differ("shape", reflect.DeepEqual(h.Shape, d.Shape), d.Shape, h.Shape)
	differ("fortran_order", h.FortranOrder == d.FortranOrder, d.FortranOrder, h.FortranOrder)
	differ("offset", int64(h.DataOffset) == d.Offset, d.Offset, h.DataOffset)
	differ("nbytes", a.nbytes == d.NBytes, d.NBytes, a.nbytes)
	if diffs != nil {
		return fmt.Errorf("%q: %w: %s", d.Name, ErrDescriptor, strings.Join(diffs, "; "))
	}
	return nil
}
