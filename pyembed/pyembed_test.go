//go:build pyembed

package pyembed

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/pycall"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

func TestMain(m *testing.M) { os.Exit(shmtest.Main(m)) }

// python is the interpreter to test against (see shmtest.Python).
func python(t testing.TB) string { return shmtest.Python(t) }

// start returns a handle on the process's interpreter, with this tree's
// npshm package and the test module (shared with pyworker) first on sys.path.
func start(t testing.TB) *Interpreter {
	t.Helper()
	src, _ := filepath.Abs("../pyshim/src")
	td, _ := filepath.Abs("../pyworker/testdata")
	py, err := Start(Options{Python: python(t), Path: []string{src, td}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { py.Close() })
	return py
}

func mustCall(t testing.TB, py *Interpreter, fn string, args ...any) any {
	t.Helper()
	v, err := py.Call(context.Background(), fn, args...)
	if err != nil {
		t.Fatalf("Call %s: %v", fn, err)
	}
	return v
}

func TestValues(t *testing.T) {
	py := start(t)
	cases := []struct{ in, want, pytype any }{
		{nil, nil, "NoneType"},
		{true, true, "bool"},
		{42, int64(42), "int"},
		{uint64(1) << 63, nil, nil}, // beyond int64 on the way back: an error
		{1.0, 1.0, "float"},
		{float32(0.5), 0.5, "float"},
		{math.Inf(1), math.Inf(1), "float"},
		{"héllo", "héllo", "str"},
		{[]byte{0, 1, 255}, []byte{0, 1, 255}, "bytes"},
		{[]any{1, "a", nil, 2.5}, []any{int64(1), "a", nil, 2.5}, []any{"int", "str", "NoneType", "float"}},
		{map[string]any{"k": []string{"v"}}, map[string]any{"k": []any{"v"}}, map[string]any{"k": []any{"str"}}},
	}
	for _, c := range cases {
		got, err := py.Call(context.Background(), "calltest.echo", c.in)
		if c.want == nil && c.in != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Type != "OverflowError" {
				t.Errorf("echo(%v): %v, want OverflowError", c.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("echo(%#v) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
		if got := mustCall(t, py, "calltest.types", c.in); !reflect.DeepEqual(got, []any{c.pytype}) {
			t.Errorf("types(%#v) = %#v, want [%#v]", c.in, got, c.pytype)
		}
	}
	if got := mustCall(t, py, "calltest.add", 2, 3); got != int64(5) {
		t.Errorf("add(2, 3) = %#v", got)
	}
	if got := mustCall(t, py, "os.getpid"); got != int64(os.Getpid()) {
		t.Errorf("os.getpid() in the embedded interpreter = %v, want this process %d", got, os.Getpid())
	}
}

func TestVenv(t *testing.T) {
	py := start(t)
	want, _ := filepath.Abs(python(t))
	if got := mustCall(t, py, "calltest.echo", "x"); got != "x" {
		t.Fatal(got)
	}
	if got := mustCall(t, py, "os.path.realpath", mustCall(t, py, "numpy.__getattribute__", "__file__")); !strings.Contains(got.(string), "site-packages") {
		t.Errorf("numpy comes from %v, not the venv's site-packages", got)
	}
	t.Logf("embedded %s; sys.path %v", Version(), mustCall(t, py, "sys.__getattribute__", "path"))
	exe := mustCall(t, py, "sys.__getattribute__", "executable")
	if exe != want {
		t.Errorf("sys.executable = %v, want %s", exe, want)
	}
	// Another Python cannot take over; the same one gives a second handle.
	if _, err := Start(Options{Python: "/bin/sh"}); !errors.Is(err, ErrStarted) {
		t.Errorf("Start with another python: %v, want ErrStarted", err)
	}
	h2 := start(t)
	h2.Close()
	if _, err := h2.Call(context.Background(), "calltest.nothing"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Call on a closed handle: %v", err)
	}
	if got := mustCall(t, py, "calltest.add", 1, 1); got != int64(2) {
		t.Errorf("the first handle after closing another: %v", got)
	}
}

// TestClosedArrayArgument: see pyworker's; here the interpreter must not
// wait forever for an array that never comes.
func TestClosedArrayArgument(t *testing.T) {
	py := start(t)
	a, _ := bridge.CreateAnonymous(npy.Header{DType: npy.Float64, Shape: []int{4}})
	a.Close()
	if _, err := py.Call(context.Background(), "calltest.total", a); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Call with a closed array: %v, want os.ErrClosed", err)
	}
	b := newArray(t, "", npy.Float64, 4)
	c := newArray(t, "", npy.Float64, 4)
	req, err := pycall.EncodeRequest("calltest.echo", []any{b, c})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	pc := pycall.NewPending(req)
	py.in.jobs <- pc
	if _, err := pc.Wait(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("array closed before sending: %v, want os.ErrClosed", err)
	}
	if got := mustCall(t, py, "calltest.total", b); got != 0.0 {
		t.Errorf("after an aborted call: total %v", got)
	}
}

func TestExceptions(t *testing.T) {
	py := start(t)
	_, err := py.Call(context.Background(), "calltest.boom", "bad input")
	var pe *Error
	if !errors.As(err, &pe) || pe.Type != "RuntimeError" || pe.Message != "wrapped" {
		t.Fatalf("boom: %v", err)
	}
	for _, want := range []string{"ValueError: bad input", "in inner", "calltest.py", "RuntimeError: wrapped"} {
		if !strings.Contains(pe.Traceback, want) {
			t.Errorf("traceback lacks %q:\n%s", want, pe.Traceback)
		}
	}
	for _, c := range []struct{ fn, typ string }{
		{"nosuchmodule.f", "ModuleNotFoundError"},
		{"calltest.nosuch", "AttributeError"},
		{"calltest.exit_call", "SystemExit"},
		{"calltest.unconvertible", "TypeError"},
		{"calltest.objects", "TypeError"},
	} {
		if _, err := py.Call(context.Background(), c.fn); !errors.As(err, &pe) || pe.Type != c.typ {
			t.Errorf("%s: %v, want %s", c.fn, err, c.typ)
		}
	}
	if got := mustCall(t, py, "calltest.add", 1, 1); got != int64(2) {
		t.Errorf("after exceptions add = %v", got)
	}
}

func newArray(t testing.TB, name string, dt npy.DType, shape ...int) *bridge.Array {
	t.Helper()
	var a *bridge.Array
	var err error
	if name == "" {
		a, err = bridge.CreateAnonymous(npy.Header{DType: dt, Shape: shape})
	} else {
		a, err = bridge.CreateArray(name, npy.Header{DType: dt, Shape: shape})
	}
	if err != nil {
		t.Fatalf("create array: %v", err)
	}
	t.Cleanup(func() {
		a.Close()
		if name != "" {
			a.Unlink()
		}
	})
	return a
}

func TestArrays(t *testing.T) {
	py := start(t)
	for _, named := range []bool{false, true} {
		name := ""
		if named {
			name = shmtest.Name(t)
		}
		a := newArray(t, name, npy.Float64, 100, 3)
		v, _ := bridge.View[float64](a)
		for i := range v {
			v[i] = float64(i)
		}
		if got := mustCall(t, py, "calltest.total", a); got != float64(len(v)*(len(v)-1)/2) {
			t.Errorf("total = %v", got)
		}
		mustCall(t, py, "calltest.fill", a, 2.5)
		if v[0] != 2.5 || v[len(v)-1] != 2.5 {
			t.Errorf("after fill in Python Go sees %v %v", v[0], v[len(v)-1])
		}
		s := mustCall(t, py, "calltest.same", a).(*bridge.Array)
		vs, _ := bridge.View[float64](s)
		v[7] = 42
		if vs[7] != 42 {
			t.Errorf("same(a) is not a's memory")
		}
		s.Close()
	}
	name := shmtest.Name(t)
	newArray(t, name, npy.Int32, 10)
	ro, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var pe *Error
	if _, err := py.Call(context.Background(), "calltest.fill", ro, 1); !errors.As(err, &pe) || !strings.Contains(pe.Message, "read-only") {
		t.Errorf("fill(read-only): %v", err)
	}
	r := mustCall(t, py, "calltest.arange", 5, "<i2").(*bridge.Array)
	defer r.Close()
	if v, _ := bridge.View[int16](r); !reflect.DeepEqual(v, []int16{0, 1, 2, 3, 4}) || !r.Anonymous() {
		t.Errorf("arange(5) = %v (anonymous %v)", v, r.Anonymous())
	}
	// Python keeps an argument past the call; the caller closes its Array:
	// Python's own mapping keeps the memory.
	k := newArray(t, "", npy.Int64, 4)
	vk, _ := bridge.View[int64](k)
	vk[2] = 9
	mustCall(t, py, "calltest.keep", k)
	k.Close()
	if got := mustCall(t, py, "calltest.kept_sum"); got != int64(9) {
		t.Errorf("kept array sums to %v after Go closed it", got)
	}
	mustCall(t, py, "calltest.keep", nil)
	// Many arrays at once, both ways (more than a socket buffer holds).
	var many []any
	for range 300 {
		many = append(many, newArray(t, "", npy.Uint8, 3))
	}
	l := mustCall(t, py, "calltest.echo", many...).([]any)
	if len(l) != 300 {
		t.Fatalf("echo of 300 arrays gave %d", len(l))
	}
	for _, x := range l {
		x.(*bridge.Array).Close()
	}
}

func TestDTypes(t *testing.T) {
	py := start(t)
	for _, descr := range []string{
		"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", ">i4", ">u8",
		"<f2", "<f4", "<f8", ">f8", "<c8", "<c16", ">c16",
		"|S7", "<U3", "|V5", "<M8[ns]", "<m8[s]",
		"[('a', '<i4'), ('b', '<f8', (2,))]",
		"[('id', '<u2'), ('inner', [('x', '<f4'), ('y', '|S3')]), ('flag', '|b1')]",
	} {
		dt, err := npy.ParseDType(descr)
		if err != nil {
			t.Fatalf("%s: %v", descr, err)
		}
		a := newArray(t, "", dt, 5, 3)
		data := a.Data()
		for i := range data {
			data[i] = byte(i*7 + 1)
			if dt.Kind == 'b' {
				data[i] &= 1
			}
		}
		c, err := py.Call(context.Background(), "numpy.copy", a)
		if err != nil {
			t.Errorf("%s: copy: %v", descr, err)
			continue
		}
		ca := c.(*bridge.Array)
		if !ca.DType().Equal(dt) || !bytes.Equal(ca.Data(), data) {
			t.Errorf("%s: copy came back as %s, equal bytes %v", descr, ca.DType().Descr(), bytes.Equal(ca.Data(), data))
		}
		ca.Close()
	}
}

func TestConcurrentCalls(t *testing.T) {
	py := start(t)
	a := newArray(t, "", npy.Int64, 1000)
	v, _ := bridge.View[int64](a)
	for i := range v {
		v[i] = int64(i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				got, err := py.Call(context.Background(), "calltest.add", g, i)
				if err == nil && got != int64(g+i) {
					err = errors.New("wrong sum")
				}
				if err == nil {
					got, err = py.Call(context.Background(), "calltest.total", a)
					if err == nil && got != 499500.0 {
						err = errors.New("wrong total")
					}
				}
				if err == nil && i%5 == 0 {
					var r any
					if r, err = py.Call(context.Background(), "calltest.arange", 3); err == nil {
						r.(*bridge.Array).Close()
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextTimeout(t *testing.T) {
	py := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if _, err := py.Call(ctx, "calltest.sleep", 1.0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call past its deadline: %v", err)
	}
	if d := time.Since(begin); d > 900*time.Millisecond {
		t.Errorf("Call returned after %v, not at its deadline", d)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := py.Call(ctx3, "calltest.arange", 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Call: %v", err)
	}
	if got := mustCall(t, py, "calltest.add", 1, 2); got != int64(3) {
		t.Errorf("after timeouts add = %v", got)
	}
}

func TestLargeArray(t *testing.T) {
	if testing.Short() {
		t.Skip("2 GiB; not with -short")
	}
	py := start(t)
	const n = 1 << 28 // float64: 2 GiB
	a := newArray(t, "", npy.Float64, n)
	v, _ := bridge.View[float64](a)
	var want float64
	for i := range v {
		v[i] = float64(i % 1000)
		want += v[i]
	}
	if got := mustCall(t, py, "calltest.total", a); got != want {
		t.Errorf("2 GiB total in Python = %v, want %v", got, want)
	}
	mustCall(t, py, "calltest.fill_range", a)
	bad := 0
	for i, x := range v {
		if x != float64(i) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("after fill_range in Python, %d of %d elements differ in Go", bad, n)
	}
}
