package loader

// The load's flow: Load starts the reader and the parsers; each parser
// parses a chunk, then commits the chunks that are next in input order and
// writes their rows into their arrays.

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/parallel"
	"github.com/npshm/npshm/npy"
)

// maxBuffer bounds a chunk's parsed rows in memory (the text read at a
// time is cut to fit).
const maxBuffer = 64 << 20

// chunksPerParser and minChunk size the chunks of a small load (see Load).
const (
	chunksPerParser = 8
	minChunk        = 256 << 10
)

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
	// A small load gets smaller chunks, about chunksPerParser for each
	// parser: every core starts parsing soon after the first read and they
	// end together, where a few large chunks would leave one idle.
	if total > 0 {
		target = min(target, max(minChunk, int(total/int64(chunksPerParser*parallel.Workers()))))
	}
	r := &reader{ld: ld, maxLine: maxLine, target: target, afterRead: afterChunkRead}
	nslots := parallel.Workers() + 2 // every parser busy, one chunk being read, one waiting
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
	parallel.Run(parallel.Workers(), func(int) {
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
	})
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
	c.rows, lines, c.err = chunkRows(c, s.rows[:need], lay.rowSize, lay.cols, ld.structured, lay.ncols, ld.o, ld.sep)
	c.lines = c.skipped + lines
	c.dirty = min(need, (c.rows+1)*lay.rowSize)
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

// placed is a chunk's rows and where they go.
type placed struct {
	c   *chunk
	w   *bridge.ArrayWriter
	off int64
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
