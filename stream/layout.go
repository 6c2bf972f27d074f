package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// The byte layout of a stream segment (docs/STREAMS.md has the picture).
//
//	0            .npy header: shape (slots,), dtype {seq <u8 @0, ts_ns <u8 @8,
//	             frame FRAME_DTYPE FRAME_SHAPE @64}, itemsize slotSize
//	dataOff      slot 0 .. slot slots-1, slotSize bytes each (a multiple of 64)
//	ctrl         control block (ctrlSize bytes), ctrl = dataOff+slots*slotSize
//	             rounded up to 4096
//
// All words are little-endian and naturally aligned.
const (
	magic       = "NPSTRM01"
	version     = 1
	slotHeader  = 64 // seq, ts_ns, padding: a frame starts 64 bytes into its slot
	maxReaders  = 64
	readerSize  = 64
	ctrlAlign   = 4096
	ctrlReaders = 256
	ctrlSize    = ctrlReaders + maxReaders*readerSize

	// control block, byte offsets from ctrl
	cMagic      = 0   // 8 bytes magic, stored last by the creator; byte 0 is the producer's lock byte
	cVersion    = 8   // u32
	cFlags      = 12  // u32: flagLossy
	cSlots      = 16  // u64
	cSlotSize   = 24  // u64
	cFrameBytes = 32  // u64
	cDataOffset = 40  // u64
	cMaxReaders = 48  // u32
	cHead       = 64  // u64: seq of the newest published frame (0: none yet); futex on its low half
	cSleepers   = 72  // u32: 1 when a reader may sleep on head
	cState      = 76  // u32: stateRunning, stateClosed
	cPWaiting   = 128 // u32: 1 while the producer sleeps on a reader's cursor
	cProducer   = 136 // u64: the producer's PID (informational)

	// reader entry i at ctrl+ctrlReaders+i*readerSize; its byte 0 is the
	// entry's lock byte
	rCursor = 0  // u64: seq of the last frame the reader is done with; futex on its low half
	rActive = 8  // u32: 1 while the entry is claimed
	rPID    = 16 // u64: the reader's PID (informational)

	flagLossy    = 1
	stateRunning = 0
	stateClosed  = 1
)

// Errors of the package, for errors.Is.
var (
	// ErrProducerDied: the producer exited or was killed without Close.
	ErrProducerDied = errors.New("stream producer died")
	// ErrNotStream: the segment is not a stream (or of another version).
	ErrNotStream = errors.New("not a stream")
	// ErrTooManyReaders: every reader entry of the stream is taken.
	ErrTooManyReaders = errors.New("too many readers")
	// ErrFrameSize: Send was given a buffer that is not exactly one frame.
	ErrFrameSize = errors.New("wrong frame size")
	// ErrOvertaken: in lossy mode the producer rewrote a frame's slot while
	// the reader held it (see Reader.Valid).
	ErrOvertaken = errors.New("frame overtaken by the producer")
)

// geometry is where things are in a stream segment.
type geometry struct {
	slots, slotSize, frameBytes int
	dataOff, ctrl, size         int
}

func (g geometry) slot(seq uint64) int { return g.dataOff + int((seq-1)%uint64(g.slots))*g.slotSize }
func (g geometry) reader(i int) int    { return g.ctrl + ctrlReaders + i*readerSize }

// frameHeader checks a frame description and returns its size in bytes.
func frameBytes(frame npy.Header) (int, error) {
	if frame.FortranOrder {
		return 0, fmt.Errorf("%w: frames are C order (fortran_order must be false)", npy.ErrDescr)
	}
	if frame.DType.HasObject() {
		return 0, fmt.Errorf("%w: object dtypes cannot be shared", npy.ErrDescr)
	}
	n, err := frame.NBytes()
	if err != nil {
		return 0, err
	}
	if n <= 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: a frame of %s %v is %d bytes; it must be 1 byte to 2 GiB", ErrFrameSize, frame.DType, frame.Shape, n)
	}
	return int(n), nil
}

// layout computes the segment's header bytes and geometry.
func layout(frame npy.Header, slots int) ([]byte, geometry, error) {
	fb, err := frameBytes(frame)
	if err != nil {
		return nil, geometry{}, err
	}
	slotSize := (slotHeader + fb + 63) &^ 63
	fields := []npy.Field{
		{Name: "seq", Type: npy.Uint64}, {Name: "ts_ns", Type: npy.Uint64}, {Type: npy.Void(slotHeader - 16)},
		{Name: "frame", Type: frame.DType, Shape: frame.Shape},
	}
	if pad := slotSize - slotHeader - fb; pad > 0 {
		fields = append(fields, npy.Field{Type: npy.Void(pad)})
	}
	dt, err := npy.NewStruct(fields...)
	if err != nil {
		return nil, geometry{}, err
	}
	if slots > (math.MaxInt64-2*ctrlAlign-ctrlSize)/slotSize-1 {
		return nil, geometry{}, fmt.Errorf("%d slots of %d bytes: too large", slots, slotSize)
	}
	hdr, err := npy.Header{DType: dt, Shape: []int{slots}}.Encode()
	if err != nil {
		return nil, geometry{}, err
	}
	g := geometry{slots: slots, slotSize: slotSize, frameBytes: fb, dataOff: len(hdr)}
	g.ctrl = (g.dataOff + slots*slotSize + ctrlAlign - 1) &^ (ctrlAlign - 1)
	g.size = g.ctrl + ctrlSize
	return hdr, g, nil
}

// parse checks that b (a whole stream segment, or its first bytes and its
// control block read from a file) is a stream and returns its geometry and
// frame header. Nothing read from the segment is trusted: every number is
// checked against the header and the segment's size.
func parse(head []byte, ctrlBlock func(off int) ([]byte, error), size int) (geometry, npy.Header, bool, error) {
	bad := func(why string) (geometry, npy.Header, bool, error) {
		return geometry{}, npy.Header{}, false, fmt.Errorf("%w: %s", ErrNotStream, why)
	}
	h, err := npy.ParseHeader(head)
	if err != nil {
		return bad(err.Error())
	}
	f, ok := h.DType.Field("frame")
	if len(h.Shape) != 1 || !ok || f.Offset != slotHeader || h.FortranOrder {
		return bad("its header is not a ring of slots")
	}
	frame := npy.Header{DType: f.Type, Shape: f.Shape}
	if frame.Shape == nil {
		frame.Shape = []int{}
	}
	want, g, err := layout(frame, h.Shape[0])
	if err != nil || h.Shape[0] < 2 || !bytes.Equal(want, head[:min(len(head), len(want))]) {
		return bad("its header is not the one a stream writes")
	}
	if g.size > size {
		return bad(fmt.Sprintf("segment is %d bytes, a stream of %d slots of %d needs %d", size, g.slots, g.slotSize, g.size))
	}
	c, err := ctrlBlock(g.ctrl)
	if err != nil {
		return geometry{}, npy.Header{}, false, err
	}
	le := binary.LittleEndian
	if string(c[cMagic:cMagic+8]) != magic {
		return bad("no stream control block (or it is still being made)")
	}
	if le.Uint32(c[cVersion:]) != version || le.Uint64(c[cSlots:]) != uint64(g.slots) ||
		le.Uint64(c[cSlotSize:]) != uint64(g.slotSize) || le.Uint64(c[cFrameBytes:]) != uint64(g.frameBytes) ||
		le.Uint64(c[cDataOffset:]) != uint64(g.dataOff) || le.Uint32(c[cMaxReaders:]) != maxReaders {
		return bad("its control block does not match its header")
	}
	return g, frame, le.Uint32(c[cFlags:])&flagLossy != 0, nil
}

// Info describes a stream, for npshm ls.
type Info struct {
	Frame   npy.Header // the frame's dtype and shape
	Slots   int
	Lossy   bool
	Sent    uint64 // frames published so far
	Readers int    // live readers
	State   string // "running", "closed" or "producer died"
}

// Mode is "lossy" or "blocking".
func (i Info) Mode() string {
	if i.Lossy {
		return "lossy"
	}
	return "blocking"
}

// Inspect reports whether the file at path is a stream, and describes it.
// It reads the file (no mapping, links not followed) and looks at its
// liveness locks; it changes nothing.
func Inspect(path string) (Info, bool) {
	if supported() != nil {
		return Info{}, false
	}
	f, err := osshm.Open(path, os.O_RDONLY, false) // never through a link, never blocking, regular files only
	if err != nil {
		return Info{}, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() > math.MaxInt {
		return Info{}, false
	}
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return Info{}, false
	}
	var ctrl []byte
	g, frame, lossy, err := parse(head[:n], func(off int) ([]byte, error) {
		ctrl = make([]byte, ctrlSize)
		_, err := f.ReadAt(ctrl, int64(off))
		return ctrl, err
	}, int(st.Size()))
	if err != nil {
		return Info{}, false
	}
	le := binary.LittleEndian
	info := Info{Frame: frame, Slots: g.slots, Lossy: lossy, Sent: le.Uint64(ctrl[cHead:]), State: "running"}
	for i := range maxReaders {
		e := ctrlReaders + i*readerSize
		if le.Uint32(ctrl[e+rActive:]) == 1 {
			if held, _ := osshm.ByteLockedByOther(f, int64(g.ctrl+e)); held {
				info.Readers++
			}
		}
	}
	if le.Uint32(ctrl[cState:]) == stateClosed {
		info.State = "closed"
	} else if held, err := osshm.ByteLockedByOther(f, int64(g.ctrl)); err == nil && !held {
		info.State = "producer died"
	}
	return info, true
}
