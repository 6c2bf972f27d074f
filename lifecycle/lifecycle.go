package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Creator identifies the process that created a segment.
type Creator struct {
	PID   int    // in its own PID namespace
	Start uint64 // clock ticks after boot, /proc/PID/stat field 22
	// PIDNS is the inode of the creator's PID namespace (its
	// /proc/self/ns/pid); 0 if not recorded, read as this process's.
	PIDNS uint64
}

func (c Creator) String() string {
	if c.PIDNS == 0 {
		return fmt.Sprintf("%d %d", c.PID, c.Start)
	}
	return fmt.Sprintf("%d %d %d", c.PID, c.Start, c.PIDNS)
}

// Alive reports whether the creator process may still run (a zombie,
// exited but not yet reaped by its parent, does not).
//
// A creator in this process's PID namespace is looked up by PID and start
// time. One in another namespace (a container sharing /dev/shm) has a PID
// that means nothing here: only a process in the root PID namespace, which
// sees every process, can look for it (the process in that namespace whose
// innermost PID, NSpid, is PID, with the same start time). From any other
// namespace it cannot be seen, and counts as alive (see Visible): gc keeps
// its segments rather than remove one in use.
func (c Creator) Alive() bool {
	switch {
	case c.PIDNS == 0 || c.PIDNS == self.PIDNS:
		start, running, err := processStart(c.PID)
		return err == nil && running && start == c.Start
	case !c.Visible():
		return true
	}
	return osshm.RunsInNamespace(c.PIDNS, c.PID, c.Start)
}

// Visible reports whether this process can tell if the creator runs: it is
// in this process's PID namespace (or not recorded), or this process is in
// the root PID namespace, which sees them all.
func (c Creator) Visible() bool {
	return c.PIDNS == 0 || c.PIDNS == self.PIDNS || self.PIDNS == osshm.RootPIDNamespace
}

// self is this process as a creator (namespace.Self, parsed).
var self, _ = parseCreator(namespace.Self)

// processStart reads a process's start time and whether it is running
// (not a zombie).
func processStart(pid int) (start uint64, running bool, err error) {
	return osshm.ProcessStart(strconv.Itoa(pid))
}

// parseCreator reads "PID STARTTIME PIDNS", or "PID STARTTIME" as written
// before PID namespaces were recorded.
func parseCreator(s string) (Creator, bool) {
	f := strings.Fields(s)
	if len(f) != 2 && len(f) != 3 {
		return Creator{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	var ns uint64
	var err3 error
	if len(f) == 3 {
		ns, err3 = strconv.ParseUint(f[2], 10, 64)
	}
	return Creator{pid, start, ns}, err1 == nil && err2 == nil && err3 == nil && pid > 0
}

// Entry describes one file in the segment directory.
type Entry struct {
	Name    string
	Size    int64
	ModTime time.Time
	Header  npy.Header // valid when Err is nil
	Err     error      // why the file is not a usable npy image
	// Ours: made by npshm (it has a creator record or a temporary's name).
	Ours      bool
	Creator   Creator // zero if unknown
	Published bool
	Temporary bool
	// Holders are the PIDs holding the segment open through npshm (from
	// /proc/locks); processes that mapped it otherwise are not seen.
	Holders []int
}

// List reads every regular file in the segment directory (bridge.Dir()):
// its header (without mapping it) and its lifecycle records. Hidden
// temporaries are included. With the shm_open backend it fails with an
// error wrapping namespace.ErrNoListing (errors.ErrUnsupported).
func List() ([]Entry, error) {
	b, err := namespace.Current()
	if err != nil {
		return nil, err
	}
	dir := namespace.DirPath()
	des, err := b.List()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, dirMissing(dir)
		}
		return nil, fmt.Errorf("list segments: %w", err)
	}
	return ListDir(dir, des), nil
}

// ListDir is List for the files des read from directory dir.
func ListDir(dir string, des []os.DirEntry) []Entry {
	holders := osshm.FlockHolders()
	var out []Entry
	for _, de := range des {
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		path := filepath.Join(dir, de.Name())
		e := Entry{Name: de.Name(), Size: info.Size(), ModTime: info.ModTime()}
		e.Header, e.Err = readHeaderFile(path)
		c, _ := osshm.GetXattr(path, namespace.XattrCreator)
		e.Creator, e.Ours = parseCreator(c)
		p, _ := osshm.GetXattr(path, namespace.XattrPersistent)
		e.Published = p == "1"
		if pid, ok := namespace.TempCreator(e.Name); ok {
			e.Temporary, e.Ours, e.Published = true, true, false
			if e.Creator.PID == 0 {
				e.Creator.PID = pid
			}
		}
		e.Holders = holders[osshm.Inode(info)]
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// dirMissing is a missing segment directory, named with where it came
// from; errors.Is(err, os.ErrNotExist) holds.
type dirMissing string

func (d dirMissing) Error() string {
	if os.Getenv(namespace.DirEnv) != "" {
		return fmt.Sprintf("segment directory %s does not exist (set by %s)", string(d), namespace.DirEnv)
	}
	return fmt.Sprintf("segment directory %s does not exist (no POSIX shared memory here; set %s to a directory)", string(d), namespace.DirEnv)
}

func (d dirMissing) Is(target error) bool { return target == os.ErrNotExist }

// readHeaderFile reads the header of the file at path with pread, without
// following a link, blocking or mapping.
func readHeaderFile(path string) (npy.Header, error) {
	f, err := osshm.Open(path, os.O_RDONLY, false)
	if err != nil {
		return npy.Header{}, err
	}
	defer f.Close()
	raw, err := npy.ReadRawHeader(io.NewSectionReader(f, 0, 1<<40))
	if err != nil {
		return npy.Header{}, err
	}
	return npy.ParseHeader(raw)
}

// Removed is one segment gc removed (or, with dry run, would remove).
type Removed struct {
	Name   string
	Size   int64
	Reason string
}

// GC removes npshm segments that nothing uses: temporaries and unpublished
// segments whose creator is dead and that no process holds. It never
// removes a published segment, one in use, one whose creator runs, or a
// file npshm did not make. With dryRun it only reports. With the shm_open
// backend it fails as List does.
func GC(dryRun bool) ([]Removed, error) {
	entries, err := List()
	if err != nil {
		return nil, err
	}
	var out []Removed
	var errs []error
	for _, e := range entries {
		if !e.Ours || (e.Published && !e.Temporary) {
			continue
		}
		if e.Temporary && e.Creator.Start == 0 {
			// a temporary with no creator record: its name's PID decides
			if _, running, err := processStart(e.Creator.PID); err == nil && running {
				continue
			}
		} else if e.Creator.Alive() {
			continue
		}
		r, err := reclaim(e, dryRun)
		if err != nil {
			errs = append(errs, err)
		} else if r != nil {
			out = append(out, *r)
		}
	}
	return out, errors.Join(errs...)
}

// beforeRemove, if set (by a test), is called as gc is about to remove a
// segment it holds exclusively, once it has checked the name is that file.
var beforeRemove func(path string)

// movedAside, if set (by a test), is called when gc has moved a new array
// aside, before it puts it back.
var movedAside func(path string)

// reclaim unlinks e if it can lock it exclusively (no holder), holding the
// lock across the unlink so no opener slips in between.
func reclaim(e Entry, dryRun bool) (*Removed, error) {
	path := filepath.Join(namespace.DirPath(), e.Name)
	f, err := osshm.Open(path, os.O_RDONLY, false)
	if err != nil {
		return nil, nil // gone already, or no longer a regular file
	}
	defer f.Close()
	free, err := osshm.TryLockExclusive(f)
	if err != nil || !free {
		return nil, nil
	}
	reason := "creator exited"
	if e.Temporary {
		reason = "temporary: unfinished publish or pooled (creator exited)"
	}
	if !dryRun {
		removed, err := removeHeld(f, path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("gc %q: %w", e.Name, err)
		}
		if !removed {
			return nil, nil // replaced meanwhile: that is another segment
		}
	}
	return &Removed{Name: e.Name, Size: e.Size, Reason: reason}, nil
}

// removeHeld removes the name path if it still names f, which gc holds
// exclusively, and reports whether it did.
//
// A publish may rename a new array over the name at any moment, even
// between a check that the name is f and an unlink of the name, which
// would then remove the new array. So the name is first moved aside, to a
// temporary's name of this process (RENAME_NOREPLACE), and what was moved
// is checked there: f is unlinked; anything else (a new array) is put back
// under its name, with RENAME_NOREPLACE too. If the name was published yet
// again meanwhile, the array set aside is superseded, as it would be had
// that publish renamed over it: it is unlinked, and the newest keeps the
// name. A reader that opens the name in the moment it is aside finds it
// missing, as it would a moment after gc removed it. If gc dies while a
// new array is aside, a later gc removes that temporary.
func removeHeld(f *os.File, path string) (bool, error) {
	if !osshm.SameFile(f, path) {
		return false, nil
	}
	if beforeRemove != nil {
		beforeRemove(path)
	}
	aside := filepath.Join(filepath.Dir(path), namespace.TempName())
	switch err := osshm.RenameNoReplace(path, aside); {
	case errors.Is(err, os.ErrNotExist):
		return false, nil // removed meanwhile
	case err != nil:
		return false, fmt.Errorf("move aside to remove it: %w", err)
	}
	if osshm.SameFile(f, aside) {
		return true, osshm.RemoveFile(aside)
	}
	if movedAside != nil {
		movedAside(path)
	}
	err := osshm.RenameNoReplace(aside, path) // a new array: put it back
	if errors.Is(err, os.ErrExist) {
		return false, osshm.RemoveFile(aside) // superseded by a newer one
	}
	if err != nil {
		return false, fmt.Errorf("put back %s, republished while gc removed it (now %s): %w", path, aside, err)
	}
	return false, nil
}
