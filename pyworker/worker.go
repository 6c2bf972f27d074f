package pyworker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/pycall"
)

// frame is the most JSON one socket message carries; longer messages go in
// several, each marked 'M' (more) but the last, 'E'.
const frame = 32 << 10

// worker is one Python process and the goroutine (serve) that feeds it one
// call at a time.
type worker struct {
	pool *Pool
	id   int

	mu   sync.Mutex // guards proc for kill and pid; serve alone replaces it
	proc *process
}

type process struct {
	cmd     *exec.Cmd
	conn    *net.UnixConn
	stderr  *tail
	exited  chan struct{}
	waitErr error
}

// start starts the worker's process and waits for its ready message.
func (w *worker) start() error {
	opts := w.pool.opts
	conn, theirs, err := pycall.SocketPair()
	if err != nil {
		return fmt.Errorf("pyworker: start worker %d: %w", w.id, err)
	}
	cmd := exec.Command(opts.Python, "-m", "npshm._worker", "3")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Env = workerEnv(opts.Path)
	t := &tail{w: opts.Stderr}
	cmd.Stdout, cmd.Stderr = t, t
	cmd.SysProcAttr = pycall.ProcAttr()
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		conn.Close()
		return fmt.Errorf("pyworker: start worker %d: %w", w.id, err)
	}
	p := &process{cmd: cmd, conn: conn, stderr: t, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	conn.SetReadDeadline(time.Now().Add(opts.StartTimeout))
	ready, err := readFrame(conn)
	conn.SetReadDeadline(time.Time{})
	if err == nil {
		var m struct{ Ready int }
		if json.Unmarshal(ready, &m) != nil || m.Ready != cmd.Process.Pid {
			err = fmt.Errorf("%w: ready message %q", pycall.ErrProtocol, ready)
		}
	}
	if err != nil {
		p.kill()
		return fmt.Errorf("pyworker: start worker %d (%s -m npshm._worker): %s", w.id, opts.Python, p.why(err))
	}
	w.mu.Lock()
	w.proc = p
	w.mu.Unlock()
	return nil
}

func workerEnv(path []string) []string {
	env := os.Environ()
	pp := strings.Join(path, string(os.PathListSeparator))
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pp = strings.Join([]string{pp, old}, string(os.PathListSeparator))
	}
	if pp != "" {
		env = append(env, "PYTHONPATH="+strings.Trim(pp, string(os.PathListSeparator)))
	}
	// PYTHONPATH finds npshm._worker; the worker then puts Path first of all.
	return append(env, "PYTHONUNBUFFERED=1", "NPSHM_WORKER_PATH="+strings.Join(path, string(os.PathListSeparator)))
}

// serve runs calls from the pool's queue until the pool closes, restarting
// the process when it dies.
func (w *worker) serve() {
	defer w.pool.wg.Done()
	for {
		var c *pycall.Pending
		select {
		case c = <-w.pool.queue:
		case <-w.pool.done:
			w.stop(5 * time.Second)
			return
		}
		if !c.Begin() {
			continue
		}
		w.mu.Lock()
		p := w.proc
		w.mu.Unlock()
		if p == nil {
			if err := w.start(); err != nil {
				c.Arrived()
				c.Deliver(pycall.Result{Err: fmt.Errorf("pyworker: call %s: %w", c.Req.Func, err)})
				continue
			}
			w.mu.Lock()
			p = w.proc
			w.mu.Unlock()
		}
		v, err := p.safeCall(c)
		if broken(err) {
			// The connection is out of step or gone: the process is dead or
			// must be. Say why, and start a fresh one.
			p.kill()
			w.mu.Lock()
			w.proc = nil
			w.mu.Unlock()
			select {
			case <-w.pool.done:
				err = fmt.Errorf("pyworker: call %s: pool closed during the call: %w", c.Req.Func, os.ErrClosed)
			default:
				err = fmt.Errorf("pyworker: call %s: %w (worker %d, pid %d): %s",
					c.Req.Func, ErrWorkerDied, w.id, p.cmd.Process.Pid, p.why(err))
				w.start() // on failure the next call tries again and reports why
			}
		}
		c.Deliver(pycall.Result{Value: v, Err: err})
	}
}

// inStep marks an error after which the connection is still in step.
type inStep struct{ error }

func (e inStep) Unwrap() error { return e.error }

// broken reports whether err leaves the worker's connection out of step:
// anything but a Python exception or an inStep error.
func broken(err error) bool {
	var pe *Error
	var ok inStep
	return err != nil && !errors.As(err, &pe) && !errors.As(err, &ok)
}

// safeCall is call with a Go panic (a bug here) turned into an error, after
// which the worker is restarted like one that died.
func (p *process) safeCall(c *pycall.Pending) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	return p.call(c)
}

// call sends one request and reads its reply. An error that is neither an
// *Error nor inStep leaves the connection unusable.
func (p *process) call(c *pycall.Pending) (any, error) {
	err := writeFrame(p.conn, c.Req.JSON)
	var sendErr error
	if err == nil {
		sendErr, err = c.Req.SendArrays(p.conn)
	}
	c.Arrived()
	if err != nil {
		return nil, err
	}
	reply, err := readFrame(p.conn)
	if err != nil {
		return nil, err
	}
	if sendErr != nil { // the worker replied with an error and stays in step
		return nil, inStep{fmt.Errorf("pyworker: %w", sendErr)}
	}
	writable, err := pycall.ReplyArrays(reply)
	if err != nil {
		return nil, err
	}
	arrays := make([]*bridge.Array, 0, len(writable))
	for _, rw := range writable {
		mode := bridge.ReadOnly
		if rw {
			mode = bridge.ReadWrite
		}
		a, err := bridge.Receive(p.conn, mode)
		if err != nil {
			for _, a := range arrays {
				a.Close()
			}
			return nil, err
		}
		arrays = append(arrays, a)
	}
	return pycall.DecodeReply(c.Req.Func, reply, arrays)
}

// why describes a process that failed: its exit status (waiting briefly
// for it) and the last line it wrote, else err.
func (p *process) why(err error) string {
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
	}
	var parts []string
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		parts = append(parts, err.Error()) // not just the worker going away
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			parts = append(parts, p.waitErr.Error())
		} else {
			parts = append(parts, "exited")
		}
	default:
		if len(parts) == 0 {
			parts = append(parts, err.Error())
		}
	}
	if last := p.stderr.last(); last != "" {
		parts = append(parts, last)
	}
	return strings.Join(parts, ": ")
}

// kill ends the process and waits for it.
func (p *process) kill() {
	p.conn.Close()
	p.cmd.Process.Kill()
	<-p.exited
}

// stop closes the worker's socket, so the process reads EOF and exits,
// and kills it if it has not after grace.
func (w *worker) stop(grace time.Duration) {
	w.mu.Lock()
	p := w.proc
	w.proc = nil
	w.mu.Unlock()
	if p == nil {
		return
	}
	p.conn.CloseWrite()
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	p.kill()
}

// kill kills the worker's process now (Close after its grace).
func (w *worker) kill() {
	w.mu.Lock()
	p := w.proc
	w.mu.Unlock()
	if p != nil {
		p.cmd.Process.Kill()
	}
}

func (w *worker) pid() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.proc == nil {
		return 0
	}
	return w.proc.cmd.Process.Pid
}

func writeFrame(conn *net.UnixConn, b []byte) error {
	msg := make([]byte, 0, min(len(b), frame)+1)
	for lo := 0; ; lo += frame {
		hi := min(lo+frame, len(b))
		mark := byte('E')
		if hi < len(b) {
			mark = 'M'
		}
		msg = append(append(msg[:0], mark), b[lo:hi]...)
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		if mark == 'E' {
			return nil
		}
	}
}

func readFrame(conn *net.UnixConn) ([]byte, error) {
	var out []byte
	buf := make([]byte, frame+1)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errors.New("socket closed")
		}
		out = append(out, buf[1:n]...)
		switch buf[0] {
		case 'E':
			return out, nil
		case 'M':
		default:
			return nil, fmt.Errorf("%w: bad frame mark %q", pycall.ErrProtocol, buf[0])
		}
	}
}

// tail passes a worker's output on and keeps its last 4 KiB.
type tail struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 4096 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4096:]...)
	}
	t.mu.Unlock()
	return t.w.Write(b)
}

// last is the last non-empty line written.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.buf), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
