package bridge

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// CreateAnonymous creates an array in a memfd: shared memory with no name,
// so nothing is left in /dev/shm to leak. Hand it to another process with
// Send; the memory returns to the system when the last process that has it
// closes it or exits. Its size is sealed (it cannot shrink or grow), so a
// peer can never truncate it under another's mapping.
//
// With the shm_open backend (macOS has no memfd) it is an shm_open object
// unlinked right after it is made: no name either, and on macOS its size,
// set once, cannot change. On Linux such an object is a plain file that a
// peer could shrink (see Receive).
func CreateAnonymous(h npy.Header) (*Array, error) {
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	size := int64(len(hdr)) + nbytes
	b, err := backend()
	if err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	if b == namespace.ShmOpen {
		return createUnlinked(hdr, h, nbytes)
	}
	if err := fits("", size); err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	f, err := osshm.Memfd("npshm")
	if err != nil {
		return nil, fmt.Errorf("create anonymous array: %w (macOS has no memfd: unset %s or set it to %s)", err, BackendEnv, namespace.ShmOpen)
	}
	seg := newSegment("", "", ReadWrite, true, f, "")
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	if err := osshm.SealSize(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("create anonymous array: seal: %w", err)
	}
	if err := seg.mapPopulated(size); err != nil {
		seg.Close()
		return nil, fmt.Errorf("create anonymous array: %w", noSpaceAt(err, "", size))
	}
	return fillHeader(seg, hdr, h, nbytes), nil
}

// createUnlinked is CreateAnonymous for the shm_open backend.
func createUnlinked(hdr []byte, h npy.Header, nbytes int64) (*Array, error) {
	size := int64(len(hdr)) + nbytes
	seg, err := createSegment("", size)
	if err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	err = seg.remove()
	seg.setID("", "")
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("create anonymous array: unlink: %w", err)
	}
	return fillHeader(seg, hdr, h, nbytes), nil
}

// Anonymous reports whether the array lives in a memfd rather than a named
// segment or file.
func (a *Array) Anonymous() bool { return a.seg.Path() == "" }

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
	n, _, err := conn.WriteMsgUnix(msg, osshm.Rights(f), nil)
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
// with it.
//
// The sender keeps the file, so Receive maps only a file whose size the
// sender cannot shrink under the mapping (which would kill this process
// with SIGBUS): a memfd sealed against shrinking (CreateAnonymous,
// npshm.share_anonymous), or the very file the descriptor names (a named
// segment in Dir(), or a .npy file at its path), which exposes this process
// to no one but those who may write that name, as attaching by name does.
// Anything else (an unsealed memfd, an O_TMPFILE or unlinked file, a file
// passed off under another's name, a pipe, socket, directory or device) is
// refused before mapping with an error wrapping ErrUnsafeFD, and every
// descriptor the message carried is closed.
//
// A named file is held as an attach holds it (a shared flock, waited for
// as OpenArray waits: at most 2 s, then ErrLocked), so gc cannot take its
// name while this process has it, even once its sender has exited. A
// sealed memfd whose pages are not all allocated (a sparse file) is
// refused with ErrNoSpace if memory cannot hold what is missing: reading
// it would otherwise allocate until the OOM killer came.
//
// With the shm_open backend, an shm object with no name (what
// CreateAnonymous makes there, macOS having no memfd) is mapped too: on
// macOS its size, once set, cannot change. On Linux that object is an
// unlinked file its sender could still shrink: the backend is there to
// test the macOS logic, not to be used between mutually untrusting
// processes.
func Receive(conn *net.UnixConn, mode Mode) (*Array, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, 64)
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if oobn == 0 {
		if n == 0 {
			return nil, fmt.Errorf("receive: %w", io.EOF)
		}
		return nil, fmt.Errorf("receive: message carries no file descriptor")
	}
	f, err := osshm.FileFromRights(oob[:oobn])
	if err == nil && osshm.Truncated(flags) { // more descriptors than fit: the kernel closed the rest
		f.Close()
		err = fmt.Errorf("want one file descriptor in the message, got more")
	}
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
	size, path, err := checkReceived(f, d)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("receive: %w", err)
	}
	var ns namespace.Backend
	b, _ := backend()
	if path != "" && d.Path == "" && path == b.Path(d.Name) {
		ns = b // a named segment: Unlink unlinks it in its namespace
	}
	if path != "" && (d.Path != "" || b.Records()) { // held as an attach holds it (shm objects take no flock)
		if err := holdReceived(f, path); err != nil {
			f.Close()
			return nil, fmt.Errorf("receive: %w", err)
		}
	}
	if b == namespace.ShmOpen && path == "" {
		ns = b // the header, not fstat, gives the size of an shm object
	}
	seg := newSegment(d.Name, path, mode, false, f, ns)
	if seg.data, err = mapFile(f, b.MapSize(size), mode); err != nil {
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

// receivedPath is the file a received descriptor names: "" for an
// anonymous array or a name that is not valid.
func receivedPath(d Descriptor) string {
	if d.Path != "" {
		return d.Path
	}
	b, err := backend()
	if clean, cerr := CleanName(d.Name); err == nil && cerr == nil && !d.Anonymous {
		return b.Path(clean)
	}
	return ""
}

// checkReceived returns the size of f, received with descriptor d, if it is
// safe to map (see Receive), else an error wrapping ErrUnsafeFD; and the
// path of the file if f is the file d names ("" for an anonymous array).
func checkReceived(f *os.File, d Descriptor) (size int64, path string, err error) {
	st, err := osshm.Stat(f)
	if err != nil {
		return 0, "", err
	}
	if st.Kind != "" {
		if st.Kind == "a FIFO" {
			st.Kind = "a pipe or FIFO"
		}
		return 0, "", fmt.Errorf("%w: it is %s, not a regular file", ErrUnsafeFD, st.Kind)
	}
	named := receivedPath(d)
	isNamed := false
	if named != "" {
		at, err := osshm.Lstat(named)
		isNamed = err == nil && st.Linked && at.Same(st)
	}
	const why = "its sender could shrink it under the mapping"
	switch {
	case isNamed:
		return st.Size, named, nil
	case osshm.SealedAgainstShrink(f):
		return st.Size, "", checkAllocated(st)
	case named == "" && !st.Linked && isShmOpen():
		return st.Size, "", checkAllocated(st) // an anonymous shm object (see Receive)
	case osshm.ShmSizeFixed && isShmOpen():
		return st.Size, named, nil // macOS: an shm object's size is set once
	case named != "":
		return 0, "", fmt.Errorf("%w: it is not the segment %q its descriptor names, nor sealed against shrinking: %s",
			ErrUnsafeFD, cmp.Or(d.Path, d.Name), why)
	case !st.Linked:
		return 0, "", fmt.Errorf("%w: it is not sealed against shrinking and has no name (an unsealed memfd, "+
			"an O_TMPFILE or an unlinked file): %s", ErrUnsafeFD, why)
	}
	return 0, "", fmt.Errorf("%w: it is not sealed against shrinking and its descriptor names no segment: %s",
		ErrUnsafeFD, why)
}

// checkAllocated refuses a received memory file (a memfd, an anonymous shm
// object) whose pages are not all there (a sparse file: a header and a
// hole, say) when memory cannot hold what is missing: reading it would
// allocate those pages until the OOM killer came, not fault or fail. What
// is missing is checked as a new memfd is (fits), with ErrNoSpace.
func checkAllocated(st osshm.State) error {
	hole := st.Size - st.Allocated
	if hole <= 0 {
		return nil
	}
	if err := fits("", hole); err != nil {
		return fmt.Errorf("its sender declared %s, of which %s has no pages yet (a sparse file), "+
			"which reading it would allocate: %w", sizeText(st.Size), sizeText(hole), err)
	}
	return nil
}

// holdReceived takes the shared flock on f, a received named file at path,
// that an attach takes (see lockShared), so gc sees it in use; then checks
// that path still names f (gc may have removed it, or a republish
// replaced it, before the lock was had).
func holdReceived(f *os.File, path string) error {
	if err := lockShared(f); err != nil {
		return err
	}
	st, err := osshm.Stat(f)
	if err != nil {
		return err
	}
	if at, err := osshm.Lstat(path); err != nil || !st.Linked || !at.Same(st) {
		return fmt.Errorf("%w: %s lost its name while it was received (gc removed it, or it was republished); "+
			"send it again", ErrReplaced, path)
	}
	return nil
}

func label(a *Array) string {
	if a.Anonymous() {
		return "anonymous array"
	}
	return fmt.Sprintf("%q", a.seg.Name())
}

func errClosedArray(a *Array) error { return fmt.Errorf("%s: %w", label(a), os.ErrClosed) }

// isShmOpen reports whether $NPSHM_BACKEND is shm_open (or its default is).
func isShmOpen() bool {
	b, _ := backend()
	return b == namespace.ShmOpen
}
