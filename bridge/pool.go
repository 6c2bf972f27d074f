package bridge

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/osshm"
	"github.com/npshm/npshm/npy"
)

// Pool keeps the segments of arrays a producer is done with, still mapped
// and with their pages allocated, so the next array of the same size skips
// the page allocation that dominates making a fresh segment (on tmpfs with
// 4 KiB pages it costs more than filling the data). Filling a pooled array
// runs at memory speed.
//
// A reused array is not zeroed: the producer overwrites it. Only segments
// that no other process holds, and that still have their name, return to the
// pool; pooled segments wait under hidden temporary names (removed by Close,
// or by gc if the process dies). A Pool is safe for concurrent use. With
// the shm_open backend, which cannot rename, nothing is kept: Put closes
// and unlinks.
type Pool struct {
	mu   sync.Mutex
	idle []*Segment // oldest first
	max  int
}

// NewPool returns a pool that keeps at most max idle segments; beyond that
// the oldest idle segment is freed.
func NewPool(max int) *Pool { return &Pool{max: max} }

// CreateArray is bridge.CreateArray with an empty name (a fresh "psm_"
// name), reusing an idle segment of the same size when there is one.
func (p *Pool) CreateArray(h npy.Header) (*Array, error) {
	hdr, nbytes, err := encodeImage(h)
	if err != nil {
		return nil, fmt.Errorf("create array: %w", err)
	}
	size := int64(len(hdr)) + nbytes
	p.mu.Lock()
	var seg *Segment
	for i := len(p.idle) - 1; i >= 0; i-- { // the most recently used fits best in cache
		if int64(len(p.idle[i].data)) == size {
			seg = p.idle[i]
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if seg == nil {
		return CreateArray("", h)
	}
	for attempt := 0; ; attempt++ {
		name := NewName()
		err := osshm.RenameNoReplace(seg.Path(), segmentPath(name))
		if err == nil {
			seg.setID(name, segmentPath(name))
			break
		}
		if !errors.Is(err, os.ErrExist) || attempt == 100 {
			seg.discard()
			return nil, fmt.Errorf("create array: reuse pooled segment: %w", err)
		}
	}
	return fillHeader(seg, hdr, h, nbytes), nil
}

// Put hands an array back. If no other process holds it, it still has its
// name and the pool has room, its segment is kept for reuse (and its name
// hidden at once); otherwise it is closed, and unlinked if this process
// created it. Either way the caller must not use a after Put. It reports
// whether the segment was kept.
func (p *Pool) Put(a *Array) bool {
	s := a.seg
	path := s.Path()
	if !s.created || path == "" || !s.ns.CanRename() || !p.reusable(s) {
		s.Close()
		if s.created && path != "" {
			s.remove()
		}
		return false
	}
	tmp := segmentPath(namespace.TempName())
	if err := os.Rename(path, tmp); err != nil {
		s.discard()
		return false
	}
	s.setID(tmp[len(Dir())+1:], tmp)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max <= 0 {
		s.discard()
		return false
	}
	for len(p.idle) >= p.max {
		p.idle[0].discard()
		p.idle = p.idle[1:]
	}
	p.idle = append(p.idle, s)
	return true
}

// reusable reports whether this process alone holds s and s still has its
// name; it leaves this process's shared lock in place.
func (p *Pool) reusable(s *Segment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return false
	}
	if st, err := osshm.Stat(s.file); err != nil || !st.Linked {
		return false
	}
	alone, _ := osshm.TryLockExclusive(s.file) // converts our shared lock, if nobody else holds one
	osshm.LockShared(s.file)
	return alone
}

// Close unlinks and unmaps every idle segment.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.idle {
		s.discard()
	}
	p.idle = nil
	return nil
}
