// Package bridge shares numpy arrays between processes through POSIX shared
// memory, with no copy, in the same names and byte layout Python uses.
//
// # Segments
//
// A segment is a file in /dev/shm (or $NPSHM_DIR): what shm_open creates and
// what Python's multiprocessing.shared_memory.SharedMemory(name) opens. Names
// follow Python's: an optional leading '/', then up to 255 bytes with no '/',
// NUL or ".."; auto names are "psm_" and 8 random hex digits (also valid on
// macOS, whose limit is 30 bytes); names beginning with ".npshm-tmp-" are
// reserved for npshm's temporaries.
//
// Segments are created with O_CREAT|O_EXCL and mode 0600, and their memory
// is reserved at create, so a full /dev/shm is an ErrNoSpace error then,
// never a SIGBUS later. A request that cannot fit at all (more than the
// directory's free space, or on a tmpfs more than the memory the machine or
// this process's cgroup can give) is refused before anything is allocated;
// the error names the fix (docker --shm-size, a Kubernetes memory emptyDir,
// or NPSHM_DIR).
//
// # Backends: Linux and macOS
//
// $NPSHM_BACKEND (BackendEnv) says how segments are named. "dir", the
// default on Linux, is the above: files in a directory, with everything
// this package and package lifecycle (ls, gc) offer. "shm_open", the
// default on macOS, uses POSIX shm_open/shm_unlink as Python's
// _posixshmem does (on Linux: files in /dev/shm, NPSHM_DIR ignored), and
// keeps macOS's limits on Linux too, so the tests check them there: names
// of at most 30 bytes; the header, not fstat (page-rounded on macOS),
// gives the array's size; no records for gc (ls and gc refuse, wrapping
// errors.ErrUnsupported); no rename, so Array.Publish under another name
// and pooling are refused or skipped, and Publish and Put create the array
// under its name, writing its header's first byte last; no memfd, so
// CreateAnonymous makes an shm object and unlinks it at once. Any other
// value is an error naming the variable (ErrUnknownBackend). The OS calls
// live in internal/osshm.
//
// # Layout
//
// An array segment holds exactly the bytes np.save writes:
//
//	0              .npy header (magic, version, length, dict, padding)
//	DataOffset     data: Len() elements, C order or Fortran order,
//	               DataOffset a multiple of 64
//	DataOffset+N   end of the segment (N = shape product x itemsize)
//
// So numpy attaches with np.load("/dev/shm/NAME", mmap_mode="r"), with
// SharedMemory(NAME) and numpy's header reader, or with the npshm Python
// package, and the array describes itself: no shape or dtype passed out of
// band. The same layout works on any file path (CreateFile, OpenFile) for
// arrays kept on disk.
//
// # Who unlinks
//
// Every process that opens a segment closes it (Close); exactly one, normally
// the creator, unlinks it (Unlink) when no new process needs to find it.
// Unlinking removes the name only: processes that have the segment mapped
// keep using it, and the memory returns to the system when the last of them
// closes or exits. A segment that nobody unlinks stays in /dev/shm until
// reboot; that is what `npshm rm` and `npshm gc` are for.
//
// # What others can do to you
//
// Opening a name never follows a symbolic link and never blocks on a FIFO:
// a link, a FIFO, a directory or a device under a segment's name is an
// error wrapping ErrNotRegular. An open waits at most 2 s for the shared
// flock of a file another process holds exclusively (gc does so for a
// moment only), then fails with ErrLocked naming the holder's PID. gc never
// removes a republished array (it moves the name aside before unlinking
// and puts back what is not the file it holds). A file received from a
// peer (Receive) is mapped only if it is a memfd sealed against shrinking
// or the very file its descriptor names; anything else wraps ErrUnsafeFD.
// A received named file is held (shared flock) as an attach holds it, so
// gc cannot take its name. A received sealed memfd whose missing pages
// (a sparse file) memory cannot hold is refused with ErrNoSpace, not
// mapped to run the process into the OOM killer. Whoever may write a named
// segment (its owner, and root: it is made 0600) can still truncate it
// under every mapping, which faults with SIGBUS, as with any shared file;
// that includes a peer that sends its own named segment. Anonymous arrays
// cannot shrink.
package bridge
