package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/stream"
)

// ls shows a stream's frame dtype and shape, slots, mode, frames sent and
// live readers; rm removes it.
func TestLsStream(t *testing.T) {
	shmtest.NeedsDir(t)
	w, err := stream.Create(shmtest.Name(t), npy.Header{DType: npy.Float32, Shape: []int{2, 3}}, stream.Options{Slots: 4, Lossy: true})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	r, err := stream.Open(w.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	w.Send(make([]byte, 24))
	w.Send(make([]byte, 24))
	out, _, err := runCLI("ls")
	if err != nil {
		t.Fatalf("ls: %v", err)
	}
	want := "<f4    (2, 3) x4"
	if l := lines(out, w.Name()); len(l) != 1 || !strings.Contains(l[0], want) ||
		!strings.Contains(l[0], "stream lossy: running, 2 sent, 1 reader(s)") {
		t.Fatalf("ls: %q", l)
	}
	out, _, err = runCLI("ls", "--json")
	if err != nil {
		t.Fatalf("ls --json: %v", err)
	}
	var rows []lsEntry
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("ls --json: %v", err)
	}
	var found bool
	for _, e := range rows {
		if e.Name == w.Name() {
			s := e.Stream
			found = s != nil && s.FrameDType.String() == "<f4" && s.Slots == 4 && s.Mode == "lossy" && s.Sent == 2 && s.Readers == 1 && s.State == "running"
		}
	}
	if !found {
		t.Fatalf("ls --json: no stream entry for %s in %s", w.Name(), out)
	}
	if _, _, err := runCLI("rm", w.Name()); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bridge.Dir(), w.Name())); !os.IsNotExist(err) {
		t.Fatalf("rm left the stream: %v", err)
	}
}
