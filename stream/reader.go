package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Reader is one reader of a stream. Every reader sees every frame (a
// broadcast), from the newest one when it joined. It is safe for use by one
// goroutine at a time.
type Reader struct {
	seg     *bridge.Segment
	file    *os.File
	mem     []byte
	g       geometry
	frame   npy.Header
	lossy   bool
	entry   int // offset of this reader's entry
	head    *uint64
	next    uint64 // seq of the next frame to hand out
	held    uint64 // seq of the frame handed out last; 0 if none
	dropped uint64
	first   bool // no frame handed out yet
	closed  bool
}

// openWait bounds how long Open waits for a stream still being made (its
// segment exists, its control block not yet).
const openWait = time.Second

// Open attaches to the stream name as a new reader. Its first frame is the
// newest one published (or the first to come): a reader that joins late
// does not replay the ring. A missing name wraps os.ErrNotExist; a segment
// that is not a stream wraps ErrNotStream.
func Open(name string) (*Reader, error) {
	if err := supported(); err != nil {
		return nil, fmt.Errorf("open stream %q: %w", name, err)
	}
	deadline := time.Now().Add(openWait)
	for {
		r, err := open(name)
		if errors.Is(err, ErrNotStream) && errors.Is(err, errNotReady) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		return r, err
	}
}

var errNotReady = errors.New("not ready")

type notReady struct{ error }

func (e notReady) Is(t error) bool { return t == errNotReady }
func (e notReady) Unwrap() error   { return e.error }

func open(name string) (*Reader, error) {
	seg, err := bridge.OpenSegment(name, bridge.ReadWrite)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	fail := func(err error) (*Reader, error) {
		seg.Close()
		return nil, fmt.Errorf("open stream %q: %w", seg.Name(), err)
	}
	mem := seg.Bytes()
	g, frame, lossy, err := parse(mem[:min(len(mem), 1<<16)], func(off int) ([]byte, error) {
		c := mem[off : off+ctrlSize]
		// acquire: the control block's fields are read after the magic
		if atomic.LoadUint64(word64(c, cMagic)) == 0 {
			return nil, notReady{fmt.Errorf("%w: it is still being made", ErrNotStream)}
		}
		return c, nil
	}, len(mem))
	if err != nil {
		return fail(err)
	}
	r := &Reader{seg: seg, file: seg.File(), mem: mem, g: g, frame: frame, lossy: lossy, head: word64(mem, g.ctrl+cHead)}
	// claim a free entry: the first whose lock byte we can take
	r.entry = -1
	for i := range maxReaders {
		ok, err := osshm.TryLockByte(r.file, int64(g.reader(i)))
		if err != nil {
			return fail(fmt.Errorf("reader lock: %w", err))
		}
		if ok {
			r.entry = g.reader(i)
			break
		}
	}
	if r.entry < 0 {
		return fail(fmt.Errorf("%w: all %d reader entries are taken", ErrTooManyReaders, maxReaders))
	}
	// Join: the newest frame h now is the first this reader takes; its
	// cursor (h-1) is stored before it shows as active, so a producer that
	// sees it active keeps frame h and the later ones for it. A producer
	// that has not seen it yet could only reuse frame h's slot after writing
	// a whole ring in the meantime; the first frame's seq check (Next) then
	// starts the reader at the newest frame instead.
	h := atomic.LoadUint64(r.head)
	atomic.StoreUint64(word64(mem, r.entry+rCursor), sat(h))
	atomic.StoreUint64(word64(mem, r.entry+rPID), uint64(os.Getpid()))
	atomic.StoreUint32(word32(mem, r.entry+rActive), 1)
	r.next, r.first = max(h, 1), true
	return r, nil
}

// sat is the cursor of a reader whose next frame is the newest, h.
func sat(h uint64) uint64 {
	if h == 0 {
		return 0
	}
	return h - 1
}

// Frame is the frames' dtype and shape.
func (r *Reader) Frame() npy.Header { return r.frame }

// Lossy reports whether the stream is lossy.
func (r *Reader) Lossy() bool { return r.lossy }

// Seq is the sequence number of the frame the last Next returned (the
// first frame a stream sends is 1).
func (r *Reader) Seq() uint64 { return r.held }

// Timestamp is the CLOCK_MONOTONIC time, in nanoseconds, at which the frame
// the last Next returned was published.
func (r *Reader) Timestamp() uint64 {
	if r.held == 0 || r.closed {
		return 0
	}
	return atomic.LoadUint64(word64(r.mem, r.g.slot(r.held)+8))
}

// Dropped is the number of frames this reader skipped because it fell a
// ring behind (lossy mode only), or because they were overtaken while
// being handed out.
func (r *Reader) Dropped() uint64 { return r.dropped }

// Valid reports whether the frame the last Next returned is still intact.
// In blocking mode it always is, until the next call. In lossy mode the
// producer may reuse its slot while the reader holds it; check Valid after
// using the bytes (or copying them out): if it is false, what was read may
// be torn and must be discarded.
func (r *Reader) Valid() bool {
	if r.held == 0 || r.closed {
		return false
	}
	fence() // the caller's plain loads of the frame complete before seq is read again
	return atomic.LoadUint64(word64(r.mem, r.g.slot(r.held))) == r.held
}

// Next returns the next frame's bytes, a read-only view of its slot that
// stays valid until the next call to Next or Close (in lossy mode, see
// Valid). It blocks until a frame comes, ctx is done, the producer closes
// the stream (io.EOF, after the last frame), or the producer dies
// (ErrProducerDied, noticed within a second). In lossy mode a reader more
// than a ring behind skips to the newest frame and counts the skipped ones
// in Dropped.
func (r *Reader) Next(ctx context.Context) ([]byte, error) {
	if r.closed {
		return nil, fmt.Errorf("stream %q: %w", r.seg.Name(), os.ErrClosed)
	}
	cursor := word64(r.mem, r.entry+rCursor)
	if r.held != 0 {
		// done with the held frame: release its slot to the producer
		atomic.StoreUint64(cursor, r.held)
		if atomic.LoadUint32(word32(r.mem, r.g.ctrl+cPWaiting)) != 0 {
			futexWake(low32(cursor))
		}
		r.held = 0
	}
	slots := uint64(r.g.slots)
	for {
		h := atomic.LoadUint64(r.head)
		if h >= r.next {
			if r.lossy && h+2 > r.next+slots {
				// the slot of r.next may be being rewritten: go to the newest
				r.dropped += h - r.next
				r.next = h
			}
			off := r.g.slot(r.next)
			// Seqlock, reader side: the slot holds r.next now (acquire);
			// Valid checks it again after use.
			if atomic.LoadUint64(word64(r.mem, off)) != r.next {
				if r.first {
					r.next = atomic.LoadUint64(r.head) // joining: start again from the newest
					continue
				}
				if !r.lossy {
					return nil, fmt.Errorf("stream %q: frame %d: %w (blocking mode: a second producer?)", r.seg.Name(), r.next, ErrOvertaken)
				}
				r.dropped++ // overtaken as we looked
				r.next++
				continue
			}
			r.held, r.next, r.first = r.next, r.next+1, false
			fence() // the caller's plain loads of the frame come after the seq check
			return r.mem[off+slotHeader : off+slotHeader+r.g.frameBytes : off+slotHeader+r.g.frameBytes], nil
		}
		if atomic.LoadUint32(word32(r.mem, r.g.ctrl+cState)) == stateClosed {
			if atomic.LoadUint64(r.head) < r.next {
				return nil, io.EOF
			}
			continue
		}
		wait := readerWait
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if wait <= 0 {
			return nil, context.DeadlineExceeded
		}
		atomic.StoreUint32(word32(r.mem, r.g.ctrl+cSleepers), 1)
		start := time.Now()
		futexWait(low32(r.head), uint32(h), wait)
		if time.Since(start) >= wait/2 && atomic.LoadUint64(r.head) == h {
			// a long quiet wait: is the producer still there?
			held, err := osshm.ByteLockedByOther(r.file, int64(r.g.ctrl+cMagic))
			if err == nil && !held && atomic.LoadUint32(word32(r.mem, r.g.ctrl+cState)) != stateClosed &&
				atomic.LoadUint64(r.head) == h {
				return nil, fmt.Errorf("stream %q: %w (it ended without closing the stream)", r.seg.Name(), ErrProducerDied)
			}
		}
	}
}

// Close detaches the reader: the producer stops waiting for it. Views
// from Next must not be used afterwards. Calling Close again does nothing.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	atomic.StoreUint32(word32(r.mem, r.entry+rActive), 0)
	if atomic.LoadUint32(word32(r.mem, r.g.ctrl+cPWaiting)) != 0 {
		futexWake(low32(word64(r.mem, r.entry+rCursor)))
	}
	osshm.UnlockByte(r.file, int64(r.entry))
	return r.seg.Close()
}
