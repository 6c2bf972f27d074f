package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Lifecycle records, kept with each segment so they die with what they
// describe (see docs/LIFECYCLE.md):
//
//   - holders: every npshm process that has a segment open holds a shared
//     flock on it, released by Close or by the process's death;
//   - creator: the xattr user.npshm.creator = "PID STARTTIME PIDNS" (the
//     start time, from /proc/PID/stat, tells a dead creator from a reused
//     PID; PIDNS, the inode of the creator's /proc/self/ns/pid, says which
//     PID namespace PID is in: containers sharing /dev/shm each have their
//     own. Records of two fields, from before, are read as this process's
//     namespace);
//   - published: the xattr user.npshm.persistent = "1", set on arrays
//     published under a name, which only an explicit rm/Unlink removes;
//   - temporaries: ".npshm-tmp-PID-XXXXXXXX", where publishing fills an
//     array before renaming it to its name.
//
// GC removes an npshm segment only when it is a temporary or unpublished,
// its creator is dead, and no process holds it.
const (
	xattrCreator    = "user.npshm.creator"
	xattrPersistent = "user.npshm.persistent"
	tempPrefix      = ".npshm-tmp-"
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

// self is this process as a creator. Its start time is read through
// /proc/self, which is this process even when /proc was mounted for another
// PID namespace (where os.Getpid() would name a different process).
var self = func() Creator {
	c := Creator{PID: os.Getpid(), PIDNS: osshm.NamespaceOf("self", "pid")}
	c.Start, _, _ = osshm.ProcessStart("self")
	return c
}()

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

// tempName is a fresh temporary name owned by this process.
func tempName() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s%d-%s", tempPrefix, os.Getpid(), hex.EncodeToString(b[:]))
}

// tempCreator is the creator PID encoded in a temporary's name.
func tempCreator(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	return pid, err == nil
}

// Publish creates an array for h under a temporary name, lets fill write
// it, then publishes it as name (see Array.Publish): readers of name see the
// previous complete array or this complete one, never a partial one. If fill
// fails or the process dies, name is untouched and the temporary is removed
// (by this call, or by gc). The returned array is open; close it when done.
func Publish(name string, h npy.Header, fill func(*Array) error) (*Array, error) {
	_, err := CleanName(name)
	if err == nil {
		err = checkNewName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	a, err := createArray(tempName(), h)
	if err != nil {
		return nil, fmt.Errorf("publish %q: %w", name, err)
	}
	if fill != nil {
		if err := fill(a); err != nil {
			a.seg.discard()
			return nil, fmt.Errorf("publish %q: fill: %w", name, err)
		}
	}
	if err := a.Publish(name); err != nil {
		a.seg.discard()
		return nil, err
	}
	return a, nil
}

// Publish makes a segment this process created visible under name, at once
// and atomically (rename), replacing any array published there before.
// Processes attached to the old array keep their intact view; new readers
// get this one. A published segment is persistent: gc never removes it,
// only rm or Unlink does. With name == a.Name() it only marks persistence.
func (a *Array) Publish(name string) error { return a.publish(name, false) }

// PublishNew is Publish that fails with os.ErrExist if name exists.
func (a *Array) PublishNew(name string) error { return a.publish(name, true) }

func (a *Array) publish(name string, exclusive bool) error {
	clean, err := CleanName(name)
	if err == nil {
		err = checkNewName(name)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	s := a.seg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return fmt.Errorf("publish %q: %w", clean, os.ErrClosed)
	}
	if err := osshm.SetXattr(s.file, xattrPersistent, "1"); err != nil {
		return fmt.Errorf("publish %q: %w", clean, err)
	}
	id := s.id.Load()
	if clean == id.name {
		return nil
	}
	dest := segmentPath(clean)
	if exclusive {
		err = osshm.RenameNoReplace(id.path, dest)
	} else {
		err = os.Rename(id.path, dest)
	}
	if err != nil {
		return fmt.Errorf("publish %q: %w", clean, unwrapPath(err))
	}
	s.setID(clean, dest)
	return nil
}

// Get opens the array published as name, read-only. A missing name is an
// error (wrapping os.ErrNotExist) that lists the published names.
func Get(name string) (*Array, error) {
	a, err := OpenArray(name, ReadOnly)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		return nil, withExisting(err)
	}
	return a, err
}

// withExisting adds the names of the npy segments that exist to err.
func withExisting(err error) error {
	entries, lerr := List()
	if lerr != nil {
		return err // the directory itself is missing: err says so
	}
	var names []string
	for _, e := range entries {
		if e.Err == nil {
			names = append(names, e.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%w (it holds no npy segments)", err)
	}
	if len(names) > 10 {
		names = append(names[:10], fmt.Sprintf("and %d more", len(names)-10))
	}
	return fmt.Errorf("%w (it holds: %s)", err, strings.Join(names, ", "))
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

// List reads every regular file in Dir(): its header (without mapping it)
// and its lifecycle records. Hidden temporaries are included.
func List() ([]Entry, error) {
	dir := Dir()
	des, err := os.ReadDir(dir)
	if err != nil {
		if missing := checkDir(dir); missing != nil {
			return nil, missing
		}
		return nil, err
	}
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
		c, _ := osshm.GetXattr(path, xattrCreator)
		e.Creator, e.Ours = parseCreator(c)
		p, _ := osshm.GetXattr(path, xattrPersistent)
		e.Published = p == "1"
		if pid, ok := tempCreator(e.Name); ok {
			e.Temporary, e.Ours, e.Published = true, true, false
			if e.Creator.PID == 0 {
				e.Creator.PID = pid
			}
		}
		e.Holders = holders[osshm.Inode(info)]
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readHeaderFile(path string) (npy.Header, error) {
	f, err := osshm.Open(path, os.O_RDONLY, false)
	if err != nil {
		return npy.Header{}, err
	}
	defer f.Close()
	return readHeader(f)
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
// file npshm did not make. With dryRun it only reports.
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

// reclaim unlinks e if it can lock it exclusively (no holder), holding the
// lock across the unlink so no opener slips in between.
func reclaim(e Entry, dryRun bool) (*Removed, error) {
	path := segmentPath(e.Name)
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
		if !osshm.SameFile(f, path) {
			return nil, nil // replaced meanwhile: that is another segment
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("gc %q: %w", e.Name, unwrapPath(err))
		}
	}
	return &Removed{Name: e.Name, Size: e.Size, Reason: reason}, nil
}
