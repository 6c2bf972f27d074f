package pyworker

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
	"syscall"
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

// testPath puts this tree's npshm package and the test module first.
func testPath(t testing.TB) []string {
	src, _ := filepath.Abs("../pyshim/src")
	td, _ := filepath.Abs("testdata")
	return []string{src, td}
}

func start(t testing.TB, workers int) *Pool {
	t.Helper()
	p, err := Start(Options{Python: python(t), Path: testPath(t), Workers: workers})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustCall(t testing.TB, p *Pool, fn string, args ...any) any {
	t.Helper()
	v, err := p.Call(context.Background(), fn, args...)
	if err != nil {
		t.Fatalf("Call %s: %v", fn, err)
	}
	return v
}

func TestValues(t *testing.T) {
	p := start(t, 1)
	cases := []struct {
		in, want any
		pytype   any
	}{
		{nil, nil, "NoneType"},
		{true, true, "bool"},
		{42, int64(42), "int"},
		{int8(-3), int64(-3), "int"},
		{uint32(7), int64(7), "int"},
		{int64(math.MinInt64), int64(math.MinInt64), "int"},
		{1.0, 1.0, "float"},
		{float32(0.5), 0.5, "float"},
		{1e300, 1e300, "float"},
		{math.Inf(-1), math.Inf(-1), "float"},
		{"héllo\n\"x\"", "héllo\n\"x\"", "str"},
		{"", "", "str"},
		{[]byte{0, 1, 255}, []byte{0, 1, 255}, "bytes"},
		{[]byte{}, []byte{}, "bytes"},
		{[]int{1, 2}, []any{int64(1), int64(2)}, []any{"int", "int"}},
		{[]any{1, "a", nil, 2.5}, []any{int64(1), "a", nil, 2.5}, []any{"int", "str", "NoneType", "float"}},
		{[2]float64{1, 2}, []any{1.0, 2.0}, []any{"float", "float"}},
		{map[string]any{"k": []string{"v"}}, map[string]any{"k": []any{"v"}}, map[string]any{"k": []any{"str"}}},
		{map[string]int{}, map[string]any{}, map[string]any{}},
	}
	for _, c := range cases {
		if got := mustCall(t, p, "calltest.echo", c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("echo(%#v) = %#v, want %#v", c.in, got, c.want)
		}
		if got := mustCall(t, p, "calltest.types", c.in); !reflect.DeepEqual(got, []any{c.pytype}) {
			t.Errorf("types(%#v) = %#v, want [%#v]", c.in, got, c.pytype)
		}
	}
	if got := mustCall(t, p, "calltest.echo", math.NaN()).(float64); !math.IsNaN(got) {
		t.Errorf("echo(NaN) = %v", got)
	}
	if got := mustCall(t, p, "calltest.add", 2, 3); got != int64(5) {
		t.Errorf("add(2, 3) = %#v", got)
	}
	if got := mustCall(t, p, "calltest.nothing"); got != nil {
		t.Errorf("nothing() = %#v", got)
	}
	// numpy scalars come back as their Python values; tuples as lists.
	if got := mustCall(t, p, "numpy.float32", 1.5); got != 1.5 {
		t.Errorf("numpy.float32(1.5) = %#v", got)
	}
	if got := mustCall(t, p, "sys.path.__getitem__", 0); got != testPath(t)[0] {
		t.Errorf("sys.path[0] = %v, want Options.Path[0] %s", got, testPath(t)[0])
	}
	if got := mustCall(t, p, "os.path.split", "/a/b"); !reflect.DeepEqual(got, []any{"/a", "b"}) {
		t.Errorf("os.path.split = %#v", got)
	}
	// Big strings and lists cross in several frames.
	big := strings.Repeat("x", 200<<10)
	if got := mustCall(t, p, "calltest.echo", big); got != big {
		t.Errorf("200 KiB string came back with length %d", len(got.(string)))
	}
}

func TestBadArguments(t *testing.T) {
	p := start(t, 1)
	for _, c := range []struct {
		fn   string
		args []any
		want string
	}{
		{"calltest.echo", []any{struct{}{}}, "argument 1: cannot pass struct {} to Python"},
		{"calltest.echo", []any{1, map[int]int{1: 1}}, "argument 2: cannot pass map[int]int to Python: map keys must be strings"},
		{"calltest.echo", []any{map[string]any{"__npshm__": 1}}, `map key "__npshm__" is reserved`},
		{"echo", nil, `function "echo": want "module.function"`},
		{"calltest.", nil, `want "module.function"`},
	} {
		_, err := p.Call(context.Background(), c.fn, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Call(%s, %v) = %v, want an error with %q", c.fn, c.args, err, c.want)
		}
	}
}

// TestClosedArrayArgument: a closed array is refused before sending; one
// closed while its call waits for a worker is replaced by an abort
// message, and the worker, in step, replies with an error and goes on.
func TestClosedArrayArgument(t *testing.T) {
	p := start(t, 1)
	a, _ := bridge.CreateAnonymous(npy.Header{DType: npy.Float64, Shape: []int{4}})
	a.Close()
	if _, err := p.Call(context.Background(), "calltest.total", a); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Call with a closed array: %v, want os.ErrClosed", err)
	}
	pids := p.PIDs()
	b := newArray(t, "", npy.Float64, 4)
	c := newArray(t, "", npy.Float64, 4)
	req, err := pycall.EncodeRequest("calltest.echo", []any{b, c})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // after encoding, before sending
	pc := pycall.NewPending(req)
	p.queue <- pc
	if _, err := pc.Wait(context.Background()); !errors.Is(err, os.ErrClosed) || errors.Is(err, ErrWorkerDied) {
		t.Errorf("array closed before sending: %v, want os.ErrClosed and no dead worker", err)
	}
	if got := mustCall(t, p, "calltest.total", b); got != 0.0 || !reflect.DeepEqual(p.PIDs(), pids) {
		t.Errorf("after an aborted call: total %v, pids %v (were %v)", got, p.PIDs(), pids)
	}
}

func TestExceptions(t *testing.T) {
	p := start(t, 1)
	_, err := p.Call(context.Background(), "calltest.boom", "bad input")
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("boom: %v (%T), want an *Error", err, err)
	}
	if pe.Func != "calltest.boom" || pe.Type != "RuntimeError" || pe.Message != "wrapped" {
		t.Errorf("boom: Func %q Type %q Message %q", pe.Func, pe.Type, pe.Message)
	}
	for _, want := range []string{"ValueError: bad input", "in inner", "calltest.py", "direct cause", "RuntimeError: wrapped"} {
		if !strings.Contains(pe.Traceback, want) {
			t.Errorf("boom: traceback lacks %q:\n%s", want, pe.Traceback)
		}
	}
	if strings.Contains(pe.Traceback, "_worker.py") {
		t.Errorf("traceback shows the worker's own frames:\n%s", pe.Traceback)
	}
	if got, want := err.Error(), "python calltest.boom: RuntimeError: wrapped"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for _, c := range []struct{ fn, typ, msg string }{
		{"nosuchmodule.f", "ModuleNotFoundError", "No module named 'nosuchmodule'"},
		{"calltest.nosuch", "AttributeError", "has no attribute 'nosuch'"},
		{"calltest.exit_call", "SystemExit", "3"},
		{"calltest.unconvertible", "TypeError", "cannot return builtins.set to Go"},
		{"calltest.objects", "TypeError", "array of Python objects"},
		{"numpy.linalg.inv", "TypeError", ""},
	} {
		_, err := p.Call(context.Background(), c.fn)
		if !errors.As(err, &pe) || pe.Type != c.typ || !strings.Contains(pe.Message, c.msg) {
			t.Errorf("%s: %v, want %s with %q", c.fn, err, c.typ, c.msg)
		}
	}
	_, err = p.Call(context.Background(), "numpy.linalg.inv", [][]float64{{1, 2}, {2, 4}})
	if !errors.As(err, &pe) || pe.Type != "numpy.linalg.LinAlgError" {
		t.Errorf("inv(singular): %v, want numpy.linalg.LinAlgError", err)
	}
	// The worker survives all of them.
	if got := mustCall(t, p, "calltest.add", 1, 1); got != int64(2) {
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

func TestArrayArguments(t *testing.T) {
	p := start(t, 1)
	for _, named := range []bool{false, true} {
		name := ""
		if named {
			name = shmtest.Name(t)
		}
		a := newArray(t, name, npy.Float64, 1000, 3)
		v, _ := bridge.View[float64](a)
		for i := range v {
			v[i] = float64(i)
		}
		if got := mustCall(t, p, "calltest.total", a); got != float64(len(v)*(len(v)-1)/2) {
			t.Errorf("named=%v: total = %v", named, got)
		}
		d := mustCall(t, p, "calltest.describe", a).(map[string]any)
		want := map[string]any{"dtype": "<f8", "shape": []any{int64(1000), int64(3)}, "writeable": true, "fortran": false, "owndata": false}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("named=%v: describe = %v, want %v", named, d, want)
		}
		// In-place writes in Python are seen in Go: the same memory.
		mustCall(t, p, "calltest.fill", a, 2.5)
		if v[0] != 2.5 || v[len(v)-1] != 2.5 {
			t.Errorf("named=%v: after fill v[0]=%v v[-1]=%v", named, v[0], v[len(v)-1])
		}
	}

	// A read-only array arrives read-only.
	name := shmtest.Name(t)
	w := newArray(t, name, npy.Int32, 10)
	ro, err := bridge.OpenArray(name, bridge.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if d := mustCall(t, p, "calltest.describe", ro).(map[string]any); d["writeable"] != false {
		t.Errorf("read-only array: describe = %v", d)
	}
	_, err = p.Call(context.Background(), "calltest.fill", ro, 1)
	var pe *Error
	if !errors.As(err, &pe) || pe.Type != "ValueError" || !strings.Contains(pe.Message, "read-only") {
		t.Errorf("fill(read-only): %v, want ValueError read-only", err)
	}
	_ = w

	// Fortran order stays Fortran order.
	f, err := bridge.CreateAnonymous(npy.Header{DType: npy.Float32, Shape: []int{3, 4}, FortranOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if d := mustCall(t, p, "calltest.describe", f).(map[string]any); d["fortran"] != true {
		t.Errorf("fortran array: describe = %v", d)
	}
	// Arrays inside lists and maps.
	b := newArray(t, "", npy.Int64, 4)
	got := mustCall(t, p, "calltest.types", []any{a0(t), map[string]any{"x": b}})
	if want := []any{[]any{"ndarray", map[string]any{"x": "ndarray"}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("nested arrays: types = %v, want %v", got, want)
	}
}

func a0(t testing.TB) *bridge.Array { return newArray(t, "", npy.Uint8, 0) }

func TestArrayResults(t *testing.T) {
	p := start(t, 1)
	// A new ndarray comes back copied once into memory Go owns (anonymous).
	r := mustCall(t, p, "calltest.arange", 5, "<i2").(*bridge.Array)
	defer r.Close()
	if !r.Anonymous() || r.DType().Descr() != "'<i2'" {
		t.Errorf("arange: anonymous=%v dtype %s", r.Anonymous(), r.DType().Descr())
	}
	if v, _ := bridge.View[int16](r); !reflect.DeepEqual(v, []int16{0, 1, 2, 3, 4}) {
		t.Errorf("arange(5) = %v", v)
	}
	if r.Segment().Mode() != bridge.ReadWrite {
		t.Errorf("a copied result is not read-write")
	}

	// An argument returned as is comes back as the same memory.
	for _, named := range []bool{false, true} {
		name := ""
		if named {
			name = shmtest.Name(t)
		}
		a := newArray(t, name, npy.Float64, 2, 4)
		s := mustCall(t, p, "calltest.same", a).(*bridge.Array)
		va, _ := bridge.View[float64](a)
		vs, _ := bridge.View[float64](s)
		va[3] = 42
		if vs[3] != 42 || s.Name() != a.Name() {
			t.Errorf("named=%v: same(a) is not a's memory (name %q, a %q)", named, s.Name(), a.Name())
		}
		s.Close()
		// A view of part of it is copied (a bridge.Array is a whole segment).
		row := mustCall(t, p, "calltest.first_row", a).(*bridge.Array)
		if vr, _ := bridge.View[float64](row); len(vr) != 4 || !row.Anonymous() {
			t.Errorf("first_row: %v anonymous %v", vr, row.Anonymous())
		}
		row.Close()
	}

	// An npshm.Shared made in Python comes back by its name; the caller
	// closes and unlinks it.
	name := shmtest.Name(t)
	s := mustCall(t, p, "calltest.shared_named", name, 3).(*bridge.Array)
	if s.Name() != name {
		t.Errorf("shared_named: name %q, want %q", s.Name(), name)
	}
	if v, _ := bridge.View[int64](s); !reflect.DeepEqual(v, []int64{0, 1, 2}) {
		t.Errorf("shared_named = %v", v)
	}
	s.Close()
	if err := s.Unlink(); err != nil {
		t.Errorf("unlink result: %v", err)
	}

	// Records.
	rec := mustCall(t, p, "calltest.records", 4).(*bridge.Array)
	defer rec.Close()
	if got := rec.DType().Descr(); got != "[('id', '<i4'), ('pos', '<f8', (2,)), ('tag', '|S4')]" {
		t.Errorf("records dtype %s", got)
	}
	// Several arrays in one result.
	l := mustCall(t, p, "calltest.echo", []any{a0(t), "x"}, a0(t)).([]any)
	for _, x := range l {
		pycall.Free(x)
	}
}

// TestDTypes sends an array of every dtype the bridge supports both ways:
// Python sees the bytes Go wrote, and a copy made in Python comes back with
// the same dtype and bytes.
func TestDTypes(t *testing.T) {
	p := start(t, 1)
	for _, descr := range []string{
		"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", ">i4", ">u8",
		"<f2", "<f4", "<f8", ">f8", "<c8", "<c16", ">c16",
		"|S7", "<U3", "|V5", "<M8[ns]", "<m8[s]", "<M8[D]",
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
		if got, want := mustCall(t, p, "calltest.checksum", a), checksum(data); got != want {
			t.Errorf("%s: checksum in Python %v, in Go %v", descr, got, want)
		}
		c, err := p.Call(context.Background(), "numpy.copy", a)
		if err != nil {
			t.Errorf("%s: copy: %v", descr, err)
			continue
		}
		ca := c.(*bridge.Array)
		if !ca.DType().Equal(dt) || !reflect.DeepEqual(ca.Shape(), []int{5, 3}) || !bytes.Equal(ca.Data(), data) {
			t.Errorf("%s: copy came back as %s %v, equal bytes %v", descr, ca.DType().Descr(), ca.Shape(), bytes.Equal(ca.Data(), data))
		}
		ca.Close()
	}
}

func checksum(b []byte) int64 {
	var s, s2 int64
	for i, x := range b {
		s += int64(x)
		if i%4097 == 0 {
			s2 += int64(x)
		}
	}
	return s + 31*s2
}

// TestConcurrentCalls: 16 goroutines call at once (run under -race).
func TestConcurrentCalls(t *testing.T) {
	p := start(t, 2)
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
				got, err := p.Call(context.Background(), "calltest.add", g, i)
				if err == nil && got != int64(g+i) {
					err = errors.New("wrong sum")
				}
				if err == nil {
					got, err = p.Call(context.Background(), "calltest.total", a)
					if err == nil && got != 499500.0 {
						err = errors.New("wrong total")
					}
				}
				if err == nil && i%5 == 0 {
					var r any
					if r, err = p.Call(context.Background(), "calltest.arange", 3); err == nil {
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

func TestParallelWorkers(t *testing.T) {
	p := start(t, 2)
	pids := map[int64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			v, err := p.Call(context.Background(), "calltest.sleep", 0.5)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			pids[v.(int64)] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(pids) != 2 {
		t.Errorf("two calls at once ran in %d worker(s), want 2", len(pids))
	}
}

func TestContextTimeout(t *testing.T) {
	p := start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Call(ctx, "calltest.sleep", 1.0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call past its deadline: %v, want DeadlineExceeded", err)
	}
	// A call queued behind the busy worker gives up too.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := p.Call(ctx2, "calltest.nothing"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued Call past its deadline: %v", err)
	}
	// An abandoned array result is freed, and the worker goes on serving.
	ctx3, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := p.Call(ctx3, "calltest.arange", 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Call: %v", err)
	}
	if got := mustCall(t, p, "calltest.add", 1, 2); got != int64(3) {
		t.Errorf("after timeouts add = %v", got)
	}
}

func TestWorkerKilled(t *testing.T) {
	var stderr bytes.Buffer
	p, err := Start(Options{Python: python(t), Path: testPath(t), Workers: 1, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pid := p.PIDs()[0]
	a := newArray(t, "", npy.Float64, 100)
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), "calltest.spin", 30.0)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // let it start the call
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "signal: killed") {
			t.Errorf("call on a killed worker: %v, want ErrWorkerDied, signal: killed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("call on a killed worker did not return")
	}
	// The worker is restarted; calls work, arrays too.
	if got := mustCall(t, p, "calltest.total", a); got != 0.0 {
		t.Errorf("after restart total = %v", got)
	}
	if newPID := p.PIDs()[0]; newPID == pid {
		t.Errorf("worker pid %d after restart, the killed one's", newPID)
	}
	// A function that kills its own worker.
	if _, err := p.Call(context.Background(), "calltest.die"); !errors.Is(err, ErrWorkerDied) {
		t.Errorf("die: %v, want ErrWorkerDied", err)
	}
	if got := mustCall(t, p, "calltest.add", 1, 1); got != int64(2) {
		t.Errorf("after die add = %v", got)
	}
}

func TestClose(t *testing.T) {
	p := start(t, 2)
	pids := p.PIDs()
	busy := make(chan error, 1)
	go func() { _, err := p.Call(context.Background(), "calltest.sleep", 1.0); busy <- err }()
	time.Sleep(200 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-busy; err != nil {
		t.Errorf("a call running at Close: %v (it finishes within the grace)", err)
	}
	if _, err := p.Call(context.Background(), "calltest.nothing"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Call after Close: %v, want os.ErrClosed", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("worker %d still running after Close", pid)
		}
	}
	p.Close() // idempotent
}

func TestStartFailure(t *testing.T) {
	_, err := Start(Options{Python: "/nonexistent/python", Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/python") {
		t.Errorf("Start with no interpreter: %v", err)
	}
	// A worker that fails to start says why (its last line of stderr).
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "npshm"), 0o755)
	os.WriteFile(filepath.Join(dir, "npshm", "__init__.py"), []byte("raise ImportError('broken npshm for the test')\n"), 0o644)
	_, err = Start(Options{Python: python(t), Path: []string{dir}, Workers: 2, Stderr: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "ImportError: broken npshm for the test") || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("Start with a broken npshm: %v", err)
	}
}

// TestLargeArray: a 2 GiB array crosses by descriptor; Python sums what Go
// wrote and writes in place what Go then reads.
func TestLargeArray(t *testing.T) {
	if testing.Short() {
		t.Skip("2 GiB; not with -short")
	}
	p := start(t, 1)
	const n = 1 << 28 // float64: 2 GiB
	a := newArray(t, "", npy.Float64, n)
	v, _ := bridge.View[float64](a)
	var want float64
	for i := range v {
		v[i] = float64(i % 1000)
		want += v[i]
	}
	if got := mustCall(t, p, "calltest.total", a); got != want {
		t.Errorf("2 GiB total in Python = %v, want %v", got, want)
	}
	mustCall(t, p, "calltest.fill_range", a)
	for _, i := range []int{0, 1, n / 2, n - 1} {
		if v[i] != float64(i) {
			t.Errorf("after fill_range in Python v[%d] = %v", i, v[i])
		}
	}
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
