package loader

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/npy"
)

// Options says how to read the text, as np.loadtxt's arguments do.
type Options struct {
	// DType is a structured dtype (one field per column, in order) or a
	// plain type (every column, giving rows x columns).
	DType npy.DType
	// Delimiter separates columns; "" means runs of whitespace (numpy's
	// delimiter=None).
	Delimiter string
	// Comments starts a comment that runs to the end of the line; ""
	// means no comments. np.loadtxt's default is "#".
	Comments string
	// SkipHeader skips this many lines at the start of each file, comment
	// lines included (numpy's skiprows).
	SkipHeader int
	// UseCols picks the columns to read, in order; negative indices count
	// from the end of the line. nil reads them all.
	UseCols []int
	// NDMin is numpy's ndmin: 0 (loadtxt's default) squeezes dimensions
	// of size one, 1 and 2 guarantee that many dimensions.
	NDMin int
	// Concat loads all files, in order, into one array.
	Concat bool
	// Progress, if set, is called about ten times a second while parsing
	// with the bytes parsed so far and the total.
	Progress func(done, total int64)
}

// ParseError is a line that could not be loaded.
type ParseError struct {
	File string
	Line int    // 1-based
	Text string // the line, cut to 200 bytes
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %v: %q", e.File, e.Line, e.Err, e.Text)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrUnsupported is a dtype the loader cannot fill from text.
var ErrUnsupported = errors.New("unsupported field type for text loading")

// column is one output column: where its text comes from and where it goes.
type column struct {
	src    int    // source column index (negative: from the end)
	name   string // for messages
	kind   byte
	size   int
	offset int    // within a row
	max    uint64 // the largest value of an integer kind ('i', 'u')
}

type input struct {
	path    string
	data    []byte
	release func()
	line0   int // physical lines skipped (SkipHeader) before data
	out     int // output array index
	ncols   int // columns in the first data row (-1: no data)
	firstLn int // line number of the first data row
}

type chunk struct {
	in    *input
	data  []byte
	line0 int   // physical line number (0-based) of the chunk's first line
	rows  int   // data rows (pass 1)
	lines int   // physical lines (pass 1)
	guess bool  // rows is the line count, not checked line by line (pass 2 checks it)
	row0  int64 // first row's index in its output array
	err   error
}

const chunkSize = 8 << 20

// Load parses the files into new arrays in shared memory: one per file, or
// one for all with Concat. The arrays are unpublished, under fresh "psm_"
// names, owned by the caller (close them; Publish those to keep). On error
// no array is left behind, and a malformed line is a *ParseError.
func Load(paths []string, o Options) ([]*bridge.Array, error) {
	arrays, err := load(paths, o, true)
	if err == errMiscount {
		arrays, err = load(paths, o, false)
	}
	return arrays, err
}

// errMiscount: a chunk's guessed row count was wrong (it has blank,
// whitespace-only or comment-only lines, which pass 1 did not look for).
var errMiscount = errors.New("row count guessed wrong")

// load is Load. With guess, pass 1 takes a chunk's line count as its row
// count when its first and last lines hold data (a count of '\n' runs at
// memory speed); pass 2 then checks it and load returns errMiscount if it
// was wrong, for Load to count line by line.
func load(paths []string, o Options, guess bool) ([]*bridge.Array, error) {
	if len(paths) == 0 {
		return nil, errors.New("no input files")
	}
	if o.NDMin < 0 || o.NDMin > 2 {
		return nil, fmt.Errorf("ndmin must be 0, 1 or 2, not %d", o.NDMin)
	}
	cols, structured, err := columns(o.DType, o.UseCols)
	if err != nil {
		return nil, err
	}
	inputs, err := readInputs(paths)
	defer func() {
		for _, in := range inputs {
			if in != nil && in.release != nil {
				in.release()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	sep := splitter{delim: []byte(o.Delimiter), comments: []byte(o.Comments)}
	var chunks []*chunk
	for i, in := range inputs {
		in.out = i
		if o.Concat {
			in.out = 0
		}
		rest := skipLines(in.data, o.SkipHeader)
		in.line0 = countLines(in.data[:len(in.data)-len(rest)])
		in.ncols, in.firstLn = firstRowColumns(rest, in.line0, sep)
		chunks = append(chunks, split(in, rest)...)
	}

	nout := len(inputs)
	if o.Concat {
		nout = 1
	}
	ncols := make([]int, nout)
	for i := range ncols {
		ncols[i] = -1
	}
	for _, in := range inputs {
		if in.ncols >= 0 && ncols[in.out] < 0 {
			ncols[in.out] = in.ncols
		}
	}
	layouts := make([][]column, nout)
	rowSizes := make([]int, nout)
	for k := range layouts {
		layouts[k], rowSizes[k] = cols, o.DType.Size
		if !structured {
			n := ncols[k]
			if o.UseCols != nil {
				n = len(o.UseCols)
			}
			layouts[k] = plainColumns(o.DType, max(n, 0), o.UseCols)
			rowSizes[k] *= len(layouts[k])
		}
	}

	// Pass 1: rows and lines per chunk, on every core; a chunk whose rows
	// would need too big a buffer is cut in two (rows of a huge dtype in
	// short lines).
	count := func(c *chunk) { c.rows, c.lines, c.guess = countRows(c.data, sep, guess) }
	parallel(len(chunks), func(i int) { count(chunks[i]) })
	for cutAny := true; cutAny; {
		cutAny = false
		var cut []*chunk
		for _, c := range chunks {
			if int64(c.lines)*int64(rowSizes[c.in.out]) > maxBuffer && c.lines > 1 {
				h1, h2 := halves(c)
				count(h1)
				count(h2)
				cut, cutAny = append(cut, h1, h2), true
			} else {
				cut = append(cut, c)
			}
		}
		chunks = cut
	}
	rows := make([]int64, nout)
	line := map[*input]int{}
	for _, c := range chunks {
		c.row0 = rows[c.in.out]
		rows[c.in.out] += int64(c.rows)
		c.line0 = c.in.line0 + line[c.in]
		line[c.in] += c.lines
	}

	// The arrays, sized exactly. Rows are written into them with pwrite from
	// a buffer per chunk (bridge.ArrayWriter): cheaper than faulting in
	// fresh shared pages one by one, and the buffer stays in cache.
	var writers []*bridge.ArrayWriter
	fail := func(err error) ([]*bridge.Array, error) {
		for _, w := range writers {
			w.Discard()
		}
		return nil, err
	}
	for k := range nout {
		shape := resultShape(rows[k], structured, len(layouts[k]), o.NDMin)
		w, err := bridge.CreateArrayWriter("", npy.Header{DType: o.DType, Shape: shape})
		if err != nil {
			return fail(err)
		}
		writers = append(writers, w)
	}

	// Pass 2: parse every chunk into its rows, on every core.
	var done atomic.Int64
	var total int64
	for _, c := range chunks {
		total += int64(len(c.data))
	}
	stop := progress(o.Progress, &done, total)
	var failed atomic.Bool
	var buffers sync.Pool
	parallel(len(chunks), func(i int) {
		c := chunks[i]
		if failed.Load() {
			return
		}
		rowSize := rowSizes[c.in.out]
		buf, _ := buffers.Get().([]byte)
		if need := c.lines * rowSize; cap(buf) < need { // lines: room for every row even if the count was a wrong guess
			buf = make([]byte, need)
		} else {
			buf = buf[:need]
			clear(buf) // text shorter than its field, and gaps between fields, are zeros
		}
		defer buffers.Put(buf)
		var found int
		found, c.err = parseChunk(c, buf, rowSize, layouts[c.in.out], structured, ncols[c.in.out], o, sep)
		if c.err == nil && found != c.rows {
			c.err = errMiscount
			if !c.guess {
				c.err = fmt.Errorf("%s: %d rows counted, %d parsed (a bug in the loader)", c.in.path, c.rows, found)
			}
		}
		if c.err == nil {
			c.err = writers[c.in.out].Write(buf[:found*rowSize], c.row0*int64(rowSize))
		}
		if c.err != nil {
			failed.Store(true)
		}
		done.Add(int64(len(c.data)))
	})
	stop()
	for _, c := range chunks { // the first error in file order (a miscount is not one)
		if c.err != nil && c.err != errMiscount {
			return fail(c.err)
		}
	}
	for _, c := range chunks {
		if c.err != nil {
			return fail(c.err)
		}
	}
	arrays := make([]*bridge.Array, 0, nout)
	for k, w := range writers {
		a, err := w.Finish()
		if err != nil {
			for _, a := range arrays {
				a.Unlink()
				a.Close()
			}
			writers = writers[k+1:]
			return fail(err)
		}
		arrays = append(arrays, a)
	}
	return arrays, nil
}

// maxBuffer caps a chunk's rows in memory before they are written out.
const maxBuffer = 64 << 20

// halves cuts a chunk in two at a line boundary near its middle.
func halves(c *chunk) (*chunk, *chunk) {
	mid := len(c.data) / 2
	if j := bytes.IndexByte(c.data[mid:], '\n'); j >= 0 && mid+j+1 < len(c.data) {
		mid += j + 1
	} else if j := bytes.LastIndexByte(c.data[:mid], '\n'); j >= 0 {
		mid = j + 1
	}
	return &chunk{in: c.in, data: c.data[:mid]}, &chunk{in: c.in, data: c.data[mid:]}
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

func readInputs(paths []string) ([]*input, error) {
	inputs := make([]*input, len(paths))
	errs := make([]error, len(paths))
	parallel(len(paths), func(i int) {
		inputs[i], errs[i] = readInput(paths[i])
	})
	return inputs, errors.Join(errs...)
}

func readInput(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var b bytes.Buffer
		b.Grow(int(min(st.Size()*4, 1<<32)))
		if _, err := io.Copy(&b, zr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &input{path: path, data: b.Bytes(), release: func() {}}, nil
	}
	data, release, err := mapInput(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &input{path: path, data: data, release: release}, nil
}

// split cuts data into chunks that end just after a newline.
func split(in *input, data []byte) []*chunk {
	var out []*chunk
	for len(data) > 0 {
		n := min(chunkSize, len(data))
		if n < len(data) {
			if j := bytes.IndexByte(data[n:], '\n'); j >= 0 {
				n += j + 1
			} else {
				n = len(data)
			}
		}
		out = append(out, &chunk{in: in, data: data[:n]})
		data = data[n:]
	}
	return out
}

func skipLines(data []byte, n int) []byte {
	for ; n > 0 && len(data) > 0; n-- {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return nil
		}
		data = data[j+1:]
	}
	return data
}

func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// nextLine returns the first line of b (without "\n" or "\r\n") and the rest.
func nextLine(b []byte) (line, rest []byte) {
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:j], b[j+1:]
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// splitter cuts lines into fields as np.loadtxt does.
type splitter struct {
	delim    []byte
	comments []byte
}

// content strips a comment; ok is false for a line with no data.
func (s splitter) content(line []byte) ([]byte, bool) {
	if len(s.comments) > 0 {
		if j := bytes.Index(line, s.comments); j >= 0 {
			line = line[:j]
		}
	}
	for _, c := range line {
		if !isSpace[c] {
			return line, true
		}
	}
	return line, false
}

// cleanLines counts the lines of b (a last one without '\n' included) and
// reports, using only fast scans, that every one is a data line: no
// comment marker, no empty line, no line that starts with whitespace
// (which could be all whitespace). If not, the count is not made.
func (s splitter) cleanLines(b []byte) (lines int, clean bool) {
	if len(b) == 0 || b[0] <= ' ' {
		return 0, len(b) == 0
	}
	if len(s.comments) > 0 && bytes.Contains(b, s.comments) {
		return 0, false
	}
	// Eight bytes at a time: count the '\n's, and look for one followed by
	// whitespace or a control byte.
	var after uint64 // the high bit of byte 0: the previous word ended in '\n'
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		nl := zeroBytes(w ^ '\n'*ones)
		if (nl<<8|after)&below(w, 0x21) != 0 {
			return 0, false
		}
		lines += bits.OnesCount64(nl)
		after = nl >> 56
	}
	for ; i < len(b); i++ {
		if after != 0 && b[i] <= ' ' {
			return 0, false
		}
		after = b2u(b[i] == '\n')
		lines += int(after)
	}
	if b[len(b)-1] != '\n' {
		lines++
	}
	return lines, true
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// fields appends the fields of a data line to dst.
func (s splitter) fields(dst [][]byte, line []byte) [][]byte {
	if len(s.delim) == 0 {
		for i := 0; i < len(line); {
			for i < len(line) && isSpace[line[i]] {
				i++
			}
			j := i
			for j < len(line) && !isSpace[line[j]] {
				j++
			}
			if j > i {
				dst = append(dst, line[i:j])
			}
			i = j
		}
		return dst
	}
	for {
		j := bytes.Index(line, s.delim)
		if j < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:j])
		line = line[j+len(s.delim):]
	}
}

// countRows counts the data rows and the lines of a chunk. With guess, a
// chunk whose first and last lines are data has rows = lines, counted at
// memory speed; guessed says so, for pass 2 to check (a blank or
// comment-only line inside the chunk makes the guess wrong).
func countRows(b []byte, s splitter, guess bool) (rows, lines int, guessed bool) {
	if guess && len(b) > 0 && !s.emptyEnds(b) {
		n := countLines(b)
		return n, n, true
	}
	if n, ok := s.cleanLines(b); ok {
		return n, n, false
	}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		lines++
		if _, ok := s.content(line); ok {
			rows++
		}
	}
	return rows, lines, false
}

// emptyEnds reports that the first or last line of b has no data (blank,
// whitespace or a comment): a file's header comment or trailing empty line
// is common and cheap to see.
func (s splitter) emptyEnds(b []byte) bool {
	first, _ := nextLine(b)
	last := b[:len(b)-1] // without a final '\n'
	if b[len(b)-1] != '\n' {
		last = b
	}
	last = last[bytes.LastIndexByte(last, '\n')+1:]
	_, firstData := s.content(first)
	_, lastData := s.content(last)
	return !firstData || !lastData
}

// firstRowColumns is the number of fields in the first data row (-1 if
// none) and its 0-based line number.
func firstRowColumns(b []byte, line0 int, s splitter) (int, int) {
	for ln := line0; len(b) > 0; ln++ {
		var line []byte
		line, b = nextLine(b)
		if c, ok := s.content(line); ok {
			return len(s.fields(nil, c)), ln
		}
	}
	return -1, 0
}

// parseChunk converts the chunk's rows into dst and returns how many it found.
func parseChunk(c *chunk, dst []byte, rowSize int, cols []column, structured bool, ncols int, o Options, s splitter) (int, error) {
	if o.UseCols == nil && len(s.delim) <= 1 && len(s.comments) <= 1 {
		return newRowScanner(s).parse(c, dst, rowSize, cols, structured)
	}
	b := c.data
	var fields [][]byte
	row := 0
	for ln := c.line0; len(b) > 0; ln++ {
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
			return row, fail(fmt.Errorf("the dtype requires %d columns but %d were found", len(cols), len(fields)))
		case o.UseCols == nil && !structured && len(fields) != ncols:
			return row, fail(fmt.Errorf("the number of columns changed from %d to %d", ncols, len(fields)))
		}
		out := dst[row*rowSize : (row+1)*rowSize]
		for _, col := range cols {
			src := col.src
			if src < 0 {
				src += len(fields)
			}
			if src < 0 || src >= len(fields) {
				return row, fail(fmt.Errorf("usecols index %d is out of range (the line has %d columns)", col.src, len(fields)))
			}
			if err := put(out[col.offset:col.offset+col.size], col.kind, fields[src]); err != nil {
				return row, fieldError(c, ln+1, line, src, col, fields[src], err)
			}
		}
		row++
	}
	return row, nil
}

// endOfLine is the index of the '\n' ending the line that holds p, or len(b).
func endOfLine(b []byte, p int) int {
	if e := bytes.IndexByte(b[p:], '\n'); e >= 0 {
		return p + e
	}
	return len(b)
}

// lineAt is the line of b that starts at start, without its newline.
func lineAt(b []byte, start int) []byte {
	line, _ := nextLine(b[start:])
	return line
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

// parallel runs fn(0..n-1) on every core.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(n, workers()); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// progress calls report about ten times a second until stop is called.
func progress(report func(done, total int64), done *atomic.Int64, total int64) (stop func()) {
	if report == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				report(done.Load(), total)
				return
			case <-t.C:
				report(done.Load(), total)
			}
		}
	}()
	return func() { close(quit); <-finished }
}
