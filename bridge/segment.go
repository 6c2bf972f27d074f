package bridge

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
)

// Mode says how a segment is mapped.
type Mode int

const (
	// ReadOnly maps PROT_READ: the process cannot change the data, and a
	// write through a view faults. Use it for data others produced.
	ReadOnly Mode = iota
	// ReadWrite maps PROT_READ|PROT_WRITE, shared: writes are seen by every
	// process that maps the segment.
	ReadWrite
)

// Segment is one mapped POSIX shared-memory object (a file under Dir()) or,
// for arrays on disk, one mapped file.
//
// Ownership follows Python's SharedMemory: every process that opens a
// segment calls Close when done with it; exactly one (normally the creator)
// calls Unlink, after which the name is gone and the memory is freed once
// the last mapping closes. Close does not unlink, and a segment outlives the
// process that made it until it is unlinked.
//
// A Segment is safe for concurrent use: its name and path change only
// together, atomically, when it is published under a new name. Slices from
// Bytes, and views made from them, must not be used after Close: the memory
// is unmapped then. A
// forgotten Segment is not unmapped by the garbage collector, because views
// into it are invisible to the collector and would fault.
type Segment struct {
	id      atomic.Pointer[segmentID] // replaced whole by publish and Pool, read without the lock
	mode    Mode
	created bool
	ns      namespace.Backend // the namespace of a named segment; "" for a file or an anonymous array

	mu   sync.Mutex
	file *os.File
	data []byte
}

// segmentID is a segment's identity: its name (without a leading slash; the
// path for file-backed segments) and the file behind it ("" if anonymous).
type segmentID struct{ name, path string }

func newSegment(name, path string, mode Mode, created bool, f *os.File, ns namespace.Backend) *Segment {
	s := &Segment{mode: mode, created: created, file: f, ns: ns}
	s.setID(name, path)
	return s
}

func (s *Segment) setID(name, path string) { s.id.Store(&segmentID{name, path}) }

// CreateSegment creates a new segment of size bytes, zero-filled, with
// O_CREAT|O_EXCL and mode 0600, and maps it read-write. An empty name picks
// a fresh "psm_" name. Every page is allocated and mapped now, in parallel,
// so a full filesystem is an error wrapping ErrNoSpace here (never a SIGBUS
// later), nothing is left behind, and filling it takes no page faults.
//
// A request larger than the segment directory's free space, or (on a tmpfs)
// than the memory the machine or this process's cgroup can give, is refused
// before anything is allocated, with the fix in the message. Names
// beginning with ".npshm-tmp-" are reserved for npshm's temporaries.
func CreateSegment(name string, size int64) (*Segment, error) {
	if err := checkNewName(name); err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	return createSegment(name, size)
}

// createSegment is CreateSegment for any name, temporaries included.
func createSegment(name string, size int64) (*Segment, error) {
	if size <= 0 || size > math.MaxInt {
		return nil, fmt.Errorf("create segment %q: %w: %d bytes", name, ErrInvalidSize, size)
	}
	s, err := createNamed(name, size)
	if err != nil {
		return nil, err
	}
	if err := s.mapPopulated(size); err != nil {
		s.discard()
		return nil, fmt.Errorf("create segment %q: %w", s.Name(), noSpaceAt(err, s.ns.SpaceDir(), size))
	}
	return s, nil
}

// mapPopulated maps a freshly created segment read-write and allocates its pages.
func (s *Segment) mapPopulated(size int64) error {
	var err error
	if s.data, err = mapFile(s.file, size, ReadWrite); err != nil {
		return err
	}
	return populate(s.file, s.data)
}

// createNamed creates segment name (or fresh names until one is free),
// size bytes long, in the namespace $NPSHM_BACKEND chooses (see createIn),
// and returns it unmapped, read-write.
func createNamed(name string, size int64) (*Segment, error) {
	b, err := backend()
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	auto := name == ""
	for attempt := 0; ; attempt++ {
		n := name
		if auto {
			n = NewName()
		}
		clean, err := CleanName(n)
		if err != nil {
			return nil, fmt.Errorf("create segment: %w", err)
		}
		f, err := createIn(b, clean, size)
		if auto && errors.Is(err, os.ErrExist) && attempt < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create segment %q: %w", clean, err)
		}
		return newSegment(clean, b.Path(clean), ReadWrite, true, f, b), nil
	}
}

// createIn makes segment name in namespace b, size bytes long (a size of 0
// leaves it empty, to be sized later: shm_open objects can be sized once).
// With the dir backend it is createFile; shm_open objects take no records
// (no flock, no xattr).
func createIn(b namespace.Backend, name string, size int64) (*os.File, error) {
	if b.Records() {
		return createFile(b.Path(name), size)
	}
	if err := fits(b.SpaceDir(), size); err != nil {
		return nil, err
	}
	f, err := b.Create(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if size > 0 {
		if err := f.Truncate(size); err != nil {
			f.Close()
			b.Unlink(name)
			return nil, fmt.Errorf("size %d bytes: %w", size, err)
		}
	}
	return f, nil
}

// createFile makes path exclusively (0600) and size bytes long (sparse),
// and marks this process as its creator and a holder. Callers allocate the
// space: populate (shared memory), reserve (disk files) or write(2) (Put).
// A size that cannot fit (see fits) is refused before path is made. On
// failure it removes what it made.
func createFile(path string, size int64) (*os.File, error) {
	if err := fits(filepath.Dir(path), size); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, unwrapPath(err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := osshm.LockShared(f); err != nil {
		return fail(fmt.Errorf("flock: %w", err))
	}
	if err := osshm.SetXattr(f, namespace.XattrCreator, namespace.Self); err != nil {
		return fail(fmt.Errorf("record creator: %w", err))
	}
	if err := f.Truncate(size); err != nil {
		return fail(fmt.Errorf("size %d bytes: %w", size, err))
	}
	return f, nil
}

// unwrapPath drops os.PathError's path, which our messages name already,
// and says "no such segment" for ENOENT, or that the directory itself is
// missing (both still match os.ErrNotExist).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
		if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(pe.Op, "shm_") {
			return notFound{"POSIX shared memory (shm_open)"}
		}
		if errors.Is(err, os.ErrNotExist) {
			if err := checkDir(filepath.Dir(pe.Path)); err != nil {
				return err
			}
			return notFound{filepath.Dir(pe.Path)}
		}
	}
	return err
}

// notFound is a missing segment; errors.Is(err, os.ErrNotExist) holds.
type notFound struct{ dir string }

func (e notFound) Error() string        { return "no such segment in " + e.dir }
func (e notFound) Is(target error) bool { return target == os.ErrNotExist }

// mapFile maps size bytes of f shared, read-only (PROT_READ) or read-write.
func mapFile(f *os.File, size int64, mode Mode) ([]byte, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidSize, size)
	}
	return osshm.Map(f, size, mode == ReadWrite)
}

// populate allocates and maps every page of b, a fresh shared mapping of f,
// on every core: the pages are reserved (a full tmpfs is ErrNoSpace here,
// not SIGBUS later) and the producer's writes then take no page faults.
// Kernels before 5.14 lack MADV_POPULATE_WRITE; then f's space is reserved
// with fallocate instead.
func populate(f *os.File, b []byte) error {
	err := inChunks(int64(len(b)), 32<<20, func(lo, hi int64) error { return osshm.PopulateRange(b[lo:hi]) })
	if errors.Is(err, osshm.ErrNoPopulate) {
		return osshm.Reserve(f, int64(len(b)))
	}
	return err
}

// OpenSegment maps an existing segment in full. A missing name wraps
// os.ErrNotExist; a name that is a symbolic link (never followed), a FIFO,
// a directory or a device wraps ErrNotRegular. Opening never blocks.
func OpenSegment(name string, mode Mode) (*Segment, error) {
	clean, err := CleanName(name)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	b, err := backend()
	if err != nil {
		return nil, fmt.Errorf("open segment %q: %w", clean, err)
	}
	var s *Segment
	if b.Records() {
		s, err = openPath(clean, b.Path(clean), mode, false)
		if s != nil {
			s.ns = b
		}
	} else {
		s, err = openShm(b, clean, mode)
	}
	if err != nil {
		return nil, fmt.Errorf("open segment %q: %w", clean, err)
	}
	return s, nil
}

// replacedWait bounds how long an open keeps looking again at a name that
// is republished each time it opens it.
var replacedWait = 2 * time.Second

// lockWait bounds how long an open waits for a shared flock on a file
// another process holds exclusively: gc does so only for a moment, so a
// longer hold is someone else's (a file planted in the directory and
// locked), and the open fails with ErrLocked rather than hang.
var lockWait = 2 * time.Second

// lockWaiting, if set (by a test), is called each time an open starts to
// wait for a lock.
var lockWaiting func()

// lockShared takes a shared flock on f (released on Close or exit): at once
// if no one holds f exclusively, else polling with growing pauses for at
// most lockWait, then ErrLocked naming the holder.
func lockShared(f *os.File) error {
	ok, err := osshm.TryLockShared(f)
	if ok || err != nil {
		return wrapFlock(err)
	}
	if lockWaiting != nil {
		lockWaiting()
	}
	deadline := time.Now().Add(lockWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		time.Sleep(min(pause, max(time.Until(deadline), 0)))
		if ok, err := osshm.TryLockShared(f); ok || err != nil {
			return wrapFlock(err)
		}
		if time.Now().After(deadline) {
			break
		}
	}
	who := ""
	if st, err := osshm.Stat(f); err == nil {
		if pids := osshm.ExclusiveHolders(st.Ino); len(pids) > 0 {
			who = fmt.Sprintf(" (PID %d)", pids[0])
		}
	}
	return fmt.Errorf("%w%s: held for over %v (gc holds the lock only for a moment); "+
		"find and stop that process, or remove the name", ErrLocked, who, lockWait)
}

func wrapFlock(err error) error {
	if err != nil {
		return fmt.Errorf("flock: %w", err)
	}
	return nil
}

// openPath opens and maps path in full; follow says whether a symbolic link
// there is followed (see openFile).
func openPath(name, path string, mode Mode, follow bool) (*Segment, error) {
	flag := os.O_RDONLY
	if mode == ReadWrite {
		flag = os.O_RDWR
	}
	var replacedSince time.Time
	for {
		f, err := osshm.Open(path, flag, follow)
		if err != nil {
			return nil, unwrapPath(err)
		}
		// Hold the segment (a shared flock, released on Close or exit), then
		// make sure it still has its name: gc may have removed it, or a
		// republish replaced it, while we opened and locked it. Then look
		// again: the name holds the new array, or is gone (not found). A
		// name republished without pause can replace each file we open;
		// that is retried for replacedWait, not reported as missing.
		if err := lockShared(f); err != nil {
			f.Close()
			return nil, err
		}
		st, err := osshm.Stat(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if !st.Linked {
			f.Close()
			if replacedSince.IsZero() {
				replacedSince = time.Now()
			} else if time.Since(replacedSince) > replacedWait {
				return nil, fmt.Errorf("%w: replaced by a new file at every open for %v", ErrReplaced, replacedWait)
			}
			continue
		}
		data, err := mapFile(f, st.Size, mode)
		if err != nil {
			f.Close()
			return nil, err
		}
		s := newSegment(name, path, mode, false, f, "")
		s.data = data
		return s, nil
	}
}

// openShm opens and maps segment name of a namespace without records
// (shm_open): no flock, no look for a replaced file (nothing renames), and
// the size fstat gives taken as page-rounded, as macOS reports it; the
// array's header says how much of it is the array (newArray).
func openShm(b namespace.Backend, name string, mode Mode) (*Segment, error) {
	flag := os.O_RDONLY
	if mode == ReadWrite {
		flag = os.O_RDWR
	}
	f, err := b.Open(name, flag)
	if err != nil {
		return nil, unwrapPath(err)
	}
	st, err := osshm.Stat(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	data, err := mapFile(f, b.MapSize(st.Size), mode)
	if err != nil {
		f.Close()
		return nil, err
	}
	s := newSegment(name, b.Path(name), mode, false, f, b)
	s.data = data
	return s, nil
}

// Name is the segment's name without a leading slash, as Python's
// SharedMemory.name reports it (the path, for a file-backed segment).
func (s *Segment) Name() string { return s.id.Load().name }

// Path is the file behind the segment.
func (s *Segment) Path() string { return s.id.Load().path }

// Mode is how the segment is mapped.
func (s *Segment) Mode() Mode { return s.mode }

// Bytes is the whole mapped segment; nil after Close.
func (s *Segment) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Size is the mapped length in bytes.
func (s *Segment) Size() int64 { return int64(len(s.Bytes())) }

// Close unmaps the segment and closes its descriptor. It does not unlink.
// Calling Close again does nothing.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	err := osshm.Unmap(s.data)
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	s.data, s.file = nil, nil
	if err != nil {
		return fmt.Errorf("close segment %q: %w", s.Name(), err)
	}
	return nil
}

// Unlink removes the segment's name; processes that have it mapped keep
// their mapping until they close it. Call it once, from the owner.
func (s *Segment) Unlink() error {
	s.mu.Lock() // not while a publish renames it
	defer s.mu.Unlock()
	id := s.id.Load()
	if id.path == "" {
		return nil // anonymous: nothing to unlink
	}
	if err := s.remove(); err != nil {
		return fmt.Errorf("unlink segment %q: %w", id.name, unwrapPath(err))
	}
	return nil
}

// remove removes the segment's name (or file).
func (s *Segment) remove() error {
	id := s.id.Load()
	if s.ns != "" {
		return s.ns.Unlink(id.name)
	}
	return osshm.RemoveFile(id.path)
}

// discard closes and removes a segment this call just created.
func (s *Segment) discard() {
	s.Close()
	if s.Path() != "" {
		s.remove()
	}
}

// Unlink removes the named segment. A missing name wraps os.ErrNotExist.
func Unlink(name string) error {
	clean, err := CleanName(name)
	if err != nil {
		return fmt.Errorf("unlink segment: %w", err)
	}
	b, err := backend()
	if err != nil {
		return fmt.Errorf("unlink segment %q: %w", clean, err)
	}
	if err := b.Unlink(clean); err != nil {
		return fmt.Errorf("unlink segment %q: %w", clean, unwrapPath(err))
	}
	return nil
}
