// Package pyworker calls Python functions, numpy's or your own, from Go in
// a pool of Python worker processes, handing arrays over with no copy. It
// needs no cgo; the same API runs CPython inside the process in package
// pyembed (build tag pyembed).
//
//	p, err := pyworker.Start(pyworker.Options{Python: ".venv/bin/python", Path: []string{"py"}, Workers: 2})
//	if err != nil { ... }
//	defer p.Close()
//	v, err := p.Call(ctx, "numpy.linalg.norm", a) // a is a *bridge.Array: Python sees an ndarray over its memory
//
// # Workers
//
// Start runs Workers processes of Options.Python (`python -m npshm._worker`,
// so that interpreter's npshm package must be this module's version), each
// with its own interpreter and GIL: calls spread over the workers, one call
// per worker at a time, so N workers run N numpy calls in parallel. A worker
// that dies (a crash, SIGKILL, os._exit) fails the call it held with an
// error wrapping ErrWorkerDied that gives the exit status and its last line
// of stderr, and is restarted; the call is not retried. Close stops the
// workers (busy ones get a 5 s grace, then SIGKILL).
//
// # Calls
//
// Call(ctx, "module.function", args...) imports the module (once) and calls
// the function with the arguments converted as below (any dotted name
// works: "numpy.linalg.norm", "mypkg.Model.predict" for a static method).
// A Python exception comes back as an *Error (the same type as
// pyembed.Error, so errors.As works for both) with the exception's type,
// message and traceback. When ctx is done Call returns at once with ctx's
// error; the function may run on in its worker, and its result is freed
// when it arrives.
//
// Values: nil, bool, integers, floats, string, []byte, and slices and
// string-keyed maps of those go to Python as None, bool, int, float, str,
// bytes, list and dict; results come back as nil, bool, int64, float64,
// string, []byte, []any (lists and tuples) and map[string]any. Numpy
// scalars come back as their Python value.
//
// # Arrays and who frees what
//
// A *bridge.Array argument (named, anonymous or a file) is handed to the
// worker as its file descriptor over the worker's Unix socket (SCM_RIGHTS),
// and arrives as a numpy.ndarray over the same memory: read-only unless the
// Array is bridge.ReadWrite, in which case Python's writes land in Go's
// array. The worker maps it itself, so the caller may Close (and Unlink) its
// Array as soon as Call returns, even a cancelled Call; Python's mapping
// goes when the last Python reference does. A cancelled call may still be
// writing into a read-write argument until the function returns.
//
// An ndarray result comes back as a *bridge.Array that the caller owns and
// must Close:
//   - an argument returned as it is comes back as a new handle on the same
//     memory (same Name);
//   - an npshm.Shared comes back as that segment (a named one keeps its
//     name: the caller unlinks it when done);
//   - any other ndarray (a new one, a slice, a view) is copied once into a
//     new anonymous (memfd) segment, read-write, which only the caller holds.
//
// Arrays of Python objects cannot cross. Every transfer uses memfds or
// descriptors of existing files, so nothing is created in /dev/shm: a
// worker or a Go process that crashes leaves nothing behind.
package pyworker
