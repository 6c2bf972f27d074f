package bridge

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/npshm/npshm/npy"
)

// CreateAnonymous creates an array in a memfd: shared memory with no name,
// so nothing is left in /dev/shm to leak. Hand it to another process with
// Send; the memory returns to the system when the last process that has it
// closes it or exits. Its size is sealed (it cannot shrink or grow), so a
// peer can never truncate it under another's mapping.
func CreateAnonymous(h npy.Header) (*Array, error) {
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	size := int64(len(hdr)) + nbytes
	if err := fits("", size); err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	f, err := memfd("npshm")
	if err != nil {
		return nil, err
	}
	seg := &Segment{mode: ReadWrite, created: true, file: f}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	if err := sealSize(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("create anonymous array: seal: %w", err)
	}
	if err := seg.mapPopulated(size); err != nil {
		seg.Close()
		return nil, fmt.Errorf("create anonymous array: %w", noSpaceAt(err, "", size))
	}
	return fillHeader(seg, hdr, h, nbytes), nil
}

// Anonymous reports whether the array lives in a memfd rather than a named
// segment or file.
func (a *Array) Anonymous() bool { return a.seg.path == "" }

// Send hands the array to the process at the other end of conn: one message
// carrying the descriptor as a JSON line and the file descriptor
// (SCM_RIGHTS). It works for anonymous and named arrays. The receiver gets
// its own descriptor; this process may Close its array right after.
func Send(conn *net.UnixConn, a *Array) error {
	a.seg.mu.Lock()
	f := a.seg.file
	a.seg.mu.Unlock()
	if f == nil {
		return fmt.Errorf("send: %w", errClosedArray(a))
	}
	msg := []byte(a.Descriptor().String() + "\n")
	n, _, err := conn.WriteMsgUnix(msg, rightsFor(f), nil)
	if err == nil && n < len(msg) {
		_, err = conn.Write(msg[n:])
	}
	if err != nil {
		return fmt.Errorf("send %s: %w", label(a), err)
	}
	return nil
}

// Receive takes one array sent with Send (or npshm.send in Python) from
// conn and maps it. It checks the header against the descriptor that came
// with it, and refuses a memfd whose size is not sealed.
func Receive(conn *net.UnixConn, mode Mode) (*Array, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, 64)
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if oobn == 0 {
		if n == 0 {
			return nil, fmt.Errorf("receive: %w", io.EOF)
		}
		return nil, fmt.Errorf("receive: message carries no file descriptor")
	}
	f, err := fdFrom(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	msg := buf[:n]
	for !bytes.HasSuffix(msg, []byte("\n")) && len(msg) < len(buf) { // a stream socket may split it
		m, err := conn.Read(buf[len(msg):])
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("receive: descriptor line: %w", err)
		}
		msg = buf[:len(msg)+m]
	}
	d, err := ParseDescriptor(msg)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("receive: %w", err)
	}
	if !sizeSealed(f) {
		f.Close()
		return nil, fmt.Errorf("receive: memfd is not sealed against shrinking; a peer could truncate it under us")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("receive: %w", err)
	}
	seg := &Segment{name: d.Name, mode: mode, file: f}
	if seg.data, err = mapFile(f, st.Size(), mode); err != nil {
		f.Close()
		return nil, fmt.Errorf("receive: %w", err)
	}
	a, err := newArray(seg)
	if err == nil {
		err = checkDescriptor(a, d)
	}
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("receive: %w", err)
	}
	return a, nil
}

func label(a *Array) string {
	if a.Anonymous() {
		return "anonymous array"
	}
	return fmt.Sprintf("%q", a.seg.name)
}

func errClosedArray(a *Array) error { return fmt.Errorf("%s: %w", label(a), os.ErrClosed) }
