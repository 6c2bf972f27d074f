//go:build pyembed

package pyembed

import (
	"context"
	"fmt"
	"testing"

	"github.com/npshm/npshm/npy"
)

// BenchmarkCall is the cost of calling a Python function that does nothing.
func BenchmarkCall(b *testing.B) {
	py := start(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := py.Call(ctx, "calltest.nothing"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallArray hands an array to a function that reads only its
// size: the cost must not grow with the array.
func BenchmarkCallArray(b *testing.B) {
	py := start(b)
	ctx := context.Background()
	for _, size := range []int{1 << 10, 1 << 20, 1 << 30} {
		b.Run(sizeName(size), func(b *testing.B) {
			a := newArray(b, "", npy.Uint8, size)
			for b.Loop() {
				if _, err := py.Call(ctx, "calltest.nbytes", a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
