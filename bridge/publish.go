package bridge

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Publishing: readers of a name see the previous complete array or the new
// complete one, never a partial one. With the dir backend an array is
// filled under a temporary name (".npshm-tmp-PID-XXXXXXXX", which gc
// removes if its creator dies) and renamed to its name; it is marked
// persistent (the xattr user.npshm.persistent), so gc never removes it.
// The records are listed in package lifecycle and docs/LIFECYCLE.md.
//
// With the shm_open backend, which cannot rename, an array is created
// under its name and the first byte of its header is written last: a
// reader that attaches before is refused (npy.ErrNotNpy: not an npy image)
// rather than handed a half-filled array; a republish unlinks the old
// array first (readers that have it keep it), so a reader may find the
// name missing for that moment.

// Publish creates an array for h under a temporary name, lets fill write
// it, then publishes it as name (see Array.Publish): readers of name see the
// previous complete array or this complete one, never a partial one. If fill
// fails or the process dies, name is untouched and the temporary is removed
// (by this call, or by gc). The returned array is open; close it when done.
// With the shm_open backend see the package doc: it is created under name.
func Publish(name string, h npy.Header, fill func(*Array) error) (*Array, error) {
	_, err := CleanName(name)
	if err == nil {
		err = checkNewName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	b, err := backend()
	if err != nil {
		return nil, fmt.Errorf("publish %q: %w", name, err)
	}
	if !b.CanRename() {
		return publishInPlace(name, h, fill)
	}
	a, err := createArray(namespace.TempName(), h)
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

// publishInPlace is Publish for a backend that cannot rename: the array is
// created under name (replacing what is there) with its header's first
// byte zero until fill is done.
func publishInPlace(name string, h npy.Header, fill func(*Array) error) (*Array, error) {
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("publish %q: %w", name, err)
	}
	seg, err := createReplacing(name, int64(len(hdr))+nbytes)
	if err != nil {
		return nil, fmt.Errorf("publish %q: %w", name, err)
	}
	a := fillHeader(seg, hdr, h, nbytes)
	seg.data[0] = 0 // not an npy image until filled
	if fill != nil {
		if err := fill(a); err != nil {
			seg.discard()
			return nil, fmt.Errorf("publish %q: fill: %w", name, err)
		}
	}
	seg.data[0] = hdr[0]
	return a, nil
}

// createReplacing creates segment name of size bytes, unlinking an older
// segment of that name first if there is one.
func createReplacing(name string, size int64) (*Segment, error) {
	for attempt := 0; ; attempt++ {
		seg, err := createSegment(name, size)
		if !errors.Is(err, os.ErrExist) || attempt == 100 {
			return seg, err
		}
		if err := Unlink(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
}

// Publish makes a segment this process created visible under name, at once
// and atomically (rename), replacing any array published there before.
// Processes attached to the old array keep their intact view; new readers
// get this one. A published segment is persistent: gc never removes it,
// only rm or Unlink does. With name == a.Name() it only marks persistence.
//
// The shm_open backend cannot rename: there only name == a.Name() is
// accepted (and does nothing); any other name is an error wrapping
// errors.ErrUnsupported (use the Publish function, which creates the
// array under its name).
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
	b, err := backend()
	if err != nil {
		return fmt.Errorf("publish %q: %w", clean, err)
	}
	s := a.seg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return fmt.Errorf("publish %q: %w", clean, os.ErrClosed)
	}
	id := s.id.Load()
	if !b.CanRename() || !s.ns.CanRename() && s.ns != "" {
		if clean == id.name && s.ns == b {
			return nil
		}
		return fmt.Errorf("publish %s as %q: the %s backend cannot rename a segment (%w); create the array under its name "+
			"(CreateArray, or the Publish function)", label(a), clean, namespace.ShmOpen, errors.ErrUnsupported)
	}
	if err := osshm.SetXattr(s.file, namespace.XattrPersistent, "1"); err != nil {
		return fmt.Errorf("publish %q: %w", clean, err)
	}
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
// error (wrapping os.ErrNotExist) that lists the published names (with the
// dir backend; shm_open objects cannot be listed).
func Get(name string) (*Array, error) {
	a, err := OpenArray(name, ReadOnly)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		return nil, withExisting(err)
	}
	return a, err
}

// withExisting adds the names of the npy segments that exist to err.
func withExisting(err error) error {
	b, berr := backend()
	if berr != nil {
		return err
	}
	des, lerr := b.List()
	if lerr != nil {
		return err // the directory itself is missing (err says so), or no listing
	}
	var names []string
	for _, de := range des {
		if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), namespace.TempPrefix) {
			continue
		}
		if f, err := osshm.Open(segmentPath(de.Name()), os.O_RDONLY, false); err == nil {
			if _, err := readHeader(f); err == nil {
				names = append(names, de.Name())
			}
			f.Close()
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
