package loader

import (
	"fmt"
	"math"
)

// parseChunk converts the chunk's rows into dst (zeros, room for every
// row) and returns how many rows it found in how many lines. Its errors'
// line numbers count from c.line0.
func parseChunk(c *chunk, dst []byte, rowSize int, cols []column, structured bool, ncols int, o Options, s splitter) (rows, lines int, err error) {
	if o.UseCols == nil && len(s.delim) <= 1 && len(s.comments) <= 1 {
		return newRowScanner(s).parse(c, dst, rowSize, cols, structured)
	}
	b := c.data
	var fields [][]byte
	row := 0
	ln := c.line0
	for ; len(b) > 0; ln++ {
		var line []byte
		line, b = nextLine(b)
		content, ok := s.content(line)
		if !ok {
			continue
		}
		fail := func(err error) error {
			return &ParseError{File: c.in.path, Line: ln + 1, Text: string(line[:min(len(line), 200)]), Err: err}
		}
		fields = s.fields(fields[:0], content)
		switch {
		case o.UseCols == nil && structured && len(fields) != len(cols):
			return row, 0, fail(fmt.Errorf("the dtype requires %d columns but %d were found", len(cols), len(fields)))
		case o.UseCols == nil && !structured && len(fields) != ncols:
			return row, 0, fail(fmt.Errorf("the number of columns changed from %d to %d", ncols, len(fields)))
		}
		out := dst[row*rowSize : (row+1)*rowSize]
		for _, col := range cols {
			src := col.src
			if src < 0 {
				src += len(fields)
			}
			if src < 0 || src >= len(fields) {
				return row, 0, fail(fmt.Errorf("usecols index %d is out of range (the line has %d columns)", col.src, len(fields)))
			}
			if err := put(out[col.offset:col.offset+col.size], col.kind, fields[src]); err != nil {
				return row, 0, fieldError(c, ln+1, line, src, col, fields[src], err)
			}
		}
		row++
	}
	return row, ln - c.line0, nil
}

func fieldError(c *chunk, ln int, line []byte, k int, col column, field []byte, err error) error {
	return &ParseError{File: c.in.path, Line: ln, Text: string(line[:min(len(line), 200)]),
		Err: fmt.Errorf("column %d (%s): cannot convert %q to %s: %v", k+1, col.name, field, kindName(col), err)}
}

func kindName(c column) string {
	switch c.kind {
	case 'S', 'U':
		return fmt.Sprintf("%c%d", c.kind, map[bool]int{true: c.size / 4, false: c.size}[c.kind == 'U'])
	case 'b':
		return "bool"
	}
	return fmt.Sprintf("%c%d", c.kind, c.size)
}

// put converts one field of the given kind into dst (the column's bytes in
// the row; its length is the field's size).
func put(dst []byte, kind byte, f []byte) error {
	switch kind {
	case 'f':
		v, err := parseFloat(f)
		if err != nil {
			return err
		}
		if len(dst) == 4 {
			putF32(dst, v)
		} else {
			putF64(dst, v)
		}
	case 'i':
		bits := uint(8 * len(dst))
		v, err := parseInt(f, -1<<(bits-1), 1<<(bits-1)-1)
		if err != nil {
			return err
		}
		putInt(dst, uint64(v))
	case 'u':
		v, err := parseUint(f, math.MaxUint64>>(64-8*uint(len(dst))))
		if err != nil {
			return err
		}
		putInt(dst, v)
	case 'b':
		v, err := parseInt(f, math.MinInt64, math.MaxInt64)
		if err != nil {
			return err
		}
		dst[0] = 0
		if v != 0 {
			dst[0] = 1
		}
	case 'S':
		return putLatin1(dst, f)
	case 'U':
		return putUCS4(dst, f)
	}
	return nil
}

func putInt(dst []byte, v uint64) {
	switch len(dst) {
	case 1:
		dst[0] = byte(v)
	case 2:
		putU16(dst, uint16(v))
	case 4:
		putU32(dst, uint32(v))
	default:
		putU64(dst, v)
	}
}
