package stream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// DefaultSlots is the ring size when Options.Slots is 0.
const DefaultSlots = 8

// Options configure a new stream.
type Options struct {
	// Slots is the number of frames the ring holds (at least 2); 0 means
	// DefaultSlots.
	Slots int
	// Lossy makes the producer never wait: a reader that falls behind by a
	// ring skips to the newest frame and counts what it missed (Dropped).
	// By default (blocking) the producer waits for the slowest live reader
	// and no frame is lost.
	Lossy bool
}

// How long one futex wait lasts at most. Every wait ends within this time,
// so a dead peer is noticed: readers check the producer at each timeout,
// the producer checks the readers it waits for every livenessEvery.
const (
	readerWait    = 100 * time.Millisecond
	producerWait  = 10 * time.Millisecond
	livenessEvery = 250 * time.Millisecond
)

// Writer is the producer end of a stream. It is safe for use by one
// goroutine at a time.
type Writer struct {
	mu      sync.Mutex
	seg     *bridge.Segment
	file    *os.File
	mem     []byte
	g       geometry
	frame   npy.Header
	lossy   bool
	head    *uint64
	pending uint64 // seq of the acquired, uncommitted slot; 0 if none
	sent    uint64 // frames published, kept at Close
	closed  bool
}

// Create makes the stream name (a segment name, as bridge.CreateSegment
// takes) for frames of the dtype and shape in frame (C order), and returns
// its producer. The segment is an .npy image of the ring of slots followed
// by a control block (docs/STREAMS.md); readers attach with Open.
func Create(name string, frame npy.Header, o Options) (*Writer, error) {
	if err := supported(); err != nil {
		return nil, fmt.Errorf("create stream %q: %w", name, err)
	}
	slots := o.Slots
	if slots == 0 {
		slots = DefaultSlots
	}
	if slots < 2 {
		return nil, fmt.Errorf("create stream %q: %d slots: a ring needs at least 2", name, slots)
	}
	hdr, g, err := layout(frame, slots)
	if err != nil {
		return nil, fmt.Errorf("create stream %q: %w", name, err)
	}
	seg, err := bridge.CreateSegment(name, int64(g.size))
	if err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	w := &Writer{seg: seg, file: seg.File(), mem: seg.Bytes(), g: g, frame: frame, lossy: o.Lossy}
	fail := func(err error) (*Writer, error) {
		seg.Unlink()
		seg.Close()
		return nil, fmt.Errorf("create stream %q: %w", seg.Name(), err)
	}
	// The producer's liveness lock, taken before the stream exists for
	// readers (before the magic is stored), held until Close or death.
	if ok, err := osshm.TryLockByte(w.file, int64(g.ctrl+cMagic)); !ok || err != nil {
		return fail(fmt.Errorf("producer lock: %v", err))
	}
	copy(w.mem, hdr)
	c := w.mem[g.ctrl:]
	var flags uint32
	if o.Lossy {
		flags = flagLossy
	}
	*word32(c, cVersion) = version
	*word32(c, cFlags) = flags
	*word64(c, cSlots) = uint64(g.slots)
	*word64(c, cSlotSize) = uint64(g.slotSize)
	*word64(c, cFrameBytes) = uint64(g.frameBytes)
	*word64(c, cDataOffset) = uint64(g.dataOff)
	*word32(c, cMaxReaders) = maxReaders
	*word64(c, cProducer) = uint64(os.Getpid())
	// release: everything above is visible before the magic is
	atomic.StoreUint64(word64(c, cMagic), leUint64(magic))
	w.head = word64(c, cHead)
	return w, nil
}

func leUint64(s string) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v
}

// Name is the stream's segment name.
func (w *Writer) Name() string { return w.seg.Name() }

// Frame is the frames' dtype and shape.
func (w *Writer) Frame() npy.Header { return w.frame }

// Slots is the ring size.
func (w *Writer) Slots() int { return w.g.slots }

// Sent is the number of frames published so far (the newest one's seq).
func (w *Writer) Sent() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.sent
	}
	return atomic.LoadUint64(w.head)
}

// Readers is the number of readers attached now: entries claimed by a
// live reader (one that died is not counted, even before the producer
// frees its entry).
func (w *Writer) Readers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0
	}
	n := 0
	for i := range maxReaders {
		e := w.g.reader(i)
		if atomic.LoadUint32(word32(w.mem, e+rActive)) == 1 {
			if held, err := osshm.ByteLockedByOther(w.file, int64(e)); held && err == nil {
				n++
			}
		}
	}
	return n
}

// Send copies one frame (exactly Frame's size in bytes) into the next slot
// and publishes it. In blocking mode it waits for the slowest live reader.
func (w *Writer) Send(frame []byte) error {
	if len(frame) != w.g.frameBytes {
		return fmt.Errorf("send on stream %q: %w: %d bytes, a frame is %d", w.Name(), ErrFrameSize, len(frame), w.g.frameBytes)
	}
	buf, err := w.Acquire(context.Background())
	if err != nil {
		return err
	}
	copy(buf, frame)
	return w.Commit()
}

// Acquire returns the next slot's frame bytes to fill in place, waiting in
// blocking mode until every live reader is done with the frame it held.
// Commit publishes it. Until then readers do not see it; calling Acquire
// again returns the same slot. The bytes are valid until Commit or Close.
// ctx bounds the wait.
func (w *Writer) Acquire(ctx context.Context) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("stream %q: %w", w.Name(), os.ErrClosed)
	}
	seq := atomic.LoadUint64(w.head) + 1
	off := w.g.slot(seq)
	if w.pending != seq {
		if !w.lossy && seq > uint64(w.g.slots) {
			if err := w.waitReaders(ctx, seq-uint64(w.g.slots)); err != nil {
				return nil, err
			}
		}
		// Seqlock, writer side: the slot's seq is 0 while it is written.
		// The fence keeps the frame's plain stores after that store.
		atomic.StoreUint64(word64(w.mem, off), 0)
		fence()
		w.pending = seq
	}
	return w.mem[off+slotHeader : off+slotHeader+w.g.frameBytes : off+slotHeader+w.g.frameBytes], nil
}

// Commit publishes the slot Acquire returned, stamped with its sequence
// number and CLOCK_MONOTONIC, and wakes sleeping readers.
func (w *Writer) Commit() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("stream %q: %w", w.Name(), os.ErrClosed)
	}
	seq := w.pending
	if seq == 0 {
		return fmt.Errorf("commit on stream %q: no slot acquired", w.Name())
	}
	off := w.g.slot(seq)
	atomic.StoreUint64(word64(w.mem, off+8), monotonicNS())
	// Release: the frame's stores, then the slot's seq, then head. Go's
	// atomic stores are sequentially consistent (XCHG on x86-64, STLR on
	// arm64, which orders every earlier store before it).
	atomic.StoreUint64(word64(w.mem, off), seq)
	atomic.StoreUint64(w.head, seq)
	w.pending = 0
	w.wake()
	return nil
}

// wake wakes the readers sleeping on head, if any said they might sleep.
// A reader stores sleepers = 1 and then sleeps in futex_wait, which reads
// head after a full barrier; the producer stores head and then swaps
// sleepers (both sequentially consistent): either the reader sees the new
// head, or the producer sees its flag and wakes it.
func (w *Writer) wake() {
	c := w.mem[w.g.ctrl:]
	if atomic.SwapUint32(word32(c, cSleepers), 0) != 0 {
		futexWake(low32(w.head))
	}
}

// waitReaders waits until every live reader's cursor is at least need.
// Readers that died (their lock byte is free) are released every
// livenessEvery.
func (w *Writer) waitReaders(ctx context.Context, need uint64) error {
	c := w.mem[w.g.ctrl:]
	pw := word32(c, cPWaiting)
	lastCheck := time.Now()
	for {
		slow := -1
		var cur uint64
		for i := range maxReaders {
			e := w.g.reader(i)
			if atomic.LoadUint32(word32(w.mem, e+rActive)) != 1 {
				continue
			}
			if v := atomic.LoadUint64(word64(w.mem, e+rCursor)); v < need && (slow < 0 || v < cur) {
				slow, cur = i, v
			}
		}
		if slow < 0 {
			atomic.StoreUint32(pw, 0)
			return nil
		}
		if err := ctx.Err(); err != nil {
			atomic.StoreUint32(pw, 0)
			return fmt.Errorf("stream %q: waiting for reader %d: %w", w.Name(), slow, err)
		}
		if time.Since(lastCheck) >= livenessEvery {
			w.releaseDead()
			lastCheck = time.Now()
			continue
		}
		// Sleep on the slow reader's cursor: it stores its cursor, then
		// wakes us if it sees pwaiting (both sequentially consistent in Go;
		// see docs/STREAMS.md for Python readers).
		cw := word64(w.mem, w.g.reader(slow)+rCursor)
		atomic.StoreUint32(pw, 1)
		if atomic.LoadUint64(cw) == cur {
			futexWait(low32(cw), uint32(cur), producerWait)
		}
	}
}

// releaseDead frees the entries of readers that are gone: an entry whose
// lock byte the producer can take has no live reader. The producer holds
// the lock while it clears the entry, so no new reader claims it meanwhile.
func (w *Writer) releaseDead() {
	for i := range maxReaders {
		e := w.g.reader(i)
		if atomic.LoadUint32(word32(w.mem, e+rActive)) != 1 {
			continue
		}
		if ok, err := osshm.TryLockByte(w.file, int64(e)); ok && err == nil {
			atomic.StoreUint32(word32(w.mem, e+rActive), 0)
			osshm.UnlockByte(w.file, int64(e))
		}
	}
}

// Close ends the stream: readers get every frame already published, then
// io.EOF. It unlinks the name (readers attached keep their mapping; a name
// removed already, by npshm rm, is no error) and unmaps. Calling Close
// again does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.sent = atomic.LoadUint64(w.head)
	c := w.mem[w.g.ctrl:]
	atomic.StoreUint32(word32(c, cState), stateClosed)
	futexWake(low32(w.head))
	err := w.seg.Unlink()
	if errors.Is(err, os.ErrNotExist) {
		err = nil // removed already (npshm rm)
	}
	if cerr := w.seg.Close(); err == nil {
		err = cerr
	}
	w.mem = nil
	if err != nil {
		return fmt.Errorf("close stream: %w", err)
	}
	return nil
}
