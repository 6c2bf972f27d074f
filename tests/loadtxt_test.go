package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/npshm/npshm/bridge"
	"github.com/npshm/npshm/internal/shmtest"
	"github.com/npshm/npshm/loader"
	"github.com/npshm/npshm/npy"
)

const seedSpec = "[('chr','S10'),('pos','<i4'),('pct','<f4'),('c','<i4'),('t','<i4')]"

// seedJSON is seedSpec as numpy's loadtxt takes it through JSON.
var seedJSON = [][2]string{{"chr", "S10"}, {"pos", "<i4"}, {"pct", "<f4"}, {"c", "<i4"}, {"t", "<i4"}}

type loadCase struct {
	name   string
	files  []string // contents; a name ending .gz is written gzipped
	spec   string
	opts   loader.Options
	kwargs map[string]any // np.loadtxt's arguments
}

func genomic(r *rand.Rand, rows int) string {
	var b strings.Builder
	chrs := []string{"chr1", "chr2", "chrX", "chrY", "chrM", "chr22_KI270731v1_random"}
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "%s\t%d\t%s\t%d\t%d\n", chrs[r.IntN(len(chrs))], r.IntN(250_000_000),
			strconv.FormatFloat(r.Float64()*100, 'f', r.IntN(8), 64), r.IntN(1000), r.IntN(1000))
	}
	return b.String()
}

func floats(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		x := r.NormFloat64() * math.Pow(10, float64(r.IntN(80)-40))
		switch i % 6 {
		case 0:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		case 1:
			b.WriteString(strconv.FormatFloat(x, 'e', r.IntN(20), 64))
		case 2:
			b.WriteString(strconv.FormatFloat(x, 'f', r.IntN(30), 64))
		case 3:
			fmt.Fprintf(&b, "%d.%d", r.IntN(1<<62), r.Uint64()) // ~40 significant digits
		case 4:
			b.WriteString([]string{"inf", "-inf", "nan", "-nan", "NaN", "Infinity", "1e400", "-1e-400", "0", "-0.0"}[r.IntN(10)])
		default:
			fmt.Fprintf(&b, "%de%d", r.IntN(1000), r.IntN(700)-350)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func loadCases() []loadCase {
	r := rand.New(rand.NewPCG(7, 11))
	seed, _ := loader.ParseSpec(seedSpec)
	ws := loader.Options{DType: seed, Comments: "#"}
	kw := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	plain := func(t string) loader.Options {
		dt, _ := loader.ParseSpec(t)
		return loader.Options{DType: dt, Comments: "#"}
	}
	with := func(o loader.Options, f func(*loader.Options)) loader.Options { f(&o); return o }
	return []loadCase{
		{"seed rows, comments, blank lines, CRLF, no final newline", []string{
			"# chr pos pct c t\n" + genomic(r, 50) + "\n   \nchr3 5 0.5 1 2 # trailing comment\r\nchr4 6 1e-3 3 4"},
			seedSpec, ws, kw("dtype", seedJSON)},
		{"blank and whitespace-only lines inside a multi-chunk file (row count guessed, then counted)", []string{
			genomic(r, 150_000) + "\n \t\n\r\n" + genomic(r, 150_000) + "\n\n"}, seedSpec, ws, kw("dtype", seedJSON)},
		{"comment lines inside a multi-chunk file (row count guessed, then counted)", []string{
			genomic(r, 150_000) + "# a comment line\n" + genomic(r, 150_000) + "chr1 5 0.5 1 2 # not a line of its own\n"}, seedSpec, ws, kw("dtype", seedJSON)},
		{"numbers at the fast paths' edges", []string{
			"007 -0 123456789012345 1234567890123456 -999999999999999999 5. .5 12345678.5\n" +
				"+1 00000000000000001 -1234567 99999999 -99999999 1.12345678 +1.5 1.5e3\n" +
				"0 1 -12345678 -123456789 10000000 -0. 0.30000001 16777217\n" +
				"1 2 3 4 5 -.5 0.1 10000000.0000001\n"},
			"a:i8,b:i8,c:i8,d:i8,e:i8,f:f8,g:f4,h:f8", loader.Options{DType: mustSpec("a:i8,b:i8,c:i8,d:i8,e:i8,f:f8,g:f4,h:f8")},
			kw("dtype", [][2]string{{"a", "i8"}, {"b", "i8"}, {"c", "i8"}, {"d", "i8"}, {"e", "i8"}, {"f", "f8"}, {"g", "f4"}, {"h", "f8"}})},
		{"comma delimiter, CRLF", []string{"1,2.5,ab\r\n-3,4e2,cdefg\r\n+5,.5,\r\n7, 8 ,x y\r\n"}, "a:i4,b:f8,c:S3",
			loader.Options{DType: mustSpec("a:i4,b:f8,c:S3"), Delimiter: ","},
			kw("dtype", [][2]string{{"a", "i4"}, {"b", "f8"}, {"c", "S3"}}, "delimiter", ",")},
		{"ints at their limits", []string{"-128 -32768 -2147483648 -9223372036854775808 0 0 0 0\n" +
			"127 32767 2147483647 9223372036854775807 255 65535 4294967295 18446744073709551615\n +7  -0 007 +1 1 2 3 4\n"},
			"a:i1,b:i2,c:i4,d:i8,e:u1,f:u2,g:u4,h:u8", with(ws, func(o *loader.Options) { o.DType, _ = loader.ParseSpec("a:i1,b:i2,c:i4,d:i8,e:u1,f:u2,g:u4,h:u8") }),
			kw("dtype", [][2]string{{"a", "i1"}, {"b", "i2"}, {"c", "i4"}, {"d", "i8"}, {"e", "u1"}, {"f", "u2"}, {"g", "u4"}, {"h", "u8"}})},
		{"bools", []string{"0\n1\n2\n-1\n 0 \n"}, "?", plain("?"), kw("dtype", "?")},
		{"float64, every form", []string{floats(r, 3000)}, "f8", plain("f8"), kw("dtype", "f8")},
		{"float32 rounding through double", []string{floats(r, 3000) + "0.1\n16777217\n3.4028235677973366e38\n3.4028235677973362e38\n1e-46\n"},
			"f4", plain("f4"), kw("dtype", "f4")},
		{"bytes and unicode, truncated", []string{"héllo wörld 名前\nab cd ef\nabcdefghijkl x y\n"},
			"a:S4,b:U3,c:U1", with(ws, func(o *loader.Options) { o.DType, _ = loader.ParseSpec("a:S4,b:U3,c:U1") }),
			kw("dtype", [][2]string{{"a", "S4"}, {"b", "U3"}, {"c", "U1"}})},
		{"comma delimiter, spaces kept in strings, empty string", []string{" a , b ,1, 2.5\nx,,3,4\n"},
			"a:S4,b:S4,c:i4,d:f8", with(ws, func(o *loader.Options) {
				o.DType, _ = loader.ParseSpec("a:S4,b:S4,c:i4,d:f8")
				o.Delimiter = ","
			}), kw("dtype", [][2]string{{"a", "S4"}, {"b", "S4"}, {"c", "i4"}, {"d", "f8"}}, "delimiter", ",")},
		{"usecols, negative and reordered", []string{"1 2 3 4\n5 6 7 8\n"}, "f8",
			with(plain("f8"), func(o *loader.Options) { o.UseCols = []int{-1, 0} }), kw("dtype", "f8", "usecols", []int{-1, 0})},
		{"usecols with a record", []string{genomic(r, 20)}, "pos:i4,chr:S10",
			with(ws, func(o *loader.Options) { o.DType, _ = loader.ParseSpec("pos:i4,chr:S10"); o.UseCols = []int{1, 0} }),
			kw("dtype", [][2]string{{"pos", "i4"}, {"chr", "S10"}}, "usecols", []int{1, 0})},
		{"skip header (comments count), // comments", []string{"header line\n// c\n1 2 // x\n3 4\n"}, "i4",
			with(plain("i4"), func(o *loader.Options) { o.SkipHeader = 1; o.Comments = "//" }),
			kw("dtype", "i4", "skiprows", 1, "comments", "//")},
		{"empty file, record", []string{""}, seedSpec, ws, kw("dtype", seedJSON)},
		{"only comments, plain", []string{"# nothing\n\n"}, "f8", plain("f8"), kw("dtype", "f8")},
		{"one record squeezes to 0-d", []string{"chr1 1 0.5 2 3\n"}, seedSpec, ws, kw("dtype", seedJSON)},
		{"one row, plain: 1-d", []string{"1 2 3\n"}, "i8", plain("i8"), kw("dtype", "i8")},
		{"one column, plain: 1-d", []string{"1\n2\n3\n"}, "i8", plain("i8"), kw("dtype", "i8")},
		{"1x1 squeezes to 0-d", []string{"42\n"}, "f8", plain("f8"), kw("dtype", "f8")},
		{"ndmin 2", []string{"1\n2\n3\n"}, "f8", with(plain("f8"), func(o *loader.Options) { o.NDMin = 2 }), kw("dtype", "f8", "ndmin", 2)},
		{"gzip input", []string{"x.gz", genomic(r, 500)}, seedSpec, ws, kw("dtype", seedJSON)},
		{"large file in parallel chunks", []string{genomic(r, 400_000)}, seedSpec, ws, kw("dtype", seedJSON)},
		{"three files concatenated", []string{genomic(r, 30), genomic(r, 1), "# only a comment\n" + genomic(r, 40)}, seedSpec,
			with(ws, func(o *loader.Options) { o.Concat = true }), kw("dtype", seedJSON)},

		// Python's text mode (universal newlines): "\r\n" and a lone '\r' end lines.
		{"CR-only line endings", []string{"1 2\r3 4\r"}, "f8", plain("f8"), kw("dtype", "f8")},
		{"mixed LF, CRLF and CR; CR before a comment; none at the end", []string{"1 2\r\n3 4\r5 6\n7 8 # c\r9 10"}, "f8", plain("f8"), kw("dtype", "f8")},
		{"CR-only and a delimiter", []string{"1;2\r3;4\r\r5;6"}, "f8", with(plain("f8"), func(o *loader.Options) { o.Delimiter = ";" }),
			kw("dtype", "f8", "delimiter", ";")},
		{"skip header over CR lines", []string{"h1\rh2\r\n1 2\r3 4\r"}, "i4", with(plain("i4"), func(o *loader.Options) { o.SkipHeader = 2 }),
			kw("dtype", "i4", "skiprows", 2)},
		{"CR-only line endings, multi-chunk", []string{strings.ReplaceAll(genomic(r, 300_000), "\n", "\r")}, seedSpec, ws, kw("dtype", seedJSON)},
		{"CRLF line endings, multi-chunk", []string{strings.ReplaceAll(genomic(r, 250_000), "\n", "\r\n")}, seedSpec, ws, kw("dtype", seedJSON)},

		// Under a delimiter only an empty line is skipped: one of spaces (a
		// comment's leftovers too) is a row of one field of spaces.
		{"delimiter: lines of spaces and ' # x' are rows", []string{"a\n # x\n   \n\n#c\nb\n"}, "S3",
			with(plain("S3"), func(o *loader.Options) { o.Delimiter = ";" }), kw("dtype", "S3", "delimiter", ";")},
		{"delimiter: lines of spaces are rows, unicode", []string{"a\n # x\n\t\nb"}, "U2",
			with(plain("U2"), func(o *loader.Options) { o.Delimiter = ";" }), kw("dtype", "U2", "delimiter", ";")},

		// Whitespace is str.isspace()'s, beyond ASCII too.
		{"unicode whitespace separates fields", []string{"1\u00a02 3\n\u30004\u20035 6\u2028\n\u00a0\n7\u00858\u200a9\n\x1c1\u202f2\u205f3\u1680\n"},
			"f8", plain("f8"), kw("dtype", "f8")},
		{"unicode whitespace between strings", []string{"ab\u00a0cd\u3000é\nx\u2029y z\n"}, "a:U3,b:U3,c:S2",
			with(ws, func(o *loader.Options) { o.DType = mustSpec("a:U3,b:U3,c:S2") }), kw("dtype", [][2]string{{"a", "U3"}, {"b", "U3"}, {"c", "S2"}})},
		{"unicode whitespace around numbers under a delimiter, kept in strings", []string{"1,\u00a02\u3000, \u00a0x\n-3\u2000,4, y\n"}, "a:i4,b:f8,c:U3",
			with(ws, func(o *loader.Options) { o.DType = mustSpec("a:i4,b:f8,c:U3"); o.Delimiter = "," }),
			kw("dtype", [][2]string{{"a", "i4"}, {"b", "f8"}, {"c", "U3"}}, "delimiter", ",")},

		// .gz inputs that hold nothing.
		{"empty .gz file (no bytes), plain", []string{"empty.gz", ""}, "f8", plain("f8"), kw("dtype", "f8")},
		{"empty .gz file (no bytes), record", []string{"empty.gz", ""}, seedSpec, ws, kw("dtype", seedJSON)},
		{".gz of no text", []string{"x.gz", ""}, "f8", plain("f8"), kw("dtype", "f8")},
		{"two .gz files concatenated", []string{"x.gz", "1 2\n", "x.gz", "3 4\n"}, "f8", with(plain("f8"), func(o *loader.Options) { o.Concat = true }), kw("dtype", "f8")},
	}
}

// writeInputs writes a case's files; an entry "x.gz" makes the next one
// gzipped, "empty.gz" makes it a .gz file of no bytes.
func writeInputs(t *testing.T, files []string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	gz := ""
	for i, content := range files {
		if content == "x.gz" || content == "empty.gz" {
			gz = content
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("in%d.txt", i))
		data := []byte(content)
		if gz != "" {
			p += ".gz"
			var b bytes.Buffer
			if gz == "x.gz" {
				w := gzip.NewWriter(&b)
				w.Write(data)
				w.Close()
			}
			data, gz = b.Bytes(), ""
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestLoadMatchesNumpy: for each case Go loads the files and a numpy
// process compares the array with np.loadtxt on the same text: dtype,
// shape and every byte.
func TestLoadMatchesNumpy(t *testing.T) {
	p := startPy(t, "loadtxt")
	for _, c := range loadCases() {
		paths := writeInputs(t, c.files)
		arrays, err := loader.Load(paths, c.opts)
		if err != nil {
			t.Errorf("%s: Load: %v", c.name, err)
			continue
		}
		if len(arrays) != 1 {
			t.Errorf("%s: %d arrays", c.name, len(arrays))
		}
		line, _ := json.Marshal(map[string]any{"case": c.name, "paths": paths, "kwargs": c.kwargs,
			"descriptor": json.RawMessage(arrays[0].Descriptor().String())})
		p.send(string(line))
		var v struct {
			Dtype, Bytes bool
			Shape        [2][]int
			FirstDiffs   [][2]string `json:"first_diffs"`
			SameAsNpSave bool        `json:"same_as_np_save"`
		}
		if err := json.Unmarshal([]byte(p.line()), &v); err != nil {
			t.Fatalf("%s: verdict: %v", c.name, err)
		}
		if !v.Dtype || !v.Bytes || fmt.Sprint(v.Shape[0]) != fmt.Sprint(v.Shape[1]) || !v.SameAsNpSave {
			t.Errorf("%s: dtype ok=%v, shape npshm %v numpy %v, bytes ok=%v, first differences (npshm, numpy) %v, segment = np.save's file: %v",
				c.name, v.Dtype, v.Shape[0], v.Shape[1], v.Bytes, v.FirstDiffs, v.SameAsNpSave)
		}
		for _, a := range arrays {
			a.Unlink()
			a.Close()
		}
	}
	p.wait()
}

// TestLoadErrors: malformed input names file:line and the text, and leaves
// no array behind.
func TestLoadErrors(t *testing.T) {
	seed, _ := loader.ParseSpec(seedSpec)
	good := genomic(rand.New(rand.NewPCG(1, 1)), 100)
	tests := []struct {
		name  string
		files []string
		opts  loader.Options
		line  int
		want  string
	}{
		{"bad int in the second file", []string{good, "chr1 1 0.5 2 3\nchr1 12x 0.5 2 3\n"}, loader.Options{DType: seed, Comments: "#"}, 2, `cannot convert "12x" to i4`},
		{"float in an int column", []string{"chr1 1.0 0.5 2 3\n"}, loader.Options{DType: seed}, 1, `"1.0"`},
		{"too few columns", []string{strings.Join(strings.SplitAfter(good, "\n")[:5], "") + "chr1 1\n"}, loader.Options{DType: seed}, 6, "requires 5 columns but 2"},
		{"ragged plain", []string{"1 2\n3\n"}, loader.Options{DType: mustSpec("f8")}, 2, "changed from 2 to 1"},
		{"usecols out of range", []string{"1 2\n"}, loader.Options{DType: mustSpec("f8"), UseCols: []int{5}}, 1, "out of range"},
		{"character too wide for S", []string{"名 1 0.5 2 3\n"}, loader.Options{DType: seed}, 1, "does not fit"},
		{"invalid UTF-8", []string{"\xff\xfe 1 0.5 2 3\n"}, loader.Options{DType: seed}, 1, "invalid UTF-8"},
		{"overflow", []string{"300\n"}, loader.Options{DType: mustSpec("i1")}, 1, "cannot convert"},
		// numpy: "could not convert string ' ' to float64 at row 0, column 1"
		{"a line of spaces under a delimiter is a row", []string{"1;2\n # x\n"}, loader.Options{DType: mustSpec("f8"), Delimiter: ";", Comments: "#"}, 2, `cannot convert " " to f8`},
		{"a line longer than MaxLineBytes", []string{"1 2\r\n3 4\r" + strings.Repeat("5 ", 600) + "\n"}, loader.Options{DType: mustSpec("f8"), MaxLineBytes: 1000}, 3, "line too long: over 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := shmtest.Ours()
			paths := writeInputs(t, tt.files)
			_, err := loader.Load(paths, tt.opts)
			var pe *loader.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Load: %v, want a *ParseError", err)
			}
			if tt.line > 0 && pe.Line != tt.line {
				t.Errorf("error at line %d, want %d: %v", pe.Line, tt.line, err)
			}
			if pe.File != paths[len(paths)-1] || !strings.Contains(err.Error(), tt.want) || pe.Text == "" {
				t.Errorf("error %q: want file %s and %q", err, paths[len(paths)-1], tt.want)
			}
			if after := shmtest.Ours(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("a failed load left segments: %v", after)
			}
		})
	}
	if _, err := loader.Load([]string{"/nonexistent/x.txt"}, loader.Options{DType: seed}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func mustSpec(s string) npy.DType {
	dt, err := loader.ParseSpec(s)
	if err != nil {
		panic(err)
	}
	return dt
}

// TestHDF5Pipeline: the seed pipeline. `npshm load` parses three files on
// all cores and publishes one array each; a Python script attaches them and
// writes one HDF5 file with h5py; reading it back equals np.loadtxt.
func TestHDF5Pipeline(t *testing.T) {
	py := python(t)
	if exec.Command(py, "-c", "import h5py").Run() != nil {
		t.Fatalf("h5py is not installed in %s (scripts/setup installs it)", py)
	}
	shmtest.PrivateDir(t)
	r := rand.New(rand.NewPCG(3, 4))
	paths := writeInputs(t, []string{genomic(r, 1000), genomic(r, 2000), genomic(r, 500)})
	out, err := exec.Command(cliPath(t), append([]string{"load", "--dtype", "chr:S10,pos:i4,pct:f4,c:i4,t:i4", "--name-each", "part"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("npshm load: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "\n"); n != 3 {
		t.Fatalf("npshm load printed %d descriptors:\n%s", n, out)
	}
	h5 := filepath.Join(t.TempDir(), "genome.h5")
	cmd := exec.Command(py, "../pyshim/examples/to_hdf5.py", h5, "part0", "part1", "part2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("to_hdf5.py: %v\n%s", err, out)
	}
	check := fmt.Sprintf(`
import sys, h5py, numpy as np
dt = %s
with h5py.File(sys.argv[1]) as f:
    for i, p in enumerate(sys.argv[2:]):
        got, want = f["part%%d" %% i][()], np.loadtxt(p, dtype=dt)
        assert got.dtype == want.dtype and np.array_equal(got, want) and got.tobytes() == want.tobytes(), p
print("ok")`, seedSpec)
	if out, err := exec.Command(py, append([]string{"-c", check, h5}, paths...)...).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("HDF5 check: %v\n%s", err, out)
	}
	for _, n := range []string{"part0", "part1", "part2"} {
		bridge.Unlink(n)
	}
}
