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

	"github.com/npshm/npshm/bridge"
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
	// Path is prepended to the workers' sys.path (through PYTHONPATH), so
	// "module.function" can name modules there.
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
	queue   chan *call
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
	p := &Pool{opts: opts, queue: make(chan *call), done: make(chan struct{})}
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
	c := &call{req: req, sent: make(chan struct{}), reply: make(chan result, 1)}
	select {
	case p.queue <- c:
	case <-ctx.Done():
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, ctx.Err())
	case <-p.done:
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, os.ErrClosed)
	}
	select {
	case r := <-c.reply:
		return r.value, r.err
	case <-ctx.Done():
		if r, ok := c.abandon(); ok {
			return r.value, r.err
		}
		return nil, fmt.Errorf("pyworker: call %s: %w", fn, ctx.Err())
	}
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

type result struct {
	value any
	err   error
}

// call is one Call on its way through a worker. Its state decides who
// frees a result when the caller gave up.
type call struct {
	req   *pycall.Request
	mu    sync.Mutex
	state int // pending, sending, sent, delivered, abandoned
	sent  chan struct{}
	reply chan result
}

const (
	pending = iota
	sending
	sent
	delivered
	abandoned
)

// begin marks the call as being sent; false if the caller gave up.
func (c *call) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == abandoned {
		return false
	}
	c.state = sending
	return true
}

// arrived marks the arguments as handed over: the caller may now close them.
func (c *call) arrived() {
	c.mu.Lock()
	if c.state == sending {
		c.state = sent
	}
	c.mu.Unlock()
	close(c.sent)
}

// deliver hands r to the caller, or frees it if the caller gave up.
func (c *call) deliver(r result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == abandoned {
		free(r.value)
		return
	}
	c.state = delivered
	c.reply <- r
}

// abandon is the caller giving up. It waits while the arguments are being
// sent (microseconds: the worker is idle and reading), so the caller may
// close them once Call returns. If the result is already there, it returns
// it instead.
func (c *call) abandon() (result, bool) {
	c.mu.Lock()
	if c.state == sending {
		c.mu.Unlock()
		<-c.sent
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if c.state == delivered {
		return <-c.reply, true
	}
	c.state = abandoned
	return result{}, false
}

// free closes the arrays in a result nobody will see.
func free(v any) {
	switch x := v.(type) {
	case *bridge.Array:
		x.Close()
	case []any:
		for _, e := range x {
			free(e)
		}
	case map[string]any:
		for _, e := range x {
			free(e)
		}
	}
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
