//go:build pyembed

package pyembed

/*
#cgo pkg-config: python3-embed
#include <stdlib.h>
#include "embed.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/pycall"
)

// Error is a Python exception raised by a call: its type, message and
// traceback. It is the same type as pyworker.Error, so one errors.As target
// serves both backends.
type Error = pycall.Error

// ErrStarted is returned by Start when CPython already runs in this process
// with another venv: there is one interpreter per process, and it is never
// re-initialised (numpy cannot be).
var ErrStarted = errors.New("pyembed: CPython already runs in this process")

// Options say whose environment the embedded interpreter uses.
type Options struct {
	// Python is a venv's (or any installation's) python executable: its
	// sys.path (site-packages, .pth entries) is used, so its numpy is.
	// It must be the same major.minor version as the libpython this
	// package was built against. Default "python3" from $PATH.
	Python string
	// Path is prepended to sys.path, so "module.function" can name
	// modules there.
	Path []string
}

// Interpreter is a handle on the process's embedded CPython. Call and
// Close are safe for concurrent use.
type Interpreter struct {
	in     *interp
	once   sync.Once
	closed chan struct{}
}

// interp is the process's one interpreter and the goroutine that runs it.
type interp struct {
	python  string
	jobs    chan *pycall.Pending // one waits in the buffer, so the caller need not park
	callers pycall.Spinner       // callers polling for their results
	thread  pycall.Spinner       // the interpreter thread polling for the next call
	conn    *net.UnixConn        // ours; Python holds a dup of peer
	peer    *os.File
}

var (
	startMu sync.Mutex
	the     *interp
)

// Start starts CPython in this process with the environment of
// opts.Python, the first time; later calls (with the same Python) return
// another handle on the same interpreter, with opts.Path added to sys.path.
func Start(opts Options) (*Interpreter, error) {
	if opts.Python == "" {
		opts.Python = "python3"
	}
	python, err := exec.LookPath(opts.Python)
	if err != nil {
		return nil, fmt.Errorf("pyembed: %w", err)
	}
	if python, err = filepath.Abs(python); err != nil {
		return nil, fmt.Errorf("pyembed: %w", err)
	}
	startMu.Lock()
	defer startMu.Unlock()
	if the != nil {
		if the.python != python {
			return nil, fmt.Errorf("%w with %s; cannot switch to %s", ErrStarted, the.python, python)
		}
		h := &Interpreter{in: the, closed: make(chan struct{})}
		for i := len(opts.Path) - 1; i >= 0; i-- {
			if _, err := h.Call(context.Background(), "sys.path.insert", 0, opts.Path[i]); err != nil {
				return nil, fmt.Errorf("pyembed: %w", err)
			}
		}
		return h, nil
	}
	env, err := venvOf(python)
	if err != nil {
		return nil, err
	}
	conn, peer, err := pycall.SocketPair()
	if err != nil {
		return nil, fmt.Errorf("pyembed: %w", err)
	}
	in := &interp{python: python, jobs: make(chan *pycall.Pending, 1), conn: conn, peer: peer}
	started := make(chan error)
	go in.run(bootstrap(env, opts.Path, python, int(peer.Fd())), started)
	if err := <-started; err != nil {
		// The interpreter may be half started; it is never started again.
		the = &interp{python: "(failed: " + err.Error() + ")"}
		return nil, err
	}
	the = in
	return &Interpreter{in: in, closed: make(chan struct{})}, nil
}

// venv is what the chosen python says about its environment.
type venv struct {
	Version    string   `json:"version"`
	Path       []string `json:"path"`
	Prefix     string   `json:"prefix"`
	ExecPrefix string   `json:"exec_prefix"`
	Stdlib     []string `json:"stdlib"`
}

const venvScript = `
import json, sys, sysconfig
std = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
def isstd(p):
    return p.endswith(".zip") or any(p == s or p.startswith(s + "/lib-dynload") for s in std)
print(json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "path": [p for p in sys.path if p and not isstd(p)],
    "stdlib": [p for p in sys.path if p and isstd(p)],
    "prefix": sys.prefix, "exec_prefix": sys.exec_prefix,
}))
`

// venvOf asks python (once, a subprocess) for its sys.path beyond the
// standard library: the venv's site-packages and what its .pth files add.
func venvOf(python string) (*venv, error) {
	out, err := exec.Command(python, "-c", venvScript).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("pyembed: ask %s for its sys.path: %w", python, err)
	}
	var v venv
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("pyembed: ask %s for its sys.path: %w", python, err)
	}
	ours := strings.Fields(C.GoString(C.npe_version()))[0]
	if majorMinor(ours) != majorMinor(v.Version) {
		return nil, fmt.Errorf("pyembed: %s is Python %s, but this program embeds libpython %s: "+
			"use a venv made with Python %s, or rebuild against its libpython (pkg-config python3-embed)",
			python, v.Version, ours, majorMinor(ours))
	}
	return &v, nil
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// bootstrap is the Python run once at start: sys.path, then the entry
// points npe_call and npe_flush use.
func bootstrap(v *venv, path []string, python string, fd int) string {
	front := append(append([]string{}, path...), v.Path...)
	lit := func(x any) string { b, _ := json.Marshal(x); return string(b) } // JSON strings and lists are Python literals
	return fmt.Sprintf(`
import sys
sys.path[:0] = [p for p in %s if p not in sys.path]
sys.executable = %s
sys.prefix, sys.exec_prefix = %s, %s
import os, socket
import npshm._worker as _npshm_worker
_npshm_sock = socket.socket(fileno=os.dup(%d))
def _npshm_call(req):
    return _npshm_worker.call_embedded(_npshm_sock, req)
def _npshm_flush():
    _npshm_worker.flush_embedded(_npshm_sock)
`, lit(front), lit(python), lit(v.Prefix), lit(v.ExecPrefix), fd)
}

// run is the interpreter's goroutine: locked to its OS thread, it starts
// CPython and runs every call, for the life of the process.
func (in *interp) run(boot string, started chan<- error) {
	runtime.LockOSThread() // never unlocked: CPython's main thread is this one
	cs := C.CString(boot)
	var cerr *C.char
	rc := C.npe_start(cs, &cerr)
	C.free(unsafe.Pointer(cs))
	if rc != 0 {
		msg := C.GoString(cerr)
		C.free(unsafe.Pointer(cerr))
		started <- fmt.Errorf("pyembed: start CPython with %s: %s", in.python, msg)
		return
	}
	started <- nil
	for {
		c := pycall.Spin(in.jobs, &in.thread)
		if !c.Begin() {
			continue
		}
		c.Deliver(in.safeCall(c))
	}
}

// safeCall is call with a Go panic (a bug here) turned into the call's
// error: the interpreter goroutine, and so the process, goes on.
func (in *interp) safeCall(c *pycall.Pending) (r pycall.Result) {
	defer func() {
		if p := recover(); p != nil {
			r = pycall.Result{Err: fmt.Errorf("pyembed: %s: internal error: %v", c.Req.Func, p)}
		}
	}()
	v, err := in.call(c)
	return pycall.Result{Value: v, Err: err}
}

// call runs one request: its arrays go over the socket while Python
// receives them in npe_call, and the result's arrays come back while
// npe_flush sends them.
func (in *interp) call(c *pycall.Pending) (any, error) {
	sendErr := make(chan error, 1)
	send := func() {
		err, connErr := c.Req.SendArrays(in.conn)
		c.Arrived() // the caller may close them now
		if connErr != nil {
			err = connErr
		}
		sendErr <- err
	}
	if len(c.Req.Arrays) <= 16 {
		send() // a few messages: the socket buffer holds them
	} else {
		go send() // while Python receives them
	}
	var out *C.char
	var outn C.size_t
	req := C.CBytes(c.Req.JSON)
	rc := C.npe_call((*C.char)(req), C.size_t(len(c.Req.JSON)), &out, &outn)
	C.free(req)
	err := <-sendErr
	if rc != 0 {
		msg := C.GoString(out)
		C.free(unsafe.Pointer(out))
		return nil, fmt.Errorf("pyembed: %s: %s", c.Req.Func, msg)
	}
	reply := C.GoBytes(unsafe.Pointer(out), C.int(outn))
	C.free(unsafe.Pointer(out))
	if err != nil { // Python saw the abort and replied with an error
		return nil, fmt.Errorf("pyembed: %w", err)
	}
	writable, err := pycall.ReplyArrays(reply)
	if err != nil {
		return nil, err
	}
	var arrays []*bridge.Array
	if len(writable) > 0 {
		got := make(chan error, 1)
		go func() {
			for _, rw := range writable {
				mode := bridge.ReadOnly
				if rw {
					mode = bridge.ReadWrite
				}
				a, err := bridge.Receive(in.conn, mode)
				if err != nil {
					got <- err
					return
				}
				arrays = append(arrays, a)
			}
			got <- nil
		}()
		var cerr *C.char
		if C.npe_flush(&cerr) != 0 {
			msg := C.GoString(cerr)
			C.free(unsafe.Pointer(cerr))
			return nil, fmt.Errorf("pyembed: %s: %s", c.Req.Func, msg) // the receiver waits on; the socket is out of step
		}
		if err := <-got; err != nil {
			for _, a := range arrays {
				a.Close()
			}
			return nil, fmt.Errorf("pyembed: %s: receive result arrays: %w", c.Req.Func, err)
		}
	}
	return pycall.DecodeReply(c.Req.Func, reply, arrays)
}

// Call calls fn ("module.function", e.g. "numpy.linalg.norm") with args in
// the embedded interpreter and returns its result. Calls from any number
// of goroutines run one at a time on the interpreter's thread. See the
// package doc for the values that cross and who owns arrays. A Python
// exception is an *Error.
//
// When ctx is done Call returns ctx's error at once; a function already
// running goes on to its end (Python cannot be interrupted from here), and
// its result is freed.
func (h *Interpreter) Call(ctx context.Context, fn string, args ...any) (any, error) {
	req, err := pycall.EncodeRequest(fn, args)
	if err != nil {
		return nil, fmt.Errorf("pyembed: %w", err)
	}
	select {
	case <-h.closed:
		return nil, fmt.Errorf("pyembed: call %s: %w", fn, os.ErrClosed)
	default:
	}
	c := pycall.NewPending(req)
	select {
	case h.in.jobs <- c:
	case <-ctx.Done():
		return nil, fmt.Errorf("pyembed: call %s: %w", fn, ctx.Err())
	case <-h.closed:
		return nil, fmt.Errorf("pyembed: call %s: %w", fn, os.ErrClosed)
	}
	v, err := c.WaitSpinning(ctx, &h.in.callers)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, fmt.Errorf("pyembed: call %s: %w", fn, err)
	}
	return v, err
}

// Close ends this handle: later Calls return os.ErrClosed. The interpreter
// itself stays (it cannot be restarted), idle, for a later Start.
func (h *Interpreter) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Version is the embedded interpreter's version, as sys.version.
func Version() string { return C.GoString(C.npe_version()) }
