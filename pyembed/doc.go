// Package pyembed calls Python functions, numpy's or your own, from Go in
// CPython embedded in the process (cgo), handing arrays over with no copy.
// It has the API of package pyworker (worker processes, no cgo), so a
// program switches between them with one line.
//
// Build with the tag pyembed and libpython found by pkg-config
// (python3-embed, e.g. Debian's libpython3.11-dev):
//
//	go build -tags pyembed ./...
//
// Without the tag the package is this documentation only, so `go build
// ./...` and `go vet ./...` need neither cgo nor libpython.
//
//	py, err := pyembed.Start(pyembed.Options{Python: ".venv/bin/python", Path: []string{"py"}})
//	if err != nil { ... }
//	defer py.Close()
//	v, err := py.Call(ctx, "numpy.linalg.norm", a) // a is a *bridge.Array: Python sees an ndarray over its memory
//
// # One interpreter, one thread (the GIL discipline)
//
// A process has one CPython, started by the first Start and never
// re-initialised (numpy cannot be): later Starts return handles on the same
// interpreter (with the same Python; another one is ErrStarted) and Close
// retires a handle, not the interpreter. All Python runs on one goroutine
// locked to its OS thread (runtime.LockOSThread), which initialised CPython
// and so is its main thread; Calls from any number of goroutines are handed
// to it over a channel and run one at a time. That thread takes the GIL
// only while it runs a call and releases it in between
// (PyEval_RestoreThread / PyEval_SaveThread), so Python threads a function
// starts keep running between calls; no Go goroutine ever touches Python
// from another thread, which is where go-python3's users crashed. Python
// does not install its signal handlers: signals stay Go's. A hand-off to a
// locked thread costs two OS thread wake-ups (about 30 us on a VM), so the
// caller and the interpreter thread poll for up to 50 us before blocking,
// and stop polling for a while when it did not pay. For numpy calls
// in parallel use pyworker: one interpreter has one GIL (numpy releases it
// inside its own loops, but one call runs at a time here).
//
// Options.Python chooses the environment: at Start a subprocess asks that
// python for its sys.path, and the entries beyond its standard library
// (the venv's site-packages, what its .pth files add) are put first in the
// embedded interpreter's sys.path, after Options.Path; the standard
// library is libpython's own. Its major.minor version must be libpython's.
//
// # Calls
//
// Call(ctx, "module.function", args...) imports the module (once) and
// calls the function; values convert as in pyworker (nil, bool, integers,
// floats, string, []byte, slices and string-keyed maps; results as nil,
// bool, int64, float64, string, []byte, []any, map[string]any). A Python
// exception is an *Error (the same type as pyworker.Error) with its type,
// message and traceback; no exception, not even SystemExit, escapes a call.
// When ctx is done Call returns ctx's error at once; a running function
// goes on to its end and its result is freed.
//
// # Arrays and who frees what
//
// A *bridge.Array argument arrives as a numpy.ndarray over the same memory,
// read-only unless the Array is bridge.ReadWrite. Its file descriptor is
// passed over an in-process Unix socket and Python maps it itself (as
// npshm.attach does): the ndarray's base is that mapping, which lives as
// long as Python holds any view of it. So Python may keep an array past the
// call, and the caller may Close (and Unlink) its Array as soon as Call
// returns: neither can leave the other with unmapped memory.
//
// An ndarray result comes back as a *bridge.Array the caller owns and must
// Close: an argument returned as it is, as a new handle on the same memory;
// an npshm.Shared as that segment (a named one keeps its name: the caller
// unlinks it); any other ndarray copied once into a new anonymous (memfd)
// segment. Nothing is created in /dev/shm.
package pyembed
