package bridge

import "os"

// File is the open file behind the segment, nil after Close (and for a
// segment made by Receive, the received descriptor). It stays owned by the
// Segment: do not close it. Packages that keep records of their own on the
// file (stream's byte-range locks) use it.
func (s *Segment) File() *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file
}
