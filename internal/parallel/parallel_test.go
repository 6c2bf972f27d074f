package parallel

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestChunksCoversEveryIndexOnce(t *testing.T) {
	for _, tt := range []struct{ n, chunk int64 }{{0, 4}, {1, 4}, {10, 3}, {1000, 7}, {64, 64}, {65, 64}} {
		seen := make([]atomic.Int32, tt.n)
		if err := Chunks(tt.n, tt.chunk, func(lo, hi int64) error {
			if hi-lo > tt.chunk || lo >= hi {
				t.Errorf("Chunks(%d, %d): chunk [%d, %d)", tt.n, tt.chunk, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
			return nil
		}); err != nil {
			t.Fatalf("Chunks(%d, %d): %v", tt.n, tt.chunk, err)
		}
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("Chunks(%d, %d): index %d ran %d times", tt.n, tt.chunk, i, c)
			}
		}
	}
}

func TestChunksReturnsAnError(t *testing.T) {
	bad := errors.New("bad chunk")
	err := Chunks(100, 10, func(lo, hi int64) error {
		if lo == 50 {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) {
		t.Fatalf("Chunks = %v, want %v", err, bad)
	}
}

func TestRunRunsEachWorkerOnce(t *testing.T) {
	var ran [5]atomic.Int32
	Run(len(ran), func(w int) { ran[w].Add(1) })
	for w := range ran {
		if c := ran[w].Load(); c != 1 {
			t.Fatalf("Run: worker %d ran %d times", w, c)
		}
	}
}
