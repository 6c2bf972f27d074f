package tests

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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/stream"
)

// startPeer runs testdata/stream_peer.py with args (see its doc).
func startPeer(t *testing.T, args ...string) *pyProc {
	t.Helper()
	p := startScript(t, "testdata/stream_peer.py", args...)
	if l := p.line(); l != "ready" {
		t.Fatalf("stream_peer %v: %q\n%s", args, l, p.stderr.String())
	}
	return p
}

// peerFrame is frame seq of n uint64s: seq*1000+i.
func peerFrame(n int, seq uint64) []byte {
	b := make([]byte, 8*n)
	for i := range n {
		binary.LittleEndian.PutUint64(b[8*i:], seq*1000+uint64(i))
	}
	return b
}

func streamCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func waitStreamReaders(t *testing.T, w *stream.Writer, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); w.Readers() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Readers() = %d, want %d", w.Readers(), n)
		}
	}
}

// Go producer, three Python readers: in blocking mode every frame reaches
// every reader, in order; in lossy mode each reader gets an increasing
// sequence of intact frames, the last one included, and counts the rest.
func TestStreamGoToPython(t *testing.T) {
	for _, lossy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lossy=%v", lossy), func(t *testing.T) {
			const frames, n = 3000, 16
			w, err := stream.Create(shmtest.Name(t), npy.Header{DType: npy.Uint64, Shape: []int{n}}, stream.Options{Slots: 4, Lossy: lossy})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			defer w.Close()
			var readers []*pyProc
			for range 3 {
				readers = append(readers, startPeer(t, "read", w.Name()))
			}
			waitStreamReaders(t, w, 3)
			for seq := uint64(1); seq <= frames; seq++ {
				if seq%2 == 0 {
					if err := w.Send(peerFrame(n, seq)); err != nil {
						t.Fatalf("Send: %v", err)
					}
					continue
				}
				b, err := w.Acquire(streamCtx(t))
				if err != nil {
					t.Fatalf("Acquire: %v", err)
				}
				copy(b, peerFrame(n, seq))
				w.Commit()
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, p := range readers {
				var got, dropped, first, last int
				l := p.line()
				if _, err := fmt.Sscanf(l, "ok %d %d %d %d", &got, &dropped, &first, &last); err != nil {
					t.Fatalf("python reader: %q\n%s", l, p.stderr.String())
				}
				p.wait()
				if !lossy && (got != frames || dropped != 0 || first != 1) {
					t.Errorf("blocking: reader got %d frames from %d, dropped %d; want %d from 1, 0", got, first, dropped, frames)
				}
				if last != frames || got < 1 || got > frames {
					t.Errorf("reader got %d frames, last %d (dropped %d)", got, last, dropped)
				}
			}
		})
	}
}

// Python producer, Go reader: every frame, in order (blocking); increasing,
// intact ones (lossy).
func TestStreamPythonToGo(t *testing.T) {
	for _, lossy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lossy=%v", lossy), func(t *testing.T) {
			const frames, n = 3000, 16
			name := shmtest.Name(t)
			lossyArg := map[bool]string{false: "0", true: "1"}[lossy]
			p := startPeer(t, "write", name, fmt.Sprint(frames), fmt.Sprint(n), "4", lossyArg, "1")
			r, err := stream.Open(name)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			if r.Lossy() != lossy || r.Frame().DType.String() != "<u8" || fmt.Sprint(r.Frame().Shape) != "[16]" {
				t.Fatalf("frame %v lossy %v", r.Frame(), r.Lossy())
			}
			var got, last uint64
			for {
				b, err := r.Next(streamCtx(t))
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next after %d: %v", last, err)
				}
				seq := r.Seq()
				intact := string(b) == string(peerFrame(n, seq))
				if !r.Valid() {
					continue
				}
				if !intact || seq <= last || (!lossy && seq != last+1) {
					t.Fatalf("frame %d after %d: intact %v", seq, last, intact)
				}
				got, last = got+1, seq
			}
			if l := p.line(); l != "done" {
				t.Fatalf("python writer: %q", l)
			}
			p.wait()
			if last != frames || (!lossy && (got != frames || r.Dropped() != 0)) {
				t.Fatalf("got %d frames, last %d, dropped %d", got, last, r.Dropped())
			}
		})
	}
}

// A late joiner starts at the newest frame, in either language.
func TestStreamLateJoiner(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), npy.Header{DType: npy.Uint64, Shape: []int{2}}, stream.Options{Slots: 4})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		w.Send(peerFrame(2, seq))
	}
	p := startPeer(t, "read", w.Name())
	waitStreamReaders(t, w, 1)
	for seq := uint64(11); seq <= 20; seq++ {
		w.Send(peerFrame(2, seq))
	}
	w.Close()
	var got, dropped, first, last int
	if _, err := fmt.Sscanf(p.line(), "ok %d %d %d %d", &got, &dropped, &first, &last); err != nil {
		t.Fatal(err)
	}
	p.wait()
	if first != 10 || last != 20 || got != 11 {
		t.Fatalf("late joiner read %d frames, %d to %d; want 11, 10 to 20", got, first, last)
	}
}

// A producer killed with SIGKILL: every reader, Go or Python, ends with an
// error (ErrProducerDied, StreamError), after the frames it had; gc then
// reclaims the stream once the readers are gone.
func TestStreamProducerKilled(t *testing.T) {
	shmtest.PrivateDir(t)
	name := "killed"
	prod := startPeer(t, "hang-write", name, "8")
	r, err := stream.Open(name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	py := startPeer(t, "read", name)
	b, err := r.Next(streamCtx(t))
	if err != nil || string(b) != string(peerFrame(8, 3)) {
		t.Fatalf("Next: %v %v", b, err)
	}
	prod.cmd.Process.Signal(syscall.SIGKILL)
	prod.cmd.Wait()
	if _, err := r.Next(streamCtx(t)); !errors.Is(err, stream.ErrProducerDied) {
		t.Fatalf("Go reader after the producer died: %v, want ErrProducerDied", err)
	}
	if l := py.line(); !strings.HasPrefix(l, "died 1 3") {
		t.Fatalf("Python reader after the producer died: %q", l)
	}
	py.wait()
	if info, ok := stream.Inspect(filepath.Join(bridge.Dir(), name)); !ok || info.State != "producer died" || info.Readers != 1 {
		t.Fatalf("Inspect: %+v %v", info, ok)
	}
	r.Close()
	if removed, err := lifecycle.GC(false); err != nil || len(removed) != 1 {
		t.Fatalf("gc: %v %v", removed, err)
	}
}

// A Python reader killed with SIGKILL: a blocking producer stops waiting
// for it.
func TestStreamReaderKilled(t *testing.T) {
	w, err := stream.Create(shmtest.Name(t), npy.Header{DType: npy.Uint64, Shape: []int{1}}, stream.Options{Slots: 2})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	p := startPeer(t, "hang-read", w.Name())
	waitStreamReaders(t, w, 1)
	w.Send(peerFrame(1, 1))
	w.Send(peerFrame(1, 2))
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = w.Acquire(c)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire past a reader that does not read: %v, want DeadlineExceeded", err)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	if _, err := w.Acquire(streamCtx(t)); err != nil {
		t.Fatalf("Acquire after the reader died: %v", err)
	}
}

// TestStreamHelperProcess is not a test: it is a Go producer that
// TestStreamGoProducerKilled starts as a separate process and kills. It
// creates the stream NPSHM_STREAM_HELPER names, sends frames 1 to 3 of 8
// uint64s, says "ready" and waits.
func TestStreamHelperProcess(t *testing.T) {
	name := os.Getenv("NPSHM_STREAM_HELPER")
	if name == "" {
		t.Skip("helper process only")
	}
	w, err := stream.Create(name, npy.Header{DType: npy.Uint64, Shape: []int{8}}, stream.Options{Slots: 4})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		w.Send(peerFrame(8, seq))
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}

// A Go producer killed with SIGKILL: a Python reader's iteration ends
// with StreamError after the frames it had.
func TestStreamGoProducerKilled(t *testing.T) {
	shmtest.PrivateDir(t)
	name := "go_killed"
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamHelperProcess$")
	cmd.Env = append(os.Environ(), "NPSHM_STREAM_HELPER="+name)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	shmtest.Track(cmd.Process.Pid)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper: %q", line)
	}
	py := startPeer(t, "read", name) // it joined: frame 3, the newest, is its first, killed or not
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if l := py.line(); l != "died 1 3" {
		t.Fatalf("Python reader after the Go producer died: %q", l)
	}
	py.wait()
	if removed, err := lifecycle.GC(false); err != nil || len(removed) != 1 {
		t.Fatalf("gc: %v %v", removed, err)
	}
}
