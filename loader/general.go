package loader

import "fmt"

// The general path: a chunk's lines split into fields (split.go), each
// converted on its own (convert.go). It takes what the row kernel does not
// (usecols, a longer delimiter or comment marker).

// chunkRows converts the chunk's lines into rows in dst (zeros, room for
// every row) and returns how many rows it found in how many lines: by the
// row kernel where it applies (no usecols, whitespace or a one-byte
// delimiter, a one-byte comment marker or none), else by generalRows. Its
// errors' line numbers count from c.line0.
func chunkRows(c *chunk, dst []byte, rowSize int, cols []column, structured bool, ncols int, o Options, s splitter) (rows, lines int, err error) {
	if o.UseCols == nil && len(s.delim) <= 1 && len(s.comments) <= 1 {
		return newRowKernel(s).rows(c, dst, rowSize, cols, structured)
	}
	return generalRows(c, dst, rowSize, cols, structured, ncols, o, s)
}

// generalRows is chunkRows by the general path: each line split into
// fields, each field converted on its own.
func generalRows(c *chunk, dst []byte, rowSize int, cols []column, structured bool, ncols int, o Options, s splitter) (rows, lines int, err error) {
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
			if err := convert(out[col.offset:col.offset+col.size], col.kind, fields[src]); err != nil {
				return row, 0, fieldError(c, ln+1, line, src, col, fields[src], err)
			}
		}
		row++
	}
	return row, ln - c.line0, nil
}
