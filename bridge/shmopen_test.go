package bridge_test

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
	"golang.org/x/sys/unix"
)

// TestBackendEnv: an unknown NPSHM_BACKEND is an error naming the variable.
func TestBackendEnv(t *testing.T) {
	t.Setenv("NPSHM_BACKEND", "posix")
	_, err := bridge.CreateArray(shmtest.Name(t), npy.Header{DType: npy.Float64, Shape: []int{2}})
	if err == nil || !strings.Contains(err.Error(), `NPSHM_BACKEND="posix"`) || !strings.Contains(err.Error(), "shm_open") {
		t.Fatalf("CreateArray with NPSHM_BACKEND=posix: %v, want an error naming the variable and its values", err)
	}
}

// TestShmOpenBackend: NPSHM_BACKEND=shm_open keeps macOS's limits on Linux.
func TestShmOpenBackend(t *testing.T) {
	t.Setenv("NPSHM_BACKEND", "shm_open")
	h := npy.Header{DType: npy.Float64, Shape: []int{3}}

	// names: at most 30 bytes (31 with the slash)
	long := strings.Repeat("x", 31)
	if _, err := bridge.CreateArray(long, h); !errors.Is(err, bridge.ErrInvalidName) || !strings.Contains(err.Error(), "30 bytes") {
		t.Errorf("CreateArray of a 31-byte name: %v, want ErrInvalidName naming 30 bytes", err)
	}

	// create, open: the header, not the page-rounded size, gives the array
	name := shmtest.Name(t)
	a, err := bridge.CreateArray(name, h)
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Close()
	b, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenArray: %v", err)
	}
	if got, want := b.Segment().Size(), int64(len(a.Image())); got != want || b.Descriptor().Size != want {
		t.Errorf("opened segment is %d bytes (descriptor %d), want the image's %d", got, b.Descriptor().Size, want)
	}
	if st, _ := os.Stat("/dev/shm/" + name); runtime.GOOS == "linux" && (st == nil || st.Size() != int64(len(a.Image()))) {
		t.Errorf("shm object is not at /dev/shm/%s with the image's size: %v", name, st)
	}
	b.Close()

	// no rename: publishing under another name is refused, in place is fine
	if err := a.Publish(shmtest.Name(t)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Publish under another name: %v, want ErrUnsupported", err)
	}
	if err := a.Publish(name); err != nil {
		t.Errorf("Publish under its own name: %v", err)
	}

	// Publish creates under the name; until filled, readers are refused
	pub := shmtest.Name(t)
	p, err := bridge.Publish(pub, h, func(p *bridge.Array) error {
		if _, err := bridge.OpenArray(pub, bridge.ReadOnly); !errors.Is(err, npy.ErrNotNpy) {
			t.Errorf("OpenArray while filling: %v, want ErrNotNpy", err)
		}
		copy(p.Data(), []byte{1})
		return nil
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	p.Close()
	again, err := bridge.Publish(pub, h, nil) // a republish replaces it
	if err != nil {
		t.Fatalf("Publish again: %v", err)
	}
	again.Close()
	got, err := bridge.Get(pub)
	if err != nil || got.Data()[0] != 0 {
		t.Fatalf("Get after republish: %v", err)
	}
	got.Close()
	bridge.Unlink(pub)

	// no listing: ls and gc say so
	if _, err := lifecycle.List(); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "shm_open") {
		t.Errorf("List: %v, want ErrUnsupported naming the backend", err)
	}

	// the writer stages and copies in at Finish
	w, err := bridge.CreateArrayWriter("", npy.Header{DType: npy.Uint8, Shape: []int{5}})
	if err != nil {
		t.Fatalf("CreateArrayWriter: %v", err)
	}
	if err := w.Write([]byte{1, 2, 3}, 0); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.SetShape([]int{3}); err != nil {
		t.Fatalf("SetShape: %v", err)
	}
	fa, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	defer fa.Unlink()
	defer fa.Close()
	if d := fa.Data(); string(d) != "\x01\x02\x03" {
		t.Errorf("finished writer holds %v", d)
	}

	// anonymous: an shm object unlinked at once, handed over and mapped
	anon, err := bridge.CreateAnonymous(h)
	if err != nil {
		t.Fatalf("CreateAnonymous: %v", err)
	}
	defer anon.Close()
	anon.Data()[0] = 7
	l, r, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer r.Close()
	if err := bridge.Send(l, anon); err != nil {
		t.Fatalf("Send: %v", err)
	}
	rec, err := bridge.Receive(r, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("Receive of an anonymous shm object: %v", err)
	}
	defer rec.Close()
	if !rec.Anonymous() || rec.Data()[0] != 7 || rec.Segment().Size() != int64(len(anon.Image())) {
		t.Errorf("received %v (anonymous %v, %d bytes)", rec.Data(), rec.Anonymous(), rec.Segment().Size())
	}
}

func socketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		conns[i] = c.(*net.UnixConn)
	}
	return conns[0], conns[1], nil
}

// TestShmOpenPutShortFile: with shm_open (publish in place), Put of a
// truncated .npy file fails before it touches the name, saying how much
// data there is: the array published there stays.
func TestShmOpenPutShortFile(t *testing.T) {
	t.Setenv("NPSHM_BACKEND", "shm_open")
	name := shmtest.Name(t)
	h := npy.Header{DType: npy.Float64, Shape: []int{100}}
	a, err := bridge.Publish(name, h, nil)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	a.Close()
	defer bridge.Unlink(name)
	raw, _ := h.Encode()
	path := t.TempDir() + "/short.npy"
	if err := os.WriteFile(path, append(raw, 1, 2, 3), 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	if _, err := bridge.Put(name, f); !errors.Is(err, bridge.ErrTruncated) || !strings.Contains(err.Error(), "input has 3 of 800 data bytes") {
		t.Errorf("Put of a short file: %v, want ErrTruncated saying 3 of 800 bytes", err)
	}
	b, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("the array published before a failed Put: %v", err)
	}
	b.Close()
}
