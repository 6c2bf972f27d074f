// Package stream feeds frames from one producer to any number of readers,
// in Go or in Python (npshm.stream_writer / npshm.stream_reader), through a
// named ring of slots in shared memory, with no copy at either end.
//
// A stream carries frames of one dtype and shape (an npy.Header in C
// order). The producer fills the next slot in place (Acquire, Commit) or
// copies a frame in (Send); each frame gets a sequence number (the first is
// 1) and a CLOCK_MONOTONIC timestamp. Every reader sees every frame (a
// broadcast) as a read-only view of its slot (Next), from the newest frame
// published when it joined.
//
//	w, _ := stream.Create("camera", npy.Header{DType: npy.Uint8, Shape: []int{480, 640}}, stream.Options{})
//	defer w.Close()
//	buf, _ := w.Acquire(ctx) // the next slot, to fill in place
//	grab(buf)
//	w.Commit()
//
//	r, _ := stream.Open("camera")
//	defer r.Close()
//	for {
//		frame, err := r.Next(ctx) // valid until the next call
//		if err == io.EOF {
//			break // the producer closed the stream
//		}
//		...
//	}
//
// # Modes
//
// Blocking (the default): the producer waits, before reusing a slot, until
// every live reader is done with the frame in it, so no frame is ever lost
// and a view from Next stays intact until the next call. Lossy
// (Options.Lossy): the producer never waits; a reader that falls a ring
// behind skips to the newest frame and counts the skipped ones (Dropped). In
// lossy mode a slot may be rewritten while a reader holds its view: Valid,
// called after using the bytes, says whether they were intact (a seqlock on
// the slot's sequence number).
//
// # Waiting
//
// Nothing spins. Readers sleep on a futex on the stream's head word, the
// producer on the slowest reader's cursor; every sleep ends within 100 ms
// (readers) or 10 ms (producer), so a peer's death is noticed: a reader whose
// producer died without Close gets ErrProducerDied within a second, and a
// blocking producer stops waiting for a reader that died within a second.
// Liveness is kernel-kept: the producer and each reader hold an
// open-file-description lock on one byte of the control block, which the
// kernel drops when the process dies, SIGKILL included.
//
// # Layout and lifecycle
//
// A stream is a segment (bridge.CreateSegment) holding a complete .npy
// image, an array of slots (seq <u8, ts_ns <u8, frame), followed by a
// control block: np.load(path, mmap_mode="r") shows the last frames, and
// npshm ls shows the stream. docs/STREAMS.md gives the byte layout, the
// protocol and its memory ordering. The producer's Close unlinks the name;
// a stream whose producer died is reclaimed by npshm gc once no reader
// holds it, and npshm rm removes one.
//
// Streams need Linux (futex and OFD locks); elsewhere Create and Open fail
// with an error wrapping errors.ErrUnsupported.
package stream
