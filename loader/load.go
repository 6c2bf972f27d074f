package loader

import (
	"errors"
	"fmt"
	"os"
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
	// MaxLineBytes is the longest line Load reads, its line end not
	// counted (0: DefaultMaxLineBytes); a longer one is a *ParseError
	// wrapping ErrLineTooLong. It bounds the memory one line can take
	// (np.loadtxt has no limit: it holds a line, however long, in memory).
	MaxLineBytes int
	// Progress, if set, is called about ten times a second while loading
	// with the bytes read so far and the total: the files' sizes (.gz
	// files count compressed; pipes count in done, not in total).
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

// maxBuffer bounds a chunk's parsed rows in memory (the text read at a
// time is cut to fit).
const maxBuffer = 64 << 20

// Load parses the files into new arrays in shared memory: one per file, or
// one for all with Concat. The arrays are unpublished, under fresh "psm_"
// names, owned by the caller (close them; Publish those to keep). On error
// no array is left behind, and a malformed line is a *ParseError.
//
// A path may be a regular file, a pipe or FIFO ("/dev/stdin"), or a .gz
// file; each is read once, in order, a chunk at a time, so memory stays
// bounded whatever the input's size. A regular file that changes while it
// is read is an error wrapping ErrInputChanged.
func Load(paths []string, o Options) ([]*bridge.Array, error) {
	if len(paths) == 0 {
		return nil, errors.New("no input files")
	}
	if o.NDMin < 0 || o.NDMin > 2 {
		return nil, fmt.Errorf("ndmin must be 0, 1 or 2, not %d", o.NDMin)
	}
	if o.MaxLineBytes < 0 {
		return nil, fmt.Errorf("MaxLineBytes must not be negative, not %d", o.MaxLineBytes)
	}
	cols, structured, err := columns(o.DType, o.UseCols)
	if err != nil {
		return nil, err
	}
	var total int64 // for Progress
	errs := make([]error, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		if errs[i] = err; err == nil && st.Mode().IsRegular() {
			total += st.Size()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	nout := len(paths)
	if o.Concat {
		nout = 1
	}
	ld := &loading{paths: paths, o: o, structured: structured, stopped: make(chan struct{}),
		sep:     splitter{delim: []byte(o.Delimiter), comments: []byte(o.Comments)},
		layouts: make([]*layout, nout), outs: make([]output, nout), lineBase: make([]int, len(paths)),
		waiting: map[int]*chunk{}}
	perField := o.DType.Size // the most bytes of rows one byte of text can make: the target below keeps a chunk's rows under maxBuffer
	for k := range ld.layouts {
		switch {
		case structured:
			ld.layouts[k] = &layout{cols: cols, rowSize: o.DType.Size, minFields: len(cols)}
			perField = o.DType.Size / max(len(cols), 1)
		case o.UseCols != nil:
			ld.layouts[k] = plainLayout(o.DType, len(o.UseCols), o.UseCols)
		}
		if o.UseCols != nil {
			ld.layouts[k].minFields = 1 // a column may be read twice
			perField = ld.layouts[k].rowSize
		}
	}
	maxLine := o.MaxLineBytes
	if maxLine == 0 {
		maxLine = DefaultMaxLineBytes
	}
	// The usual chunk: at most chunkSize, little enough for its rows to
	// stay under maxBuffer, and at most one line of the longest allowed (a
	// longer line then never fits in a chunk, which is how it is found).
	target := min(chunkSize, max(4096, maxBuffer/max(perField, 1)), maxLine+1)
	r := &reader{ld: ld, maxLine: maxLine, target: target, afterRead: afterChunkRead}
	nslots := workers() + 2 // every parser busy, one chunk being read, one waiting
	r.free = make(chan *slot, nslots)
	for range nslots {
		s, _ := slots.Get().(*slot)
		if s == nil {
			s = &slot{}
		}
		r.free <- s
	}
	ld.free = r.free
	defer func() { // the slots given back (their rows zero) serve the next load
		for {
			select {
			case s := <-r.free:
				slots.Put(s)
			default:
				return
			}
		}
	}()

	stop := progress(o.Progress, &r.bytes, total)
	work := make(chan *chunk, nslots)
	go r.run(work)
	var wg sync.WaitGroup
	for range workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case c, ok := <-work:
					if !ok {
						return
					}
					ld.parse(c)
					for _, w := range ld.commit(c) {
						ld.write(w)
					}
				case <-ld.stopped: // the reader stops too, once a read returns
					return
				}
			}
		}()
	}
	wg.Wait()
	stop()
	if ld.err != nil {
		ld.discard()
		return nil, ld.err
	}
	return ld.finish()
}

// slots keeps slots between loads: their buffers, allocated once, need no
// zeroing by the runtime again.
var slots sync.Pool

// loading is one Load's state.
type loading struct {
	paths      []string
	o          Options
	sep        splitter
	structured bool
	layouts    []*layout  // per output; a plain dtype's is set by the reader at the first data row
	free       chan *slot // the reader's
	stopped    chan struct{}
	stopOnce   sync.Once

	mu       sync.Mutex // the rest
	next     int        // the next chunk to commit
	waiting  map[int]*chunk
	outs     []output
	lineBase []int // per input: the lines committed so far
	err      error // the first error: the load stops
}

// output is one array being made.
type output struct {
	rows    int64
	layout  *layout
	w       *bridge.ArrayWriter // made at the second row: then the shape's form is known
	pending []byte              // the first row, until w is made
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

// needsColumns: out is a plain dtype's array whose columns (the first data
// row's) are not known yet. The reader looks for them (findColumns) before
// it sends a chunk, so that every chunk with rows has its layout.
func (ld *loading) needsColumns(out int) bool { return ld.layouts[out] == nil }

func (ld *loading) findColumns(out int, data []byte) {
	if n, _ := firstRowColumns(data, 0, ld.sep); n >= 0 {
		ld.layouts[out] = plainLayout(ld.o.DType, n, nil)
	}
}

func (ld *loading) layoutOf(out int) *layout {
	if l := ld.layouts[out]; l != nil {
		return l
	}
	return noLayout // the chunk has no data rows (findColumns saw none)
}

func (ld *loading) fail(err error) {
	if ld.err == nil {
		ld.err = err
	}
	ld.stopOnce.Do(func() { close(ld.stopped) })
}

func (ld *loading) isStopped() bool {
	select {
	case <-ld.stopped:
		return true
	default:
		return false
	}
}

// parse parses a chunk into its slot's rows buffer, sized for the most
// rows its text can hold.
func (ld *loading) parse(c *chunk) {
	if c.err != nil || ld.isStopped() {
		return
	}
	if !c.clean {
		c.data = universalNewlines(c.data)
	}
	lay := c.layout
	need := 0
	if lay.rowSize > 0 && len(c.data) > 0 {
		rows := countLines(c.data)
		if lay.minFields > 0 {
			rows = min(rows, len(c.data)/lay.minFields+2)
		}
		need = rows * lay.rowSize
	}
	s := c.slot
	if cap(s.rows) < need {
		s.rows = make([]byte, need)
	}
	var lines int
	c.rows, lines, c.err = parseChunk(c, s.rows[:need], lay.rowSize, lay.cols, ld.structured, lay.ncols, ld.o, ld.sep)
	c.lines = c.skipped + lines
	c.dirty = min(need, (c.rows+1)*lay.rowSize)
}

// placed is a chunk's rows and where they go.
type placed struct {
	c   *chunk
	w   *bridge.ArrayWriter
	off int64
}

// commit takes a parsed chunk and, in input order, every chunk that can
// now go into its array: it gives each its offset (the rows before it are
// known) and returns them, for the caller to write without the lock.
func (ld *loading) commit(c *chunk) []placed {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.waiting[c.seq] = c
	var out []placed
	for {
		c, ok := ld.waiting[ld.next]
		if !ok {
			return out
		}
		delete(ld.waiting, ld.next)
		ld.next++
		base := ld.lineBase[c.in.index]
		ld.lineBase[c.in.index] += c.lines
		if c.err != nil {
			var pe *ParseError
			if errors.As(c.err, &pe) {
				pe.Line += base
			}
			ld.fail(c.err)
		}
		if ld.err != nil || c.rows == 0 {
			ld.release(c)
			continue
		}
		p, err := ld.place(c)
		if err != nil {
			ld.fail(err)
		}
		if p.w == nil {
			ld.release(c)
			continue
		}
		out = append(out, p)
	}
}

// place gives a chunk's rows their offset in their array, which grows to
// hold them. The array is made at its second row, with the shape's final
// form (numpy squeezes an array of one row): from there on a new row count
// keeps the header's length (see bridge.ArrayWriter.SetShape).
func (ld *loading) place(c *chunk) (placed, error) {
	o := &ld.outs[c.in.out]
	lay := c.layout
	o.layout = lay
	rows := c.slot.rows[:c.rows*lay.rowSize]
	if o.w == nil && o.rows+int64(c.rows) < 2 {
		o.pending = append(o.pending, rows...)
		o.rows += int64(c.rows)
		return placed{}, nil
	}
	shape := resultShape(o.rows+int64(c.rows), ld.structured, len(lay.cols), ld.o.NDMin)
	if o.w == nil {
		w, err := bridge.CreateArrayWriter("", npy.Header{DType: ld.o.DType, Shape: shape})
		if err != nil {
			return placed{}, err
		}
		o.w = w
		if err := w.Write(o.pending, 0); err != nil {
			return placed{}, err
		}
		o.pending = nil
	} else if err := o.w.SetShape(shape); err != nil {
		return placed{}, err
	}
	p := placed{c: c, w: o.w, off: o.rows * int64(lay.rowSize)}
	o.rows += int64(c.rows)
	return p, nil
}

// write writes a placed chunk's rows into its array.
func (ld *loading) write(p placed) {
	if err := p.w.Write(p.c.slot.rows[:p.c.rows*p.c.layout.rowSize], p.off); err != nil {
		ld.mu.Lock()
		ld.fail(err)
		ld.mu.Unlock()
	}
	ld.mu.Lock()
	ld.release(p.c)
	ld.mu.Unlock()
}

// release gives a chunk's slot back to the reader, its rows buffer zeroed.
func (ld *loading) release(c *chunk) {
	if c.slot != nil {
		clear(c.slot.rows[:c.dirty])
		ld.free <- c.slot
		c.slot = nil
	}
}

// finish sets each array's final shape and returns them.
func (ld *loading) finish() ([]*bridge.Array, error) {
	arrays := make([]*bridge.Array, 0, len(ld.outs))
	fail := func(err error) ([]*bridge.Array, error) {
		for _, a := range arrays {
			a.Unlink()
			a.Close()
		}
		ld.discard()
		return nil, err
	}
	for k := range ld.outs {
		o := &ld.outs[k]
		lay := o.layout
		if lay == nil {
			lay = ld.layoutOf(k)
		}
		shape := resultShape(o.rows, ld.structured, len(lay.cols), ld.o.NDMin)
		if o.w == nil {
			w, err := bridge.CreateArrayWriter("", npy.Header{DType: ld.o.DType, Shape: shape})
			if err != nil {
				return fail(err)
			}
			o.w = w
			if err := w.Write(o.pending, 0); err != nil {
				return fail(err)
			}
		} else if err := o.w.SetShape(shape); err != nil {
			return fail(err)
		}
		a, err := o.w.Finish() // discards the segment on error
		o.w = nil
		if err != nil {
			return fail(err)
		}
		arrays = append(arrays, a)
	}
	return arrays, nil
}

// discard removes every array not finished.
func (ld *loading) discard() {
	for k := range ld.outs {
		if w := ld.outs[k].w; w != nil {
			w.Discard()
			ld.outs[k].w = nil
		}
	}
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
