package pyworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/npshm/npshm/internal/pycall"
)

// Error is a Python exception raised by a call: its type, message and
// traceback. It is the same type as pyembed.Error, so one errors.As target
// serves both backends.
type Error = pycall.Error

// ErrWorkerDied is wrapped by the error of a call whose worker process
// exited or was killed before it replied. The worker is restarted; the call
// is not retried (it may have had effects, such as writes into a read-write
// array).
var ErrWorkerDied = errors.New("python worker died")

// Options say which Python runs the workers and how many.
type Options struct {
	// Python is the interpreter to run: a venv's bin/python uses that
	// venv's numpy and packages. Default "python3" from $PATH. Its npshm
	// package must be this module's version (it runs npshm._worker).
	Python string
	// Path is prepended to the workers' sys.path, so "module.function" can
	// name modules there (and npshm itself is found there, through
	// PYTHONPATH, if the interpreter lacks it).
	Path []string
	// Workers is how many processes to start; default runtime.NumCPU().
	Workers int
	// Stderr receives what the workers write to stdout and stderr (one
	// Write at a time); default os.Stderr. The last line also goes into
	// ErrWorkerDied errors.
	Stderr io.Writer
	// StartTimeout bounds the start of one worker (importing numpy);
	// default 60s.
	StartTimeout time.Duration
}

// Pool is a set of Python worker processes. Call and Close are safe for
// concurrent use.
type Pool struct {
	opts    Options
	queue   chan *pycall.Pending
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	workers []*worker
}

// Start starts the workers and waits until each has imported numpy and is
// ready, or returns the first failure (with the worker's stderr).
func Start(opts Options) (*Pool, error) {
	if opts.Python == "" {
		opts.Python = "python3"
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	opts.Stderr = &lockedWriter{w: opts.Stderr} // the workers write at once
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	p := &Pool{opts: opts, queue: make(chan *pycall.Pending), done: make(chan struct{})}
	errs := make(chan error, opts.Workers)
	for i := range opts.Workers {
		w := &worker{pool: p, id: i}
		p.workers = append(p.workers, w)
		go func() { errs <- w.start() }()
	}
	var first error
	for range opts.Workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		for _, w := range p.workers {
			w.stop(0)
		}
		return nil, first
	}
	for _, w := range p.workers {
		p.wg.Add(1)
		go w.serve()
	}
	return p, nil
}

// Call calls fn ("module.function", e.g. "numpy.linalg.norm") in one of the
// workers with args and returns its result; calls run in parallel, one per
// worker. See the package doc for the values that cross, and who owns
// arrays. A Python exception is an *Error; a worker that dies during the
// call gives an error wrapping ErrWorkerDied.
//
// When ctx is done Call returns ctx's error at once; the worker may still
// be running the function (and writing into read-write array arguments):
// it finishes in the background and its result is freed.
func (p *Pool) Call(ctx context.Context, fn string, args ...any) (any, error) {
	req, err := pycall.EncodeRequest(fn, args)
	if err != nil {
		return nil, fmt.Errorf("pyworker: %w", err)
	}
	select {
	case <-p.done:
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, os.ErrClosed)
	default:
	}
	c := pycall.NewPending(req)
	select {
	case p.queue <- c:
	case <-ctx.Done():
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, ctx.Err())
	case <-p.done:
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, os.ErrClosed)
	}
	v, err := c.Wait(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, err)
	}
	return v, err
}

// Close stops the workers: idle ones at once, busy ones when their call
// returns, or killed after grace (5s). Calls waiting or running get an
// error. Close leaves nothing in /dev/shm: arrays cross in memfds.
func (p *Pool) Close() error {
	p.once.Do(func() {
		close(p.done)
		stopped := make(chan struct{})
		go func() { p.wg.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			for _, w := range p.workers {
				w.kill()
			}
			<-stopped
		}
	})
	return nil
}

// PIDs returns the process IDs of the running workers (for monitoring;
// a restarted worker has a new one).
func (p *Pool) PIDs() []int {
	var out []int
	for _, w := range p.workers {
		if pid := w.pid(); pid != 0 {
			out = append(out, pid)
		}
	}
	return out
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
