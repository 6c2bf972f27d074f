package loader

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkTmpFiles(b *testing.B) {
	paths, _ := filepath.Glob("/tmp/tx/f*.txt")
	dt, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	for i := 0; i < b.N; i++ {
		arrays, err := Load(paths, Options{DType: dt, Comments: "#"})
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range arrays {
			a.Unlink()
			a.Close()
		}
	}
}

func BenchmarkTmpChunkReal(b *testing.B) {
	data, _ := os.ReadFile("/tmp/tx/f0.txt")
	data = data[:16<<20]
	data = data[:len(data)-len(data[bytesLastNL(data)+1:])]
	dt, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	cols, _, _ := columns(dt, nil)
	rows, _, _ := countRows(data, splitter{}, true)
	dst := make([]byte, rows*dt.Size)
	c := &chunk{in: &input{path: "x", data: data}, data: data}
	s := splitter{comments: []byte("#")}
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := parseChunk(c, dst, dt.Size, cols, true, 5, Options{DType: dt, Comments: "#"}, s); err != nil {
			b.Fatal(err)
		}
	}
}

func bytesLastNL(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}
