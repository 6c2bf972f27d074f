package bridge_test

import (
	"fmt"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/npy"
)

var benchSizes = []int{1 << 20, 64 << 20, 1 << 30}

func sizeName(n int) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%dGiB", n>>30)
	}
	return fmt.Sprintf("%dMiB", n>>20)
}

// BenchmarkAttach: OpenArray + Close of an existing segment, read-only.
// The goal is a flat cost, independent of the array's size.
func BenchmarkAttach(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			a, err := bridge.CreateArray(shmtest.Name(b), npy.Header{DType: npy.Float64, Shape: []int{size / 8}})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Unlink()
			defer a.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := bridge.OpenArray(a.Name(), bridge.ReadOnly)
				if err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
