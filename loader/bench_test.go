package loader

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// genomicFile writes rows like the seed's files: chr pos pct c t.
func genomicFile(b *testing.B, rows int) (string, int64) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	chrs := []string{"chr1", "chr2", "chrX", "chr17_random"}
	buf := make([]byte, 0, rows*40)
	for i := 0; i < rows; i++ {
		buf = append(buf, chrs[r.IntN(len(chrs))]...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(r.IntN(250_000_000)), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendFloat(buf, r.Float64()*100, 'f', 4, 64)
		buf = fmt.Appendf(buf, " %d %d\n", r.IntN(500), r.IntN(500))
	}
	path := filepath.Join(b.TempDir(), "g.txt")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(len(buf))
}

// BenchmarkLoad: text (in the page cache) -> seed records in shared memory.
// Compare with np.loadtxt at about 80-126 MB/s on this kind of machine
// (scripts/bench has them side by side).
func BenchmarkLoad(b *testing.B) {
	path, size := genomicFile(b, 2_000_000)
	dt, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		arrays, err := Load([]string{path}, Options{DType: dt, Comments: "#"})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		arrays[0].Unlink()
		arrays[0].Close()
		b.StartTimer()
	}
}

// BenchmarkChunkRows: pass 2 alone, one core, in-memory text into a
// pre-faulted buffer: the parser's own speed, without I/O or page allocation.
func BenchmarkChunkRows(b *testing.B) {
	path, size := genomicFile(b, 500_000)
	data, _ := os.ReadFile(path)
	dt, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	cols, _, _ := columns(dt, nil)
	dst := make([]byte, 500_000*dt.Size)
	c := &chunk{in: &input{path: path}, data: data}
	s := splitter{comments: []byte("#")}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := chunkRows(c, dst, dt.Size, cols, true, 5, Options{DType: dt, Comments: "#"}, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadFiles loads the files named in $NPSHM_BENCH_FILES (separated
// by spaces) as the seed's rows, for profiles on real inputs:
//
//	NPSHM_BENCH_FILES="a.txt b.txt" go test ./loader -run - -bench LoadFiles -cpuprofile cpu.out
func BenchmarkLoadFiles(b *testing.B) {
	paths := strings.Fields(os.Getenv("NPSHM_BENCH_FILES"))
	if len(paths) == 0 {
		b.Skip("NPSHM_BENCH_FILES is not set")
	}
	dt, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	var size int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		size += st.Size()
	}
	b.SetBytes(size)
	for b.Loop() {
		arrays, err := Load(paths, Options{DType: dt, Comments: "#"})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, a := range arrays {
			a.Unlink()
			a.Close()
		}
		b.StartTimer()
	}
}
