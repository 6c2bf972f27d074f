package tests

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

type pyView struct {
	Descr        string `json:"descr"`
	Shape        []int  `json:"shape"`
	Fortran      bool   `json:"fortran"`
	SHA256       string `json:"sha256"`
	SameAsNpSave bool   `json:"same_as_np_save"`
	Repr         string `json:"repr"`
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestGoCreatesPythonReads: Go makes and fills arrays; Python attaches each
// with the stdlib's SharedMemory + numpy's header reader, with np.load
// mmap_mode, and with the shim; all agree with Go on dtype, shape, order,
// bytes and values, and the segment is byte-identical to np.save's output.
func TestGoCreatesPythonReads(t *testing.T) {
	seed := npy.MustDType("[('chr','S10'),('pos','<i4'),('pct','<f4'),('c','<i4'),('t','<i4')]")
	tests := []struct {
		name   string
		header npy.Header
		fill   func(t *testing.T, a *bridge.Array)
		repr   string // Python's repr(a.tolist())
	}{
		{"float64 C", npy.Header{DType: npy.Float64, Shape: []int{2, 3}}, fillView[float64](0.5), "[[0.0, 0.5, 1.0], [1.5, 2.0, 2.5]]"},
		{"int32 Fortran", npy.Header{DType: npy.Int32, Shape: []int{2, 3}, FortranOrder: true}, fillView[int32](1), "[[0, 2, 4], [1, 3, 5]]"},
		{"uint8 3-d", npy.Header{DType: npy.Uint8, Shape: []int{2, 2, 2}}, fillView[uint8](1), "[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]"},
		{"bool", npy.Header{DType: npy.Bool, Shape: []int{3}}, func(t *testing.T, a *bridge.Array) {
			v, _ := bridge.View[bool](a)
			v[0], v[2] = true, true
		}, "[True, False, True]"},
		{"complex128", npy.Header{DType: npy.Complex128, Shape: []int{2}}, func(t *testing.T, a *bridge.Array) {
			v, _ := bridge.View[complex128](a)
			v[0], v[1] = 1+2i, -3i
		}, "[(1+2j), -3j]"},
		{"float32 0-d", npy.Header{DType: npy.Float32, Shape: []int{}}, func(t *testing.T, a *bridge.Array) {
			v, _ := bridge.View[float32](a)
			v[0] = 0.25
		}, "0.25"},
		{"int64 empty", npy.Header{DType: npy.Int64, Shape: []int{0, 5}}, func(*testing.T, *bridge.Array) {}, "[]"},
		{"big-endian bytes", npy.Header{DType: npy.MustDType(">i2"), Shape: []int{2}}, func(t *testing.T, a *bridge.Array) {
			copy(a.Data(), []byte{0x01, 0x02, 0xff, 0xfe})
		}, "[258, -2]"},
		{"datetime64[s]", npy.Header{DType: npy.MustDType("<M8[s]"), Shape: []int{2}}, func(t *testing.T, a *bridge.Array) {
			binary.LittleEndian.PutUint64(a.Data()[8:], 86400)
		}, "[datetime.datetime(1970, 1, 1, 0, 0), datetime.datetime(1970, 1, 2, 0, 0)]"},
		{"seed record", npy.Header{DType: seed, Shape: []int{2}}, func(t *testing.T, a *bridge.Array) {
			d, size := a.Data(), seed.Size
			for i, chr := range []string{"chr1", "chrX"} {
				rec := d[i*size : (i+1)*size]
				copy(rec, chr)
				f, _ := seed.Field("pos")
				rec[f.Offset] = byte(10 + i)
				f, _ = seed.Field("pct")
				copy(rec[f.Offset:], []byte{0, 0, 0x80, 0x3e}) // float32 0.25, little-endian
				f, _ = seed.Field("t")
				rec[f.Offset] = 7
			}
		}, "[(b'chr1', 10, 0.25, 0, 7), (b'chrX', 11, 0.25, 0, 7)]"},
		{"unicode", npy.Header{DType: npy.Unicode(2), Shape: []int{2}}, func(t *testing.T, a *bridge.Array) {
			copy(a.Data(), []byte{'h', 0, 0, 0, 'i', 0, 0, 0, 0xe9, 0, 0, 0})
		}, "['hi', 'é']"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := shmtest.Name(t)
			a, err := bridge.CreateArray(name, tt.header)
			if err != nil {
				t.Fatalf("CreateArray: %v", err)
			}
			defer a.Close()
			tt.fill(t, a)
			var got pyView
			if err := json.Unmarshal([]byte(runPy(t, "read", name)), &got); err != nil {
				t.Fatalf("python output: %v", err)
			}
			h := a.Header()
			if got.Descr != h.DType.Descr() || !reflect.DeepEqual(got.Shape, h.Shape) {
				t.Errorf("python sees %s %v, Go made %s %v", got.Descr, got.Shape, h.DType.Descr(), h.Shape)
			}
			if got.Fortran != h.FortranOrder && len(h.Shape) > 1 && h.Shape[0] > 1 {
				t.Errorf("python fortran=%v, Go %v", got.Fortran, h.FortranOrder)
			}
			if got.SHA256 != sha(a.Data()) {
				t.Errorf("python sees different data bytes")
			}
			if !got.SameAsNpSave {
				t.Errorf("segment is not byte-identical to np.save of the same array")
			}
			if tt.repr != "" && got.Repr != tt.repr {
				t.Errorf("python values %s, want %s", got.Repr, tt.repr)
			}
			if err := a.Unlink(); err != nil {
				t.Fatalf("Unlink: %v", err)
			}
		})
	}
}

// fillView sets element i to i*step through a typed view.
func fillView[T int32 | uint8 | float64](step T) func(*testing.T, *bridge.Array) {
	return func(t *testing.T, a *bridge.Array) {
		v, err := bridge.View[T](a)
		if err != nil {
			t.Fatalf("View: %v", err)
		}
		for i := range v {
			v[i] = T(i) * step
		}
	}
}

// TestPythonSharesGoReads: numpy shares arrays (and one segment made with
// the stdlib's SharedMemory holding np.save bytes plus slack); Go opens each
// by name and by descriptor and sees the same dtype, shape and bytes.
func TestPythonSharesGoReads(t *testing.T) {
	p := startPy(t, "share")
	keys := []string{"f8", "i4F", ">u2", "0-d", "empty", "record", "U3", "stdlib"}
	for _, key := range keys {
		var msg struct {
			Key        string          `json:"key"`
			Descriptor json.RawMessage `json:"descriptor"`
			pyView
		}
		if err := json.Unmarshal([]byte(p.line()), &msg); err != nil {
			t.Fatalf("python line: %v", err)
		}
		if msg.Key != key {
			t.Fatalf("got %q, want %q", msg.Key, key)
		}
		var d struct{ Name string }
		json.Unmarshal(msg.Descriptor, &d)
		a, err := bridge.OpenArray(d.Name, bridge.ReadOnly)
		if err != nil {
			t.Fatalf("%s: OpenArray: %v", key, err)
		}
		h := a.Header()
		if h.DType.Descr() != msg.Descr || !reflect.DeepEqual(h.Shape, msg.Shape) || sha(a.Data()) != msg.SHA256 {
			t.Errorf("%s: Go sees %s %v, python shared %s %v", key, h.DType.Descr(), h.Shape, msg.Descr, msg.Shape)
		}
		if key != "stdlib" {
			desc, err := bridge.ParseDescriptor(msg.Descriptor)
			if err != nil {
				t.Fatalf("%s: ParseDescriptor(%s): %v", key, msg.Descriptor, err)
			}
			b, err := bridge.OpenDescriptor(desc, bridge.ReadOnly)
			if err != nil {
				t.Fatalf("%s: OpenDescriptor: %v", key, err)
			}
			if a.Descriptor().String() != b.Descriptor().String() || b.Descriptor().String() != desc.String() {
				t.Errorf("%s: descriptors differ:\n go %s\n py %s", key, b.Descriptor(), msg.Descriptor)
			}
			b.Close()
		}
		if key == "f8" {
			v, _ := bridge.View[float64](a)
			if v[5] != 5.0/8 {
				t.Errorf("f8[5] = %v", v[5])
			}
		}
		a.Close()
	}
	p.send("done")
	p.wait()
}

// TestLiveSharing: after both attach, a write on either side is seen by the
// other at once, through shared pages.
func TestLiveSharing(t *testing.T) {
	name := shmtest.Name(t)
	a, err := bridge.CreateArray(name, npy.Header{DType: npy.Float64, Shape: []int{100}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Unlink()
	defer a.Close()
	v, _ := bridge.View[float64](a)
	p := startPy(t, "live", name)
	if l := p.line(); l != "attached" {
		t.Fatalf("python: %q", l)
	}
	v[42] = 3.25
	p.send("get 42")
	if l := p.line(); l != "3.25" {
		t.Errorf("python read %s after Go wrote 3.25", l)
	}
	p.send("set 7 -1.5")
	p.line()
	if v[7] != -1.5 {
		t.Errorf("Go read %v after python wrote -1.5", v[7])
	}
	p.send("quit")
	p.wait()
}

// TestChildAttachExits: a Python process attaches and exits; the segment
// survives and the child's stderr is empty (no resource tracker warnings).
func TestChildAttachExits(t *testing.T) {
	name := shmtest.Name(t)
	a, err := bridge.CreateArray(name, npy.Header{DType: npy.Float64, Shape: []int{10}})
	if err != nil {
		t.Fatalf("CreateArray: %v", err)
	}
	defer a.Close()
	v, _ := bridge.View[float64](a)
	v[9] = 2
	for i := 0; i < 3; i++ {
		if out := runPy(t, "attach", name); out != "2.0\n" {
			t.Fatalf("child printed %q", out)
		}
	}
	if _, err := os.Stat(filepath.Join(bridge.Dir(), name)); err != nil {
		t.Fatalf("segment gone after children exited: %v", err)
	}
	if err := a.Unlink(); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
}
