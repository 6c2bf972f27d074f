package bridge

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
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
// A Segment is safe for concurrent use. Slices from Bytes, and views made
// from them, must not be used after Close: the memory is unmapped then. A
// forgotten Segment is not unmapped by the garbage collector, because views
// into it are invisible to the collector and would fault.
type Segment struct {
	name    string // without a leading slash; the path for file-backed segments
	path    string
	mode    Mode
	created bool

	mu   sync.Mutex
	file *os.File
	data []byte
}

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
	s, err := createNamed(name, func(path string) (*os.File, error) { return createFile(path, size) })
	if err != nil {
		return nil, err
	}
	if err := s.mapPopulated(size); err != nil {
		s.discard()
		return nil, fmt.Errorf("create segment %q: %w", s.name, noSpaceAt(err, filepath.Dir(s.path), size))
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

// createNamed runs create on the path of name (or of fresh names until one
// is free) and returns an unmapped read-write Segment.
func createNamed(name string, create func(path string) (*os.File, error)) (*Segment, error) {
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
		path := segmentPath(clean)
		f, err := create(path)
		if auto && errors.Is(err, os.ErrExist) && attempt < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create segment %q: %w", clean, err)
		}
		return &Segment{name: clean, path: path, mode: ReadWrite, created: true, file: f}, nil
	}
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
	if err := lockShared(f); err != nil {
		return fail(fmt.Errorf("flock: %w", err))
	}
	if err := setXattr(f, xattrCreator, self.String()); err != nil {
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

// OpenSegment maps an existing segment in full. A missing name wraps
// os.ErrNotExist.
func OpenSegment(name string, mode Mode) (*Segment, error) {
	clean, err := CleanName(name)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	s, err := openPath(clean, segmentPath(clean), mode)
	if err != nil {
		return nil, fmt.Errorf("open segment %q: %w", clean, err)
	}
	return s, nil
}

func openPath(name, path string, mode Mode) (*Segment, error) {
	flag := os.O_RDONLY
	if mode == ReadWrite {
		flag = os.O_RDWR
	}
	for attempt := 0; attempt < 3; attempt++ {
		f, err := openFile(path, flag)
		if err != nil {
			return nil, unwrapPath(err)
		}
		// Hold the segment (a shared flock, released on Close or exit), then
		// make sure it still has its name: gc may have removed it, or a
		// republish replaced it, while we waited for the lock.
		if err := lockShared(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("flock: %w", err)
		}
		size, regular, linked := linkedSize(f)
		switch {
		case !linked:
			f.Close()
			continue // look again: the name may now hold a new array
		case !regular:
			f.Close()
			return nil, fmt.Errorf("not a regular file")
		}
		data, err := mapFile(f, size, mode)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &Segment{name: name, path: path, mode: mode, file: f, data: data}, nil
	}
	return nil, notFound{filepath.Dir(path)}
}

// Name is the segment's name without a leading slash, as Python's
// SharedMemory.name reports it (the path, for a file-backed segment).
func (s *Segment) Name() string { return s.name }

// Path is the file behind the segment.
func (s *Segment) Path() string { return s.path }

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
	err := unmap(s.data)
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	s.data, s.file = nil, nil
	if err != nil {
		return fmt.Errorf("close segment %q: %w", s.name, err)
	}
	return nil
}

// Unlink removes the segment's name; processes that have it mapped keep
// their mapping until they close it. Call it once, from the owner.
func (s *Segment) Unlink() error {
	if s.path == "" {
		return nil // anonymous: nothing to unlink
	}
	if err := os.Remove(s.path); err != nil {
		return fmt.Errorf("unlink segment %q: %w", s.name, unwrapPath(err))
	}
	return nil
}

// discard closes and removes a segment this call just created.
func (s *Segment) discard() {
	s.Close()
	if s.path != "" {
		os.Remove(s.path)
	}
}

// Unlink removes the named segment. A missing name wraps os.ErrNotExist.
func Unlink(name string) error {
	clean, err := CleanName(name)
	if err != nil {
		return fmt.Errorf("unlink segment: %w", err)
	}
	if err := os.Remove(segmentPath(clean)); err != nil {
		return fmt.Errorf("unlink segment %q: %w", clean, unwrapPath(err))
	}
	return nil
}
