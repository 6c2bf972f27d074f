package pycall

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npshm/npshm/bridge"
)

// NewPending is a call of req, not yet begun.
func NewPending(req *Request) *Pending {
	return &Pending{Req: req, sent: make(chan struct{}), reply: make(chan Result, 1)}
}

// Reply is where the result arrives.
func (c *Pending) Reply() <-chan Result { return c.reply }

// Result is what a call returns.
type Result struct {
	Value any
	Err   error
}

// Pending is one call on its way to Python and back. Its state decides
// who frees a result when the caller gave up: the caller, or Deliver.
type Pending struct {
	Req   *Request
	mu    sync.Mutex
	state int // pending, sending, sent, delivered, abandoned
	sent  chan struct{}
	reply chan Result

	arrived bool // sent is closed
}

const (
	pending = iota
	sending
	sent
	delivered
	abandoned
)

// Begin marks the call as being sent; false if the caller gave up.
func (c *Pending) Begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == abandoned {
		return false
	}
	c.state = sending
	return true
}

// Arrived marks the arguments as handed over (or given up on): the caller
// may now close them. Calling it again does nothing.
func (c *Pending) Arrived() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arrived {
		return
	}
	c.arrived = true
	if c.state == sending {
		c.state = sent
	}
	close(c.sent)
}

// Deliver hands r to the caller, or frees it if the caller gave up. It
// marks the arguments handed over, if that was not done.
func (c *Pending) Deliver(r Result) {
	c.Arrived()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == abandoned {
		Free(r.Value)
		return
	}
	c.state = delivered
	c.reply <- r
}

// Abandon is the caller giving up. It waits while the arguments are being
// sent (microseconds: the Python side is reading), so the caller may
// close them once Call returns. If the result is already there, it returns
// it instead.
func (c *Pending) Abandon() (Result, bool) {
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
	return Result{}, false
}

// Free closes the arrays in a result nobody will see.
func Free(v any) {
	switch x := v.(type) {
	case *bridge.Array:
		x.Close()
	case []any:
		for _, e := range x {
			Free(e)
		}
	case map[string]any:
		for _, e := range x {
			Free(e)
		}
	}
}

// Wait returns the result, or ctx's error at once when ctx is done first
// (then Deliver frees the result when it comes).
func (c *Pending) Wait(ctx context.Context) (any, error) {
	select {
	case r := <-c.reply:
		return r.Value, r.Err
	case <-ctx.Done():
		if r, ok := c.Abandon(); ok {
			return r.Value, r.Err
		}
		return nil, ctx.Err()
	}
}

// Spinner decides whether a wait polls before it blocks. Polling saves the
// two OS thread wake-ups of a hand-off (tens of microseconds on a VM) when
// the other side answers within the window, and wastes a core when it does
// not, or when the cores are oversubscribed (the poller then takes the
// other side's time). So at most one waiter polls at a time, and after a
// poll that ran out the next 32 waits block at once.
type Spinner struct {
	busy atomic.Bool
	skip atomic.Int32
}

// Window is how long a wait polls.
const Window = 50 * time.Microsecond

func (s *Spinner) begin() bool {
	if s.skip.Load() > 0 {
		s.skip.Add(-1)
		return false
	}
	return s.busy.CompareAndSwap(false, true)
}

func (s *Spinner) end(ok bool) {
	if !ok {
		s.skip.Store(32)
	}
	s.busy.Store(false)
}

// WaitSpinning is Wait that may poll first (see Spinner).
func (c *Pending) WaitSpinning(ctx context.Context, s *Spinner) (any, error) {
	if s.begin() {
		r, ok := spin(c.reply, Window)
		s.end(ok)
		if ok {
			return r.Value, r.Err
		}
	}
	return c.Wait(ctx)
}

// Spin receives from ch, maybe polling first (see Spinner).
func Spin[T any](ch chan T, s *Spinner) T {
	if s.begin() {
		v, ok := spin(ch, Window)
		s.end(ok)
		if ok {
			return v
		}
	}
	return <-ch
}

func spin[T any](ch chan T, d time.Duration) (T, bool) {
	var deadline time.Time
	for i := 0; ; i++ {
		select {
		case v := <-ch:
			return v, true
		default:
		}
		if i%64 == 0 {
			now := time.Now()
			if i == 0 {
				deadline = now.Add(d)
			} else if now.After(deadline) {
				var zero T
				return zero, false
			}
		}
	}
}
