// Package parallel runs work on every core: the one helper bridge (filling
// and populating segments) and loader (its parsers) share.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is how many goroutines keep every core busy: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Run runs fn on n goroutines, fn(0) to fn(n-1), and waits for them all.
func Run(n int, fn func(w int)) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w)
		}()
	}
	wg.Wait()
}

// Chunks runs fn on [lo, hi) chunks of [0, n) on every core, handing out
// chunks in order, and returns the first error (the others stop soon after).
func Chunks(n, chunk int64, fn func(lo, hi int64) error) error {
	if n <= 0 {
		return nil
	}
	workers := int(min(int64(Workers()), (n+chunk-1)/chunk))
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)
	Run(workers, func(w int) {
		for !failed.Load() {
			lo := next.Add(chunk) - chunk
			if lo >= n {
				return
			}
			if err := fn(lo, min(lo+chunk, n)); err != nil {
				errs[w] = err
				failed.Store(true)
				return
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
