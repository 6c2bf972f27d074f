package loader

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Reading: one reader reads each input in turn into chunks of whole lines
// (in slots, a load's bounded memory) and hands them to the parsers.

type input struct {
	path  string
	index int // its position in Load's paths
	out   int // its output array's index
}

// chunk is whole lines of one input, from the reader to a parser and then,
// in input order, into its array.
type chunk struct {
	in      *input
	seq     int    // its position in the load: chunks commit in this order
	slot    *slot  // its memory (nil: the chunk is only an error)
	data    []byte // whole lines (the input's last may lack its '\n')
	clean   bool   // data has had universalNewlines already
	skipped int    // lines skipped (SkipHeader) just before data
	line0   int    // data's first line, 0-based, counted from the chunk's start (= skipped)
	layout  *layout
	err     error // from the reader, or the parser; a *ParseError's Line counts from the chunk's start until commit
	rows    int   // rows parsed
	lines   int   // lines in the chunk, skipped ones included
	dirty   int   // bytes of slot.rows the parser may have written
}

// chunkSize is the usual amount of text read at a time (a variable for
// tests, which make it tiny to put chunk boundaries everywhere).
var chunkSize = 8 << 20

// slot is the memory one chunk uses while it is read, parsed and written:
// the text and the rows parsed from it. A load has a fixed number of slots,
// so its memory is bounded whatever its input.
type slot struct {
	text []byte
	rows []byte // zero beyond the rows in use (make, then clear after use)
}

// reader reads the inputs in order into chunks of whole lines and hands
// them to the parsers.
type reader struct {
	ld      *loading
	free    chan *slot // slots not in use
	target  int        // the usual chunk size for this dtype
	maxLine int
	seq     int // the next chunk's position
	bytes   atomic.Int64
	// afterRead, if set (tests), runs after each chunk of a file is read.
	afterRead func(path string)
}

// afterChunkRead is reader.afterRead for every load (tests only).
var afterChunkRead func(path string)

// run reads every input, sending chunks to work; it closes work at the end
// or when the load stops.
func (r *reader) run(work chan<- *chunk) {
	defer close(work)
	for i, path := range r.ld.paths {
		if !r.read(i, path, work) {
			return
		}
	}
}

// read sends the chunks of one input and reports whether to go on.
func (r *reader) read(i int, path string, work chan<- *chunk) bool {
	in := &input{path: path, index: i, out: i}
	if r.ld.o.Concat {
		in.out = 0
	}
	fail := func(err error) bool {
		r.send(work, &chunk{in: in, seq: r.next(), err: err})
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	raw := &countingReader{r: f, n: &r.bytes}
	var src io.Reader = raw
	changed := func() error { return nil } // a pipe, a device, /proc: read until EOF
	if st.Mode().IsRegular() && st.Size() > 0 {
		changed = func() error {
			now, err := f.Stat()
			if err == nil && now.Size() == st.Size() && now.ModTime().Equal(st.ModTime()) && raw.read == st.Size() {
				return nil
			}
			return fmt.Errorf("%s: %w (%d bytes and modified %s at open; read %d; load a copy that nothing writes to)",
				path, ErrInputChanged, st.Size(), st.ModTime().Format(time.RFC3339Nano), raw.read)
		}
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(raw)
		switch {
		case err == io.EOF && raw.read == 0: // an empty file: no text, as numpy reads it
			src = bytes.NewReader(nil)
		case err != nil:
			if ch := changed(); ch != nil {
				return fail(ch)
			}
			return fail(fmt.Errorf("%s: %w", path, err))
		default:
			defer zr.Close()
			src = zr
		}
	}

	skip := r.ld.o.SkipHeader
	s, ok := r.take()
	if !ok {
		return false
	}
	carry := 0 // text at the start of s.text from the previous read
	for {
		n, err := fill(src, s.text, carry)
		eof := err == io.EOF
		if err != nil && !eof {
			r.give(s)
			if ch := changed(); ch != nil {
				return fail(ch)
			}
			return fail(fmt.Errorf("%s: %w", path, err))
		}
		if r.afterRead != nil {
			r.afterRead(path)
		}
		cut := n
		if !eof {
			cut = lastLineEnd(s.text[:n])
			if cut == 0 { // one line fills the buffer: grow it, up to the limit
				if n > r.maxLine {
					r.give(s)
					line := s.text[:min(n, 200)]
					return fail(&ParseError{File: path, Line: 1, Text: string(line),
						Err: fmt.Errorf("%w: over %d bytes (the limit: Options.MaxLineBytes, npshm load --max-line)", ErrLineTooLong, r.maxLine)})
				}
				bigger := make([]byte, r.grown(len(s.text)))
				copy(bigger, s.text[:n])
				s.text, carry = bigger, n
				continue
			}
		}
		c := &chunk{in: in, seq: r.next(), slot: s, data: s.text[:cut]}
		if skip > 0 || r.ld.needsColumns(in.out) {
			c.data = universalNewlines(c.data)
			c.clean = true
			if skip > 0 {
				rest := skipLines(c.data, skip)
				c.skipped = countLines(c.data[:len(c.data)-len(rest)])
				c.line0 = c.skipped
				skip -= c.skipped
				c.data = rest
			}
			if skip == 0 && r.ld.needsColumns(in.out) {
				r.ld.findColumns(in.out, c.data)
			}
		}
		c.layout = r.ld.layoutOf(in.out)
		var next *slot
		if !eof {
			if next, ok = r.take(); !ok {
				r.give(s)
				return false
			}
			if n-cut > len(next.text) { // a long line's start
				next.text = make([]byte, r.grown(n-cut))
			}
			carry = copy(next.text, s.text[cut:n])
		}
		if eof {
			c.err = changed() // after the data: the rows so far are committed first, then this fails the load
		}
		ok = c.err == nil // c is the parsers' once sent
		if !r.send(work, c) {
			return false
		}
		if eof {
			return ok
		}
		s = next
	}
}

// grown is the size to grow a buffer of n bytes to, for a long line:
// twice n, or straight to the most a line can take once that is near.
func (r *reader) grown(n int) int {
	if 2*n >= r.maxLine {
		return r.maxLine + 1
	}
	return 2 * n
}

// send hands c to the parsers, or reports that the load has stopped.
func (r *reader) send(work chan<- *chunk, c *chunk) bool {
	select {
	case work <- c:
		return true
	case <-r.ld.stopped:
		return false
	}
}

func (r *reader) next() int { r.seq++; return r.seq - 1 }

// take returns a free slot, or false once the load has stopped.
func (r *reader) take() (*slot, bool) {
	select {
	case s := <-r.free:
		if cap(s.text) < r.target || cap(s.text) > 2*r.target { // new, or it held a long line: let that go
			s.text = make([]byte, r.target)
		}
		s.text = s.text[:r.target] // not more: a longer line must not fit (maxLine)
		return s, true
	case <-r.ld.stopped:
		return nil, false
	}
}

func (r *reader) give(s *slot) { r.free <- s }

// fill reads into b after its first n bytes until b is full or the input
// ends (io.EOF, with the bytes read so far).
func fill(src io.Reader, b []byte, n int) (int, error) {
	for n < len(b) {
		m, err := src.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// lastLineEnd is the end of b's last whole line: just after its last '\n'
// or '\r', except a '\r' at b's very end (a "\r\n" may be cut in two), or
// 0 if there is none.
func lastLineEnd(b []byte) int {
	end := len(b)
	if end > 0 && b[end-1] == '\r' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if c := b[i]; c == '\n' || c == '\r' {
			return i + 1
		}
	}
	return 0
}

// universalNewlines rewrites "\r\n" and a lone '\r' as '\n', in place, as
// Python's text mode does for np.loadtxt, and returns the shortened text.
// Text without '\r' is returned as it is, after one fast scan.
func universalNewlines(b []byte) []byte {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		return b
	}
	w := i
	for {
		b[w] = '\n' // b[i] is '\r'
		w++
		if i++; i < len(b) && b[i] == '\n' {
			i++
		}
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			w += copy(b[w:], b[i:])
			return b[:w]
		}
		w += copy(b[w:], b[i:i+j])
		i += j
	}
}

// countingReader counts the bytes read from a file (for the progress
// report and the change check).
type countingReader struct {
	r    io.Reader
	read int64
	n    *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	c.n.Add(int64(n))
	return n, err
}
