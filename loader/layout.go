package loader

import (
	"fmt"
	"math"

	"github.com/npshm/npshm/npy"
)

// The output's layout: its columns, where each goes in a row, and the
// result's shape.

// column is one output column: where its text comes from and where it goes.
type column struct {
	src    int    // source column index (negative: from the end)
	name   string // for messages
	kind   byte
	size   int
	offset int    // within a row
	max    uint64 // the largest value of an integer kind ('i', 'u')
}

// columns checks the dtype and lays out a structured row.
func columns(dt npy.DType, usecols []int) ([]column, bool, error) {
	if !dt.IsStructured() {
		if err := checkKind(dt, "dtype"); err != nil {
			return nil, false, err
		}
		return nil, false, nil
	}
	var cols []column
	for _, f := range dt.Fields {
		if f.IsPadding() {
			continue
		}
		if f.Shape != nil || f.Type.IsStructured() {
			return nil, true, fmt.Errorf("%w: field %q is a subarray or record", ErrUnsupported, f.Name)
		}
		if err := checkKind(f.Type, "field "+f.Name); err != nil {
			return nil, true, err
		}
		cols = append(cols, newColumn(len(cols), f.Name, f.Type, f.Offset))
	}
	if usecols != nil {
		if len(usecols) != len(cols) {
			return nil, true, fmt.Errorf("usecols picks %d columns but the dtype has %d fields", len(usecols), len(cols))
		}
		for i := range cols {
			cols[i].src = usecols[i]
		}
	}
	return cols, true, nil
}

func checkKind(t npy.DType, what string) error {
	switch {
	case t.Order != '|' && t.Order != npy.NativeOrder():
		return fmt.Errorf("%w: %s is %s (only the host's byte order)", ErrUnsupported, what, t)
	case t.Kind == 'b' || t.Kind == 'i' || t.Kind == 'u' || t.Kind == 'S' || t.Kind == 'U':
		return nil
	case t.Kind == 'f' && (t.Size == 4 || t.Size == 8):
		return nil
	}
	return fmt.Errorf("%w: %s is %s (bool, ints, f4, f8, S<n>, U<n> are)", ErrUnsupported, what, t)
}

func newColumn(src int, name string, t npy.DType, offset int) column {
	c := column{src: src, name: name, kind: t.Kind, size: t.Size, offset: offset}
	switch t.Kind {
	case 'i':
		c.max = 1<<(8*t.Size-1) - 1
	case 'u':
		c.max = math.MaxUint64 >> (64 - 8*t.Size)
	}
	return c
}

// plainColumns lays out n columns of a plain dtype.
func plainColumns(t npy.DType, n int, usecols []int) []column {
	cols := make([]column, n)
	for i := range cols {
		cols[i] = newColumn(i, fmt.Sprint(i), t, i*t.Size)
		if usecols != nil {
			cols[i].src = usecols[i]
		}
	}
	return cols
}

// resultShape applies np.loadtxt's shape rules: rows (records) or rows x
// columns, then ndmin (0 squeezes size-one dimensions).
func resultShape(rows int64, structured bool, ncols, ndmin int) []int {
	shape := []int{int(rows)}
	if !structured && rows > 0 {
		shape = append(shape, ncols)
	}
	if len(shape) > ndmin {
		sq := shape[:0:0]
		for _, d := range shape {
			if d != 1 {
				sq = append(sq, d)
			}
		}
		shape = sq
	}
	for len(shape) < ndmin {
		if len(shape) == 0 {
			shape = []int{1}
		} else {
			shape = append(shape, 1) // numpy: atleast_2d(a).T, a column
		}
	}
	if shape == nil {
		shape = []int{}
	}
	return shape
}

// layout is how a row is laid out, and what it takes from the text.
type layout struct {
	cols      []column
	rowSize   int
	ncols     int // a plain dtype's columns per line
	minFields int // the fewest fields in a line that makes a row
}

var noLayout = &layout{}

func plainLayout(t npy.DType, n int, usecols []int) *layout {
	return &layout{cols: plainColumns(t, n, usecols), rowSize: n * t.Size, ncols: n, minFields: n}
}
