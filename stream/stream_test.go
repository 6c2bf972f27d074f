package stream_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/stream"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if h := os.Getenv("STREAM_TEST_HELPER"); h != "" {
		helper(h, os.Args[len(os.Args)-1])
		return
	}
	os.Exit(shmtest.Main(m))
}

// helper runs in a child process: "producer" creates the stream, sends
// three frames, says "ready" and waits to be killed; "reader" opens it, says
// "ready" and never reads.
func helper(role, name string) {
	switch role {
	case "producer":
		w, err := stream.Create(name, frameHeader(4), stream.Options{Slots: 4})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for i := uint64(1); i <= 3; i++ {
			w.Send(frame(4, i))
		}
	case "reader":
		r, err := stream.Open(name)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		defer r.Close()
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(1)
}

// startHelper runs role in a child and waits for its "ready".
func startHelper(t *testing.T, role, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", name)
	cmd.Env = append(os.Environ(), "STREAM_TEST_HELPER="+role)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", role, err)
	}
	shmtest.Track(cmd.Process.Pid)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("%s: %q", role, line)
	}
	return cmd
}

// frameHeader is a frame of n uint64s.
func frameHeader(n int) npy.Header { return npy.Header{DType: npy.Uint64, Shape: []int{n}} }

// frame is n uint64s, each seq*1000+index.
func frame(n int, seq uint64) []byte {
	b := make([]byte, 8*n)
	for i := range n {
		binary.LittleEndian.PutUint64(b[8*i:], seq*1000+uint64(i))
	}
	return b
}

func checkFrame(t *testing.T, b []byte, n int, seq uint64) {
	t.Helper()
	if want := frame(n, seq); string(b) != string(want) {
		t.Fatalf("frame %d: got %v", seq, b)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func waitReaders(t *testing.T, w *stream.Writer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.Readers() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Readers() = %d, want %d", w.Readers(), n)
		}
	}
}

func TestBlockingBroadcast(t *testing.T) {
	const frames, n = 500, 6
	w, err := stream.Create(shmtest.Name(t), frameHeader(n), stream.Options{Slots: 3})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		r, err := stream.Open(w.Name())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for seq := uint64(1); ; seq++ {
				b, err := r.Next(ctx(t))
				if err == io.EOF && seq == frames+1 {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("Next %d: %v", seq, err)
					return
				}
				if want := frame(n, seq); string(b) != string(want) || r.Seq() != seq || !r.Valid() {
					errs <- fmt.Errorf("frame %d (seq %d): got %v", seq, r.Seq(), b)
					return
				}
			}
		}()
	}
	for i := uint64(1); i <= frames; i++ {
		if i%2 == 0 {
			if err := w.Send(frame(n, i)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			continue
		}
		b, err := w.Acquire(ctx(t)) // in place
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		copy(b, frame(n, i))
		if err := w.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLossy(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), frameHeader(2), stream.Options{Slots: 4, Lossy: true})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	for i := uint64(1); i <= 100; i++ {
		if err := w.Send(frame(2, i)); err != nil { // never waits for r
			t.Fatalf("Send: %v", err)
		}
	}
	b, err := r.Next(ctx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	checkFrame(t, b, 2, 100)
	if r.Dropped() != 99 || !r.Valid() {
		t.Fatalf("Dropped %d Valid %v, want 99 true", r.Dropped(), r.Valid())
	}
	for i := uint64(101); i <= 104; i++ {
		w.Send(frame(2, i))
	}
	if r.Valid() {
		t.Fatal("Valid after the producer rewrote the held slot")
	}
	// 101's slot is the one the producer writes next: the reader goes to the newest
	b, err = r.Next(ctx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	checkFrame(t, b, 2, 104)
	// a reader at most a ring minus one behind loses nothing
	for i := uint64(105); i <= 107; i++ {
		w.Send(frame(2, i))
	}
	for i := uint64(105); i <= 107; i++ {
		b, err := r.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		checkFrame(t, b, 2, i)
	}
	if r.Dropped() != 102 {
		t.Fatalf("Dropped %d, want 102", r.Dropped())
	}
}

func TestLateJoinerStartsAtNewest(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), frameHeader(1), stream.Options{Slots: 4})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	for i := uint64(1); i <= 10; i++ {
		w.Send(frame(1, i))
	}
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	b, err := r.Next(ctx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	checkFrame(t, b, 1, 10)
	w.Send(frame(1, 11))
	b, _ = r.Next(ctx(t))
	checkFrame(t, b, 1, 11)
	if r.Timestamp() == 0 {
		t.Error("Timestamp 0")
	}
}

func TestNextContext(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), frameHeader(1), stream.Options{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Next(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a quiet stream: %v, want DeadlineExceeded", err)
	}
}

func TestReaderCloseAndDeathReleaseProducer(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), frameHeader(1), stream.Options{Slots: 2})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	child := startHelper(t, "reader", w.Name())
	waitReaders(t, w, 2)
	// a reader that never reads holds the producer after a ring...
	w.Send(frame(1, 1))
	w.Send(frame(1, 2))
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = w.Acquire(c)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with a full ring: %v, want DeadlineExceeded", err)
	}
	// ...until it closes (r) or dies (child)
	r.Close()
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if err := w.Send(frame(1, 3)); err != nil {
		t.Fatalf("Send after the readers left: %v", err)
	}
	if n := w.Readers(); n != 0 {
		t.Fatalf("Readers() = %d after both left", n)
	}
}

func TestProducerKilled(t *testing.T) {
	shmtest.PrivateDir(t)
	name := "killed_producer"
	child := startHelper(t, "producer", name)
	r, err := stream.Open(name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	b, err := r.Next(ctx(t)) // the newest: 3
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	checkFrame(t, b, 4, 3)
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if _, err := r.Next(ctx(t)); !errors.Is(err, stream.ErrProducerDied) {
		t.Fatalf("Next after the producer died: %v, want ErrProducerDied", err)
	}
	if info, ok := stream.Inspect(filepath.Join(bridge.Dir(), name)); !ok || info.State != "producer died" || info.Sent != 3 || info.Readers != 1 {
		t.Fatalf("Inspect: %+v %v", info, ok)
	}
	// gc keeps it while r holds it, removes it after
	if removed, _ := lifecycle.GC(false); len(removed) != 0 {
		t.Fatalf("gc removed %v while a reader holds it", removed)
	}
	r.Close()
	if removed, err := lifecycle.GC(false); err != nil || len(removed) != 1 || removed[0].Name != name {
		t.Fatalf("gc: %v %v", removed, err)
	}
}

func TestInspect(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), npy.Header{DType: npy.Float32, Shape: []int{3, 5}}, stream.Options{Slots: 5, Lossy: true})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	w.Send(make([]byte, 60))
	info, ok := stream.Inspect(filepath.Join(bridge.Dir(), w.Name()))
	if !ok || info.Frame.DType.String() != "<f4" || fmt.Sprint(info.Frame.Shape) != "[3 5]" || info.Slots != 5 ||
		!info.Lossy || info.Sent != 1 || info.Readers != 1 || info.State != "running" || info.Mode() != "lossy" {
		t.Fatalf("Inspect: %+v %v", info, ok)
	}
	// an ordinary array is not a stream, and bridge reads a stream's header as an array of slots
	a, err := bridge.CreateArray(shmtest.Name(t), frameHeader(3))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Unlink()
	defer a.Close()
	if _, ok := stream.Inspect(filepath.Join(bridge.Dir(), a.Name())); ok {
		t.Fatal("Inspect took an array for a stream")
	}
	if _, err := stream.Open(a.Name()); !errors.Is(err, stream.ErrNotStream) {
		t.Fatalf("Open of an array: %v, want ErrNotStream", err)
	}
	s, err := bridge.OpenArray(w.Name(), bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenArray of a stream: %v", err)
	}
	defer s.Close()
	if s.Len() != 5 || s.DType().Fields[3].Name != "frame" {
		t.Fatalf("stream as an array: %v %v", s.Shape(), s.DType())
	}
}

func TestErrors(t *testing.T) {
	name := shmtest.Name(t)
	if _, err := stream.Open(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open missing: %v", err)
	}
	if _, err := stream.Create(name, frameHeader(1), stream.Options{Slots: 1}); err == nil {
		t.Error("Create with 1 slot succeeded")
	}
	if _, err := stream.Create(name, npy.Header{DType: npy.Float64, Shape: []int{2, 2}, FortranOrder: true}, stream.Options{}); err == nil {
		t.Error("Create with a Fortran-order frame succeeded")
	}
	if _, err := stream.Create(name, npy.Header{DType: npy.Float64, Shape: []int{0}}, stream.Options{}); !errors.Is(err, stream.ErrFrameSize) {
		t.Errorf("Create with an empty frame: %v", err)
	}
	w, err := stream.Create(name, frameHeader(2), stream.Options{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := stream.Create(name, frameHeader(2), stream.Options{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create existing: %v", err)
	}
	if err := w.Send(make([]byte, 15)); !errors.Is(err, stream.ErrFrameSize) {
		t.Errorf("Send 15 bytes: %v", err)
	}
	w.Send(make([]byte, 16))
	w.Close()
	if w.Sent() != 1 || w.Readers() != 0 {
		t.Errorf("after Close: Sent %d Readers %d, want 1 0", w.Sent(), w.Readers())
	}
	if err := w.Send(make([]byte, 16)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bridge.Dir(), name)); !os.IsNotExist(err) {
		t.Errorf("Close left the segment: %v", err)
	}
}

// The frames' timestamps are CLOCK_MONOTONIC, the clock Python's
// time.monotonic_ns() and clock_gettime read.
func TestTimestampIsClockMonotonic(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), frameHeader(1), stream.Options{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	var before, after unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
	w.Send(frame(1, 1))
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &after)
	if _, err := r.Next(ctx(t)); err != nil {
		t.Fatalf("Next: %v", err)
	}
	if ts := r.Timestamp(); ts < uint64(before.Nano()) || ts > uint64(after.Nano()) {
		t.Fatalf("Timestamp %d not within [%d, %d]", ts, before.Nano(), after.Nano())
	}
}
