package loader

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/parallel"
	"github.com/npshm/npshm/internal/shmtest"
)

// loadAll loads paths and returns each array's shape and bytes (and
// removes the arrays).
func loadAll(t *testing.T, paths []string, o Options) ([]string, error) {
	t.Helper()
	arrays, err := Load(paths, o)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range arrays {
		out = append(out, fmt.Sprintf("%v %x", a.Header().Shape, a.Data()))
		a.Unlink()
		a.Close()
	}
	return out, nil
}

func writeFiles(t *testing.T, texts ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, s := range texts {
		p := filepath.Join(dir, fmt.Sprintf("f%d.txt", i))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestChunkBoundaries: with chunks of a few bytes (a boundary inside every
// line, between '\r' and '\n', inside a skipped header, a line longer than
// a chunk) the arrays, and the errors' lines, are those of one big chunk.
func TestChunkBoundaries(t *testing.T) {
	seed, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	f8, _ := ParseSpec("f8")
	s3, _ := ParseSpec("S3")
	var long strings.Builder
	for i := range 300 {
		fmt.Fprintf(&long, "chr%d %d %d.25 %d %d\r\n", i%23, i*1000, i, i%7, i%5)
		if i%37 == 0 {
			long.WriteString("# a comment\r\r\n   \n")
		}
	}
	tests := []struct {
		name  string
		texts []string
		o     Options
	}{
		{"records, CRLF and CR, comments, blank lines", []string{long.String()}, Options{DType: seed, Comments: "#"}},
		{"records, concatenated, skip header", []string{"h\rh\n" + long.String(), "h\r\nh\rchr1 1 2 3 4", "h\nh\n"},
			Options{DType: seed, Comments: "#", Concat: true, SkipHeader: 2}},
		{"plain, first chunks without data", []string{"# c\n\n# c\r\n" + strings.Repeat("1.5 2 -3e2\r", 200) + "4 5 6"},
			Options{DType: f8, Comments: "#"}},
		{"plain, one file each", []string{"1 2\n3 4\n", "\n", "5\n", "6 7 8\r9 10 11\r"}, Options{DType: f8, Comments: "#"}},
		{"delimiter, lines of spaces are rows", []string{strings.Repeat("ab\n # x\n   \n\n#c\r\n", 50)},
			Options{DType: s3, Comments: "#", Delimiter: ";"}},
		{"unicode whitespace", []string{strings.Repeat("1\u00a02\u3000 3\u2028\r\n\u00a0\n", 100)}, Options{DType: f8}},
		{"general path (usecols, two-byte comments)", []string{strings.Repeat("1 2 3 // x\r\n// y\r4 5 6\n", 80)},
			Options{DType: f8, Comments: "//", UseCols: []int{2, 0}}},
	}
	defer func(n int) { chunkSize = n }(chunkSize)
	for _, goOnly := range []bool{false, true} {
		if !goOnly && nativeKernel == nil {
			continue
		}
		goKernelOnly = goOnly
		for _, tt := range tests {
			paths := writeFiles(t, tt.texts...)
			chunkSize = 8 << 20
			want, err := loadAll(t, paths, tt.o)
			if err != nil {
				t.Fatalf("%s: Load: %v", tt.name, err)
			}
			for _, size := range []int{1, 2, 3, 7, 16, 61, 4096} {
				chunkSize = size
				got, err := loadAll(t, paths, tt.o)
				if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s, go kernel only %v, chunks of %d bytes: %v\n%.300s\nwant\n%.300s", tt.name, goOnly, size, err, got, want)
				}
			}
		}
	}
	goKernelOnly = false

	// An error names the same line whatever the chunks.
	bad := writeFiles(t, strings.Repeat("1 2\r\n# c\r", 40)+"3 x\n")
	for _, size := range []int{1, 5, 4096, 8 << 20} {
		chunkSize = size
		_, err := Load(bad, Options{DType: f8, Comments: "#"})
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 81 {
			t.Fatalf("chunks of %d bytes: %v, want a *ParseError at line 81", size, err)
		}
	}
}

// TestLineTooLong: a line up to MaxLineBytes loads; one byte more is an
// error naming file:line, whatever the chunk size.
func TestLineTooLong(t *testing.T) {
	s, _ := ParseSpec("S200")
	defer func(n int) { chunkSize = n }(chunkSize)
	for _, size := range []int{3, 64, 8 << 20} {
		chunkSize = size
		for _, n := range []int{100, 101} {
			paths := writeFiles(t, "a\r\nb\n"+strings.Repeat("x", n)+"\nc\n")
			_, err := loadAll(t, paths, Options{DType: s, MaxLineBytes: 100})
			var pe *ParseError
			switch {
			case n == 100 && err != nil:
				t.Errorf("chunks of %d: a line of 100 bytes, the limit: %v", size, err)
			case n == 101 && (!errors.Is(err, ErrLineTooLong) || !errors.As(err, &pe) || pe.Line != 3 || pe.File != paths[0]):
				t.Errorf("chunks of %d: a line of 101 bytes, the limit 100: %v; want ErrLineTooLong at %s:3", size, err, paths[0])
			}
		}
	}
}

// TestInputChanged: a file truncated, shrunk, grown or rewritten while it
// is loaded is an error wrapping ErrInputChanged that names it, and no
// array is left behind. (Mapped, a truncated file was a SIGBUS.)
func TestInputChanged(t *testing.T) {
	f8, _ := ParseSpec("f8")
	text := strings.Repeat("1.5 2.5 3.5\n", 100_000)
	defer func(n int) { chunkSize = n }(chunkSize)
	chunkSize = 64 << 10
	for _, change := range []struct {
		name string
		do   func(path string) error
	}{
		{"truncated", func(p string) error { return os.Truncate(p, 0) }},
		{"shrunk", func(p string) error { return os.Truncate(p, int64(len(text)/2)) }},
		{"grown", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString("4 5 6\n")
				f.Close()
			}
			return err
		}},
		{"rewritten (same size, new mtime)", func(p string) error {
			return os.Chtimes(p, time.Now(), time.Now().Add(-time.Hour))
		}},
	} {
		t.Run(change.name, func(t *testing.T) {
			before := shmtest.Ours()
			paths := writeFiles(t, text)
			reads := 0
			afterChunkRead = func(path string) {
				if reads++; reads == 2 {
					if err := change.do(path); err != nil {
						t.Error(err)
					}
				}
			}
			defer func() { afterChunkRead = nil }()
			_, err := Load(paths, Options{DType: f8})
			if !errors.Is(err, ErrInputChanged) || !strings.Contains(err.Error(), paths[0]) {
				t.Fatalf("Load: %v, want ErrInputChanged naming %s", err, paths[0])
			}
			if after := shmtest.Ours(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("a failed load left segments: %v", after)
			}
		})
	}
}

// TestSetShapeGrowth: the array made at the second row and grown chunk by
// chunk equals, byte for byte, an array made at its final size.
func TestSetShapeGrowth(t *testing.T) {
	seed, _ := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	var text bytes.Buffer
	for i := range 20_000 {
		fmt.Fprintf(&text, "chr%d %d %d.5 %d %d\n", i%9, i, i, i%3, i%4)
	}
	defer func(n int) { chunkSize = n }(chunkSize)
	chunkSize = 4096
	arrays, err := Load(writeFiles(t, text.String()), Options{DType: seed})
	if err != nil {
		t.Fatal(err)
	}
	a := arrays[0]
	defer func() { a.Unlink(); a.Close() }()
	want, err := bridge.CreateArray("", a.Header())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { want.Unlink(); want.Close() }()
	copy(want.Data(), a.Data())
	if !bytes.Equal(a.Image(), want.Image()) || a.Shape()[0] != 20_000 {
		t.Fatalf("the grown array (shape %v) differs from one made at its size", a.Shape())
	}
}

// TestSmallLoadSplits: a load much smaller than chunkSize is still cut into
// several chunks per parser (so that every core has work soon and they end
// together), none smaller than minChunk, and loads the same.
func TestSmallLoadSplits(t *testing.T) {
	f8, _ := ParseSpec("f8")
	var text bytes.Buffer
	for i := 0; text.Len() < 8*minChunk*parallel.Workers(); i++ {
		fmt.Fprintf(&text, "%d %d.25\n", i, i)
	}
	paths := writeFiles(t, text.String())
	reads := 0
	afterChunkRead = func(string) { reads++ }
	defer func() { afterChunkRead = nil }()
	got, err := loadAll(t, paths, Options{DType: f8})
	if err != nil {
		t.Fatal(err)
	}
	afterChunkRead = nil
	if lo, hi := 2*parallel.Workers(), text.Len()/minChunk+1; reads < lo || reads > hi {
		t.Errorf("a %d-byte load was read in %d chunks, want %d to %d", text.Len(), reads, lo, hi)
	}
	defer func(n int) { chunkSize = n }(chunkSize)
	chunkSize = 1 << 30 // and one chunk would give the same array
	if one, err := loadAll(t, paths, Options{DType: f8}); err != nil || fmt.Sprint(one) != fmt.Sprint(got) {
		t.Errorf("split load differs from one read at once (%v)", err)
	}
}
