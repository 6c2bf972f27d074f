package bridge_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/namespace"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/lifecycle"
	"github.com/npshm/npshm/npy"
)

func TestMain(m *testing.M) { os.Exit(shmtest.Main(m)) }

func TestCleanName(t *testing.T) {
	longest := 255
	if shmtest.ShmOpen() {
		longest = namespace.MaxShmName // macOS's limit, kept on Linux
	}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"psm_0123abcd", "psm_0123abcd", true},
		{"/psm_0123abcd", "psm_0123abcd", true},
		{"matrix", "matrix", true},
		{"a.b-c_d", "a.b-c_d", true},
		{strings.Repeat("x", longest), strings.Repeat("x", longest), true},
		{"", "", false},
		{"/", "", false},
		{"a/b", "", false},
		{"//a", "", false},
		{"..", "", false},
		{"../etc/passwd", "", false},
		{"a..b", "", false},
		{".", "", false},
		{"a\x00b", "", false},
		{strings.Repeat("x", longest+1), "", false},
	}
	for _, tt := range tests {
		got, err := bridge.CleanName(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, bridge.ErrInvalidName) {
			t.Errorf("CleanName(%q) error %v does not wrap ErrInvalidName", tt.in, err)
		}
	}
}

func TestSegmentLifecycle(t *testing.T) {
	name := shmtest.Name(t)
	s, err := bridge.CreateSegment("/"+name, 10000)
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	if s.Name() != name {
		t.Errorf("Name() = %q, want %q", s.Name(), name)
	}
	st, err := os.Stat(filepath.Join("/dev/shm", name))
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 10000 {
		t.Errorf("segment mode %v size %d, want 0600 and 10000", st.Mode().Perm(), st.Size())
	}
	copy(s.Bytes()[9990:], "hello")
	if _, err := bridge.CreateSegment(name, 10); !errors.Is(err, os.ErrExist) {
		t.Errorf("second CreateSegment: %v, want os.ErrExist", err)
	}
	r, err := bridge.OpenSegment(name, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenSegment: %v", err)
	}
	if got := string(r.Bytes()[9990:9995]); got != "hello" {
		t.Errorf("reader sees %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if s.Bytes() != nil {
		t.Errorf("Bytes() after Close is not nil")
	}
	if err := s.Unlink(); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
	if got := string(r.Bytes()[9990:9995]); got != "hello" {
		t.Errorf("after unlink the reader sees %q", got)
	}
	r.Close()
	if _, err := bridge.OpenSegment(name, bridge.ReadOnly); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenSegment after Unlink: %v, want os.ErrNotExist", err)
	}
	if err := bridge.Unlink(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Unlink twice: %v, want os.ErrNotExist", err)
	}
}

func TestAutoName(t *testing.T) {
	a, err := bridge.CreateArray("", npy.Header{DType: npy.Float64, Shape: []int{3}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Unlink()
	defer a.Close()
	if !regexp.MustCompile(`^psm_[0-9a-f]{8}$`).MatchString(a.Name()) {
		t.Errorf("auto name %q is not psm_ + 8 hex digits", a.Name())
	}
}

func TestCreateSegmentRejects(t *testing.T) {
	for _, size := range []int64{0, -1, math.MinInt64} {
		if _, err := bridge.CreateSegment(shmtest.Name(t), size); !errors.Is(err, bridge.ErrInvalidSize) {
			t.Errorf("CreateSegment size %d: %v, want ErrInvalidSize", size, err)
		}
	}
	for _, name := range []string{"../escape", "a/b", "x\x00"} {
		if _, err := bridge.CreateSegment(name, 10); !errors.Is(err, bridge.ErrInvalidName) {
			t.Errorf("CreateSegment(%q): %v, want ErrInvalidName", name, err)
		}
	}
	if _, err := os.Stat("/dev/escape"); err == nil {
		t.Fatalf("a name escaped the segment directory")
	}
}

func TestArrayRoundTrip(t *testing.T) {
	name := shmtest.Name(t)
	a, err := bridge.CreateArray(name, npy.Header{DType: npy.Float64, Shape: []int{4, 3}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Close()
	v, err := bridge.View[float64](a)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	for i := range v {
		v[i] = float64(i) * 1.5
	}
	b, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenArray: %v", err)
	}
	defer b.Close()
	w, err := bridge.View[float64](b)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if len(w) != 12 || w[11] != 16.5 {
		t.Fatalf("reader view = %v", w)
	}
	v[0] = 99 // live: the reader sees writes through its own mapping
	if w[0] != 99 {
		t.Errorf("reader did not see the write")
	}
	if _, err := bridge.View[float32](b); !errors.Is(err, bridge.ErrDType) {
		t.Errorf("View[float32] of <f8: %v, want ErrDType", err)
	}
	if _, err := bridge.View[int64](b); !errors.Is(err, bridge.ErrDType) {
		t.Errorf("View[int64] of <f8: %v, want ErrDType", err)
	}
	d := b.Descriptor()
	if d.Name != name || d.Offset != 128 || d.NBytes != 96 || d.Size != 224 || d.DType.String() != "<f8" {
		t.Errorf("Descriptor = %s", d)
	}
	want, _ := npy.Header{DType: npy.Float64, Shape: []int{4, 3}}.Encode()
	if string(b.Image()[:128]) != string(want) || len(b.Image()) != 224 {
		t.Errorf("image header differs from numpy's")
	}
	if err := a.Unlink(); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
	b.Close()
	if _, err := bridge.View[float64](b); !errors.Is(err, os.ErrClosed) {
		t.Errorf("View after Close: %v, want os.ErrClosed", err)
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	name := shmtest.Name(t)
	dt := npy.MustDType("[('chr','S10'),('pos','<i4'),('pct','<f4'),('c','<i4'),('t','<i4')]")
	a, err := bridge.CreateArray(name, npy.Header{DType: dt, Shape: []int{7}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Unlink()
	defer a.Close()
	line := a.Descriptor().String()
	want := `{"name":"` + name + `","dtype":[["chr","|S10"],["pos","<i4"],["pct","<f4"],["c","<i4"],["t","<i4"]],"shape":[7],"fortran_order":false,"offset":192,"nbytes":182,"size":374}`
	if line != want {
		t.Errorf("descriptor\n got %s\nwant %s", line, want)
	}
	d, err := bridge.ParseDescriptor([]byte(line))
	if err != nil {
		t.Fatalf("ParseDescriptor: %v", err)
	}
	b, err := bridge.OpenDescriptor(d, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenDescriptor: %v", err)
	}
	b.Close()
	if f, ok := b.DType().Field("pct"); !ok || f.Offset != 14 || f.Size() != 4 {
		t.Errorf("field pct = %+v", f)
	}
	d.Shape = []int{8}
	d.NBytes = 208
	d.Size = 400
	if _, err := bridge.OpenDescriptor(d, bridge.ReadOnly); !errors.Is(err, bridge.ErrDescriptor) {
		t.Errorf("stale descriptor: %v, want ErrDescriptor", err)
	}
	for _, bad := range []string{`{}`, `{"name":"../x","dtype":"<f8","shape":[1],"offset":128,"nbytes":8,"size":136}`,
		`{"name":"x","dtype":"<f8","shape":[2],"offset":128,"nbytes":8,"size":136}`, `not json`,
		`{"name":"x","dtype":"<q8","shape":[1],"offset":128,"nbytes":8,"size":136}`} {
		if _, err := bridge.ParseDescriptor([]byte(bad)); !errors.Is(err, bridge.ErrDescriptor) {
			t.Errorf("ParseDescriptor(%s): %v, want ErrDescriptor", bad, err)
		}
	}
}

// writeSegment puts raw bytes in the segment directory as a hostile peer would.
func writeSegment(t *testing.T, b []byte) string {
	t.Helper()
	name := shmtest.Name(t)
	if err := os.WriteFile(filepath.Join(bridge.Dir(), name), b, 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	return name
}

func TestOpenArrayRejects(t *testing.T) {
	hdr := func(text string) []byte {
		h, _ := npy.Header{DType: npy.Float64, Shape: []int{1}}.Encode()
		s := string(h[:10]) + text
		for len(s)%64 != 63 {
			s += " "
		}
		b := []byte(s + "\n")
		b[8] = byte(len(b) - 10)
		return b
	}
	good, _ := npy.Header{DType: npy.Float64, Shape: []int{1000}}.Encode()
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, npy.ErrTruncated},
		{"garbage", []byte("garbage, not an array at all"), npy.ErrNotNpy},
		{"truncated data", append(good, make([]byte, 100)...), bridge.ErrTruncated},
		{"header only", good, bridge.ErrTruncated},
		{"huge shape", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"), bridge.ErrTruncated},
		{"negative shape", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (-5,), }"), npy.ErrShape},
		{"object", hdr("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), npy.ErrObject},
		{"code", hdr("__import__('os').system('echo pwned')"), npy.ErrSyntax},
		{"bad descr", hdr("{'descr': '<z8', 'fortran_order': False, 'shape': (1,), }"), npy.ErrDescr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := writeSegment(t, tt.data)
			_, err := bridge.OpenArray(name, bridge.ReadOnly)
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenArray: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the segment", err)
			}
		})
	}
	if _, err := bridge.OpenArray("no_such_segment_here", bridge.ReadOnly); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want os.ErrNotExist", err)
	}
}

func TestFileArray(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.npy")
	a, err := bridge.CreateFile(path, npy.Header{DType: npy.Int32, Shape: []int{2, 5}, FortranOrder: true})
	if err != nil {
		t.Fatalf("CreateFile: %v", err)
	}
	v, _ := bridge.View[int32](a)
	for i := range v {
		v[i] = int32(i)
	}
	a.Close()
	b, err := bridge.OpenFile(path, bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer b.Close()
	w, _ := bridge.View[int32](b)
	if len(w) != 10 || w[9] != 9 || !b.Header().FortranOrder {
		t.Fatalf("file view = %v fortran=%v", w, b.Header().FortranOrder)
	}
	if d := b.Descriptor(); d.Path != path {
		t.Errorf("descriptor path = %q", d.Path)
	}
	if _, err := bridge.CreateFile(path, npy.Header{DType: npy.Int32, Shape: []int{1}}); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateFile over an existing file: %v, want os.ErrExist", err)
	}
}

// TestArrayWriter: pieces written concurrently make the same segment, byte
// for byte, as CreateArray filled through its mapping.
func TestArrayWriter(t *testing.T) {
	h := npy.Header{DType: npy.Int32, Shape: []int{3, 1000}}
	want, err := bridge.CreateArray(shmtest.Name(t), h)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { want.Unlink(); want.Close() }()
	for i := range want.Data() {
		want.Data()[i] = byte(i * 7)
	}
	w, err := bridge.CreateArrayWriter(shmtest.Name(t), h)
	if err != nil {
		t.Fatalf("CreateArrayWriter: %v", err)
	}
	var wg sync.WaitGroup
	for lo := 0; lo < 12000; lo += 4000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Write(want.Data()[lo:lo+4000], int64(lo)); err != nil {
				t.Errorf("Write at %d: %v", lo, err)
			}
		}()
	}
	wg.Wait()
	if err := w.Write(make([]byte, 2), 11999); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("Write past the end: %v, want io.ErrShortWrite", err)
	}
	got, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	defer func() { got.Unlink(); got.Close() }()
	if !bytes.Equal(got.Image(), want.Image()) {
		t.Fatal("the written segment differs from CreateArray's")
	}
	if again, err := bridge.OpenArray(got.Name(), bridge.ReadOnly); err != nil {
		t.Fatalf("OpenArray of the written segment: %v", err)
	} else {
		again.Close()
	}

	// Half written: Finish allocates the rest, which reads as zeros.
	half, err := bridge.CreateArrayWriter(shmtest.Name(t), h)
	if err != nil {
		t.Fatalf("CreateArrayWriter: %v", err)
	}
	if err := half.Write(want.Data()[:6000], 0); err != nil {
		t.Fatalf("Write: %v", err)
	}
	a, err := half.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	defer func() { a.Unlink(); a.Close() }()
	if !bytes.Equal(a.Data()[:6000], want.Data()[:6000]) || !bytes.Equal(a.Data()[6000:], make([]byte, 6000)) {
		t.Fatal("a half-written array does not read as its first half, then zeros")
	}
}

func TestPublishEdges(t *testing.T) {
	shmtest.NeedsDir(t)
	name := shmtest.Name(t)
	h := npy.Header{DType: npy.Int32, Shape: []int{4}}
	_, err := bridge.Publish(name, h, func(*bridge.Array) error { return errors.New("disk on fire") })
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Publish with failing fill: %v", err)
	}
	entries, _ := lifecycle.List()
	for _, e := range entries {
		if (e.Temporary && e.Creator.PID == os.Getpid()) || e.Name == name {
			t.Fatalf("failed publish left %s", e.Name)
		}
	}
	a, err := bridge.Publish(name, h, nil)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer a.Close()
	if a.Name() != name {
		t.Errorf("published array is named %q", a.Name())
	}
	b, err := bridge.CreateArray("", h)
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer b.Close()
	if err := b.PublishNew(name); !errors.Is(err, os.ErrExist) {
		t.Errorf("PublishNew over an existing name: %v, want os.ErrExist", err)
	}
	b.Unlink()
	if _, err := bridge.Get("npshm_never_published"); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), name) {
		t.Errorf("Get of a missing name: %v (want ErrNotExist listing %s)", err, name)
	}
	if err := bridge.Unlink(name); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
}

func TestDescriptorStream(t *testing.T) {
	in := `{"name":"a","dtype":"<f8","shape":[1],"fortran_order":false,"offset":128,"nbytes":8,"size":136}

{"name":"../b","dtype":"<f8","shape":[1],"fortran_order":false,"offset":128,"nbytes":8,"size":136}
`
	var names []string
	var errs int
	for d, err := range bridge.ReadDescriptors(strings.NewReader(in)) {
		if err != nil {
			errs++
			continue
		}
		names = append(names, d.Name)
	}
	if len(names) != 1 || names[0] != "a" || errs != 1 {
		t.Fatalf("ReadDescriptors: names %v, %d errors", names, errs)
	}
}

func TestPool(t *testing.T) {
	shmtest.NeedsDir(t)
	p := bridge.NewPool(2)
	defer p.Close()
	h := npy.Header{DType: npy.Float64, Shape: []int{1000}}
	a, err := p.CreateArray(h)
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	v, _ := bridge.View[float64](a)
	v[0] = 42
	reader, err := bridge.OpenArray(a.Name(), bridge.ReadOnly)
	if err != nil {
		t.Fatalf("OpenArray: %v", err)
	}
	if p.Put(a) {
		t.Fatalf("Put kept a segment another holder still maps")
	}
	reader.Close()

	b, _ := p.CreateArray(h)
	old := b.Name()
	w, _ := bridge.View[float64](b)
	w[0] = 7
	if !p.Put(b) {
		t.Fatalf("Put did not keep an idle segment")
	}
	if _, err := bridge.OpenArray(old, bridge.ReadOnly); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a pooled segment is still reachable by its old name: %v", err)
	}
	c, err := p.CreateArray(npy.Header{DType: npy.Int64, Shape: []int{1000}}) // same size: reused
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer c.Unlink()
	defer c.Close()
	if c.Name() == old || c.DType().String() != "<i8" {
		t.Fatalf("reused array %s %s", c.Name(), c.DType())
	}
	x, _ := bridge.View[int64](c)
	if x[0] != int64(math.Float64bits(7)) {
		t.Fatalf("pooled segment was not the reused one")
	}
	r, err := bridge.OpenArray(c.Name(), bridge.ReadOnly)
	if err != nil || r.DType().String() != "<i8" {
		t.Fatalf("reused array does not open as <i8: %v", err)
	}
	r.Close()

	// A full pool makes room by freeing its oldest idle segment.
	small := bridge.NewPool(1)
	defer small.Close()
	d1, _ := small.CreateArray(npy.Header{DType: npy.Uint8, Shape: []int{10}})
	d2, _ := small.CreateArray(npy.Header{DType: npy.Uint8, Shape: []int{20}})
	if !small.Put(d1) || !small.Put(d2) {
		t.Fatalf("Put refused an idle segment")
	}
	d3, _ := small.CreateArray(npy.Header{DType: npy.Uint8, Shape: []int{20}})
	defer d3.Unlink()
	defer d3.Close()
	if d3.Segment() != d2.Segment() {
		t.Fatalf("the newest idle segment was not kept")
	}
}
