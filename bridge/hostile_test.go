//go:build linux

package bridge_test

// Hostile peers and odd files: what another process (or another local user)
// can put in the segment directory or send over a socket must end in a
// clear error, never a hang, a SIGBUS or a file opened that is not a
// segment.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
)

// image is a complete .npy image of n float64s 0, 1, 2, ...
func image(t *testing.T, n int) []byte {
	t.Helper()
	h := npy.Header{DType: npy.Float64, Shape: []int{n}}
	hdr, err := h.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return append(hdr, make([]byte, 8*n)...)
}

// withinDeadline runs f and fails the test if it has not returned after a
// minute (a hang, not a slow call); release then unblocks it.
func withinDeadline(t *testing.T, what string, release func(), f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		release()
		<-done
		t.Fatalf("%s hung", what)
	}
}

// TestOpenRefusesNonRegular: a segment name that is a FIFO, a symbolic link
// (to a segment, or to a file the opener may write) or a directory is
// refused with an error naming what it is, at once: no open blocks, no
// link is followed. The files live in a private directory so that no other
// test run lists them.
func TestOpenRefusesNonRegular(t *testing.T) {
	dir := shmtest.PrivateDir(t)
	target := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(target, []byte("root:secret-hash:19000::::::\n"), 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	seg, err := bridge.CreateArray("real", npy.Header{DType: npy.Float64, Shape: []int{4}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer seg.Unlink()
	defer seg.Close()
	tests := []struct {
		name, kind string
		make       func(path string) error
	}{
		{"fifo", "is a FIFO", func(p string) error { return unix.Mkfifo(p, 0o600) }},
		{"link-to-file", "is a symbolic link", func(p string) error { return os.Symlink(target, p) }},
		{"link-to-segment", "is a symbolic link", func(p string) error { return os.Symlink(filepath.Join(dir, "real"), p) }},
		{"dir", "is a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := tt.make(path); err != nil {
			t.Fatalf("make %s: %v", tt.name, err)
		}
		defer os.Remove(path)
	}
	// A reader stuck on a FIFO is released by opening its write end.
	release := func() {
		if fd, err := unix.Open(filepath.Join(dir, "fifo"), unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	}
	for _, tt := range tests {
		for _, mode := range []bridge.Mode{bridge.ReadOnly, bridge.ReadWrite} {
			t.Run(fmt.Sprintf("%s/mode%d", tt.name, mode), func(t *testing.T) {
				var err error
				withinDeadline(t, "OpenArray", release, func() { _, err = bridge.OpenArray(tt.name, mode) })
				if !errors.Is(err, bridge.ErrNotRegular) || !strings.Contains(err.Error(), tt.kind) ||
					!strings.Contains(err.Error(), tt.name) {
					t.Fatalf("OpenArray(%q): %v, want ErrNotRegular saying %q", tt.name, err, tt.kind)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("OpenArray(%q) read the link's target: %v", tt.name, err)
				}
			})
		}
	}
	t.Run("OpenFile", func(t *testing.T) {
		// An explicit .npy path is followed through a link, as np.load does;
		// a FIFO there is still refused at once.
		link := filepath.Join(t.TempDir(), "data.npy")
		if err := os.Symlink(filepath.Join(dir, "real"), link); err != nil {
			t.Fatalf("Symlink: %v", err)
		}
		a, err := bridge.OpenFile(link, bridge.ReadOnly)
		if err != nil {
			t.Fatalf("OpenFile through a link: %v", err)
		}
		a.Close()
		withinDeadline(t, "OpenFile", release, func() { _, err = bridge.OpenFile(filepath.Join(dir, "fifo"), bridge.ReadOnly) })
		if !errors.Is(err, bridge.ErrNotRegular) || !strings.Contains(err.Error(), "is a FIFO") {
			t.Fatalf("OpenFile(fifo): %v, want ErrNotRegular", err)
		}
	})
	t.Run("listing", func(t *testing.T) {
		var entries []lifecycle.Entry
		var err error
		withinDeadline(t, "List", release, func() { entries, err = lifecycle.List() })
		if err != nil || len(entries) != 1 || entries[0].Name != "real" {
			t.Fatalf("List: %v %v, want only the real segment", entries, err)
		}
		withinDeadline(t, "Get", release, func() { _, err = bridge.Get("typo") })
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "it holds: real)") {
			t.Fatalf("Get(typo): %v", err)
		}
		withinDeadline(t, "GC", release, func() { _, err = lifecycle.GC(true) })
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
	})
	if b, _ := os.ReadFile(target); string(b) != "root:secret-hash:19000::::::\n" {
		t.Fatalf("the link's target changed: %q", b)
	}
}

// peer is a connected pair of Unix stream sockets: a raw sender (any fds,
// any bytes) and the receiver's *net.UnixConn.
type peer struct {
	send int
	recv *net.UnixConn
}

func newPeer(t *testing.T) peer {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("Socketpair: %v", err)
	}
	f := os.NewFile(uintptr(fds[1]), "receiver")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); c.Close() })
	return peer{fds[0], c.(*net.UnixConn)}
}

func (p peer) sendFDs(t *testing.T, d bridge.Descriptor, fds ...int) {
	t.Helper()
	if err := unix.Sendmsg(p.send, []byte(d.String()+"\n"), unix.UnixRights(fds...), nil, 0); err != nil {
		t.Fatalf("Sendmsg: %v", err)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	return len(des)
}

// TestReceiveHostileFDs sends Receive file descriptors of every kind, each
// with a descriptor that matches its contents. Only a memfd sealed against
// shrinking and the very file a descriptor names are mapped; anything a
// sender could truncate under the mapping without owning a name (an
// unsealed memfd, an O_TMPFILE, an unlinked file, a file passed off as
// another's name) and anything that is not a regular file is refused with
// ErrUnsafeFD before mapping, and its descriptor closed. After the
// exchange the sender tries to shrink the file to one page; reading every
// received byte must then still work.
func TestReceiveHostileFDs(t *testing.T) {
	const n = 100000
	img := image(t, n)
	d, err := bridge.ParseDescriptor([]byte(fmt.Sprintf(
		`{"name":"","anonymous":true,"dtype":"<f8","shape":[%d],"fortran_order":false,"offset":128,"nbytes":%d,"size":%d}`,
		n, 8*n, len(img))))
	if err != nil {
		t.Fatalf("ParseDescriptor: %v", err)
	}
	filled := func(t *testing.T, fd int) int {
		t.Helper()
		if _, err := unix.Pwrite(fd, img, 0); err != nil {
			t.Fatalf("Pwrite: %v", err)
		}
		return fd
	}
	named := shmtest.Name(t)
	if err := os.WriteFile(filepath.Join(bridge.Dir(), named), img, 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	dir := t.TempDir()
	mustFD := func(t *testing.T, fd int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatalf("make fd: %v", err)
		}
		return fd
	}
	tests := []struct {
		name string
		make func(t *testing.T) (fd int, d bridge.Descriptor)
		kind string // "" if it is mapped
	}{
		{"sealed memfd", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
			filled(t, mustFD(t, fd, err))
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
				t.Fatalf("seal: %v", err)
			}
			return fd, d
		}, ""},
		{"named segment", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.Open(filepath.Join(bridge.Dir(), named), unix.O_RDWR|unix.O_CLOEXEC, 0)
			nd := d
			nd.Name, nd.Anonymous = named, false
			return mustFD(t, fd, err), nd
		}, ""},
		{".npy file its descriptor names by path", func(t *testing.T) (int, bridge.Descriptor) {
			p := filepath.Join(dir, "array.npy")
			fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
			nd := d
			nd.Name, nd.Path, nd.Anonymous = p, p, false
			return filled(t, mustFD(t, fd, err)), nd
		}, ""},
		{"unsealed memfd", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
			return filled(t, mustFD(t, fd, err)), d
		}, "not sealed"},
		{"memfd sealed against growing only", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
			filled(t, mustFD(t, fd, err))
			unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_GROW)
			return fd, d
		}, "not sealed"},
		{"O_TMPFILE", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.Open(bridge.Dir(), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
			return filled(t, mustFD(t, fd, err)), d
		}, "has no name"},
		{"O_TMPFILE claiming a segment's name", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.Open(bridge.Dir(), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
			nd := d
			nd.Name, nd.Anonymous = named, false
			return filled(t, mustFD(t, fd, err)), nd
		}, "is not the segment"},
		{"unlinked file", func(t *testing.T) (int, bridge.Descriptor) {
			p := filepath.Join(dir, "unlinked.npy")
			fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
			os.Remove(p)
			return filled(t, mustFD(t, fd, err)), d
		}, "has no name"},
		{"file elsewhere claiming a segment's name", func(t *testing.T) (int, bridge.Descriptor) {
			p := filepath.Join(dir, "elsewhere.npy")
			fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
			nd := d
			nd.Name, nd.Anonymous = named, false
			return filled(t, mustFD(t, fd, err)), nd
		}, "is not the segment"},
		{"pipe", func(t *testing.T) (int, bridge.Descriptor) {
			var p [2]int
			err := unix.Pipe2(p[:], unix.O_CLOEXEC)
			unix.Close(p[1])
			return mustFD(t, p[0], err), d
		}, "is a pipe or FIFO"},
		{"socket", func(t *testing.T) (int, bridge.Descriptor) {
			s, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			unix.Close(s[1])
			return mustFD(t, s[0], err), d
		}, "is a socket"},
		{"directory", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			return mustFD(t, fd, err), d
		}, "is a directory"},
		{"device", func(t *testing.T) (int, bridge.Descriptor) {
			fd, err := unix.Open("/dev/zero", unix.O_RDWR|unix.O_CLOEXEC, 0)
			return mustFD(t, fd, err), d
		}, "is a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind == "not sealed" || tt.kind == "has no name" {
				shmtest.NeedsDir(t) // shm_open maps an unsealed, unlinked file (macOS has no memfd seals)
			}
			p := newPeer(t)
			fd, desc := tt.make(t)
			defer unix.Close(fd)
			before := openFDs(t)
			p.sendFDs(t, desc, fd)
			a, err := bridge.Receive(p.recv, bridge.ReadOnly)
			if tt.kind != "" {
				if !errors.Is(err, bridge.ErrUnsafeFD) || !strings.Contains(err.Error(), tt.kind) {
					t.Errorf("Receive: %v, want ErrUnsafeFD saying %q", err, tt.kind)
				}
				if after := openFDs(t); after != before {
					t.Errorf("Receive left %d descriptors open", after-before)
				}
			} else if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if a == nil {
				return
			}
			defer a.Close()
			if tt.kind == "" && tt.name != "sealed memfd" {
				return // a named file: whoever may write the name can shrink it, as for any attach by name
			}
			unix.Ftruncate(fd, 4096) // fails on a sealed file; would fault the reader of anything else
			var sum float64
			func() {
				defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // a SIGBUS here becomes a panic the test reports
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("reading the received array after the sender shrank it: %v", r)
					}
				}()
				for _, x := range a.Data() {
					sum += float64(x)
				}
			}()
		})
	}
	t.Run("two fds in one message", func(t *testing.T) {
		p := newPeer(t)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatalf("Pipe: %v", err)
		}
		defer r.Close()
		defer w.Close()
		before := openFDs(t)
		p.sendFDs(t, d, int(r.Fd()), int(w.Fd()))
		if _, err := bridge.Receive(p.recv, bridge.ReadOnly); err == nil || !strings.Contains(err.Error(), "got 2") {
			t.Errorf("Receive: %v, want a refusal of two descriptors", err)
		}
		if after := openFDs(t); after != before {
			t.Errorf("Receive left %d descriptors open", after-before)
		}
	})
}

// TestRepublishUnderLoad: while one goroutine republishes a name as fast as
// it can, readers opening it never see "no such segment": the name exists
// at every moment. Counts are bounded; nothing is timed.
func TestRepublishUnderLoad(t *testing.T) {
	shmtest.NeedsDir(t)
	name := shmtest.Name(t)
	h := npy.Header{DType: npy.Int64, Shape: []int{8}}
	first, err := bridge.Publish(name, h, nil)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	first.Close()
	const publishers, publishes, readers, opens = 2, 10000, 3, 20000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < publishes; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a, err := bridge.Publish(name, h, nil)
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				a.Close()
			}
		}()
	}
	errs := make(chan error, readers)
	for r := 0; r < readers; r++ {
		go func() {
			var bad error
			for i := 0; i < opens && bad == nil; i++ {
				a, err := bridge.OpenArray(name, bridge.ReadOnly)
				if err != nil {
					bad = fmt.Errorf("open %d: %w", i, err)
					break
				}
				a.Close()
			}
			errs <- bad
		}()
	}
	for r := 0; r < readers; r++ {
		if err := <-errs; err != nil {
			t.Errorf("reader: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	bridge.Unlink(name)
}

// TestIdentityWhilePublishing: Name, Path and Descriptor read a segment's
// identity while another goroutine renames it (run under -race); each read
// sees one consistent identity, never a name from one publish and a path
// from another.
func TestIdentityWhilePublishing(t *testing.T) {
	shmtest.NeedsDir(t)
	names := []string{shmtest.Name(t), shmtest.Name(t)}
	a, err := bridge.CreateArray(names[0], npy.Header{DType: npy.Uint8, Shape: []int{64}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 2000; i++ {
			if err := a.Publish(names[i%2]); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		s := a.Segment()
		if n, p := s.Name(), s.Path(); n != names[0] && n != names[1] || !strings.HasPrefix(p, bridge.Dir()+"/") {
			t.Fatalf("Name %q Path %q", n, p)
		}
		if d := a.Descriptor(); d.Path != "" || (d.Name != names[0] && d.Name != names[1]) {
			t.Fatalf("Descriptor mixes two identities: %s", d)
		}
		_ = a.Name()
	}
	if err := a.Unlink(); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
}

// TestOpenFollowsReplacements: an open that finds, each time it has its
// lock, that the name was republished meanwhile keeps following the name
// (here 6 times in a row, made certain by holding each file's lock as gc
// does until the name holds the next one) and opens the newest array; past
// its bound it fails with ErrReplaced, not as if the name were missing.
func TestOpenFollowsReplacements(t *testing.T) {
	shmtest.NeedsDir(t)
	a, err := replacedWhileOpening(t, 6)
	if err != nil {
		t.Fatalf("OpenArray after 6 replacements: %v", err)
	}
	defer a.Close()
	if x, _ := bridge.View[int64](a); x[0] != 6 {
		t.Fatalf("opened array %d, want the newest, 6", x[0])
	}

	defer bridge.SetReplacedWait(0)() // give up at the second replacement
	if _, err := replacedWhileOpening(t, 2); !errors.Is(err, bridge.ErrReplaced) || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenArray past its bound: %v, want ErrReplaced", err)
	}
}

// replacedWhileOpening publishes arrays 0, 1, ... replacements under a new
// name, each while OpenArray waits for the lock on the one before, and
// returns what OpenArray returned.
func replacedWhileOpening(t *testing.T, replacements int64) (*bridge.Array, error) {
	t.Helper()
	name := shmtest.Name(t)
	h := npy.Header{DType: npy.Int64, Shape: []int{1}}
	publish := func(v int64) *os.File {
		t.Helper()
		a, err := bridge.Publish(name, h, func(a *bridge.Array) error {
			x, err := bridge.View[int64](a)
			x[0] = v
			return err
		})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		a.Close()
		f, err := os.Open(filepath.Join(bridge.Dir(), name))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			t.Fatalf("Flock: %v", err)
		}
		return f
	}
	waiting := make(chan struct{}, 1)
	defer bridge.SetLockWait(time.Minute, func() { waiting <- struct{}{} })()
	held := publish(0)
	type result struct {
		a   *bridge.Array
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := bridge.OpenArray(name, bridge.ReadOnly)
		done <- result{a, err}
	}()
	// waits reports whether the opener came to wait for the lock (on held)
	// before it returned.
	waits := func() bool {
		select {
		case <-waiting:
			return true
		case r := <-done:
			done <- r
			return false
		}
	}
	for v := int64(1); v <= replacements && waits(); v++ {
		next := publish(v)
		held.Close() // releases the lock: the opener finds its file replaced
		held = next
	}
	waits()
	held.Close()
	r := <-done
	return r.a, r.err
}
