package bridge_test

import (
	"fmt"
	"os"
	"path/filepath"
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

// BenchmarkProduce: a Go producer has a []float64 and makes it an array in
// shared memory. fresh: CreateArray + copy (page allocation included);
// pool: the same with a Pool's warm segment; memcpy: copying into an
// already-faulted Go slice, the memory-speed ceiling.
func BenchmarkProduce(b *testing.B) {
	for _, size := range benchSizes {
		src := make([]float64, size/8)
		for i := range src {
			src[i] = float64(i)
		}
		h := npy.Header{DType: npy.Float64, Shape: []int{size / 8}}
		b.Run("fresh/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				a, err := bridge.CreateArray("", h)
				if err != nil {
					b.Fatal(err)
				}
				v, _ := bridge.View[float64](a)
				copy(v, src)
				b.StopTimer()
				a.Unlink()
				a.Close()
				b.StartTimer()
			}
		})
		b.Run("pool/"+sizeName(size), func(b *testing.B) {
			p := bridge.NewPool(1)
			defer p.Close()
			a, _ := p.CreateArray(h)
			p.Put(a)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, err := p.CreateArray(h)
				if err != nil {
					b.Fatal(err)
				}
				v, _ := bridge.View[float64](a)
				copy(v, src)
				p.Put(a)
			}
		})
		b.Run("memcpy/"+sizeName(size), func(b *testing.B) {
			dst := make([]float64, len(src))
			copy(dst, src)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(dst, src)
			}
		})
	}
}

// BenchmarkPut: a .npy file (in the page cache) into a new segment.
func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "a.npy")
			hdr, _ := npy.Header{DType: npy.Uint8, Shape: []int{size}}.Encode()
			if err := os.WriteFile(path, append(hdr, make([]byte, size)...), 0o600); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f, _ := os.Open(path)
				a, err := bridge.Put("", f)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				a.Unlink()
				a.Close()
				b.StartTimer()
			}
		})
	}
}
