package bridge

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// inChunks runs fn on [lo, hi) chunks of [0, n) on every core, handing out
// chunks in order, and returns the first error (the others stop soon after).
func inChunks(n, chunk int64, fn func(lo, hi int64) error) error {
	if n <= 0 {
		return nil
	}
	workers := min(int64(runtime.GOMAXPROCS(0)), (n+chunk-1)/chunk)
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
