package loader

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomField is text for a field of the given kind, often in a shape the
// fast paths take, sometimes at or past their edges, sometimes invalid.
func randomField(r *rand.Rand, kind byte) string {
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	sign := ""
	if r.IntN(8) == 0 {
		sign = "-"
	} else if r.IntN(16) == 0 {
		sign = "+"
	}
	switch kind {
	case 'i', 'u':
		if r.IntN(60) == 0 {
			return []string{"", "1.0", "1e3", "--1", "12x", "9223372036854775808", "-0", "0x1"}[r.IntN(8)]
		}
		if r.IntN(12) == 0 {
			return sign + digits(1+r.IntN(19)) // may overflow
		}
		if kind == 'u' {
			sign = ""
		}
		return sign + digits(1+r.IntN(4))
	case 'f':
		if r.IntN(60) == 0 {
			return []string{"inf", "-nan", "1e400", ".", "1.5.2", "e5", "1_0", "nanx"}[r.IntN(8)]
		}
		s := sign + digits(r.IntN(10))
		if r.IntN(4) > 0 {
			s += "." + digits(r.IntN(10))
		}
		if r.IntN(6) == 0 {
			s += "e" + []string{"", "-", "+"}[r.IntN(3)] + digits(1+r.IntN(3))
		}
		return s
	}
	const letters = "abcXYZ_09.-+é"
	n := 1 + r.IntN(14)
	var b strings.Builder
	for range n {
		b.WriteString(string([]rune(letters)[r.IntN(len([]rune(letters)))]))
	}
	return b.String()
}

// TestRowScannerMatchesGeneralPath: the fast row kernel writes the same
// bytes, and fails on the same lines, as the general per-field path
// (chunkRows with usecols), on random rows in every separator mode.
func TestRowScannerMatchesGeneralPath(t *testing.T) {
	for _, goOnly := range []bool{false, true} {
		if !goOnly && nativeKernel == nil {
			continue
		}
		t.Run(map[bool]string{false: "native", true: "go"}[goOnly], func(t *testing.T) {
			goKernelOnly = goOnly
			defer func() { goKernelOnly = false }()
			testRowScannerMatchesGeneralPath(t)
		})
	}
}

func testRowScannerMatchesGeneralPath(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	dt, err := ParseSpec("a:S6,b:i4,c:f4,d:i8,e:u4,f:f8,g:i2,h:S12")
	if err != nil {
		t.Fatal(err)
	}
	cols, _, _ := columns(dt, nil)
	for _, mode := range []struct{ delim, comments, sep string }{
		{"", "#", " "}, {"", "#", "\t"}, {"", "", "  "}, {",", "#", ","}, {",", "", ","}, {"\t", "#", "\t"}, {";", "%", ";"},
		{"", "#", "\u00a0"}, {"", "", " \u3000"}, {";", "#", "; "},
	} {
		ok := 0
		for trial := 0; trial < 2000; trial++ {
			var text bytes.Buffer
			lines := 1 + r.IntN(8)
			for range lines {
				fields := make([]string, len(cols))
				for k, c := range cols {
					fields[k] = randomField(r, c.kind)
				}
				if r.IntN(12) == 0 { // blank with whitespace only, or (under a delimiter) a row of spaces
					text.WriteString([]string{" \t \n", "\u00a0\n", " # x\n"}[r.IntN(3)])
				}
				text.WriteString(strings.Join(fields, mode.sep))
				text.WriteString([]string{"\n", "\n", "\n", "\r\n", " \n", "#x\n", "\u2028\n"}[r.IntN(7)])
			}
			data := text.Bytes()
			if r.IntN(3) == 0 {
				data = bytes.TrimRight(data, "\n")
			}
			s := splitter{delim: []byte(mode.delim), comments: []byte(mode.comments)}
			c := &chunk{in: &input{path: "t"}, data: data}
			fast := make([]byte, lines*dt.Size)
			slow := make([]byte, lines*dt.Size)
			nf, lf, errFast := chunkRows(c, fast, dt.Size, cols, true, 0, Options{DType: dt}, s)
			identity := Options{DType: dt, UseCols: []int{0, 1, 2, 3, 4, 5, 6, 7}}
			ns, ls, errSlow := chunkRows(c, slow, dt.Size, cols, true, 0, identity, s)
			where := fmt.Sprintf("mode %+v, text %q", mode, data)
			if (errFast == nil) != (errSlow == nil) {
				t.Fatalf("%s: fast path error %v, general path error %v", where, errFast, errSlow)
			}
			if errFast == nil && (nf != ns || lf != ls || !bytes.Equal(fast, slow)) {
				t.Fatalf("%s: fast path rows %d in %d lines %x, general path rows %d in %d lines %x", where, nf, lf, fast, ns, ls, slow)
			}
			if errFast == nil {
				ok++
			}
		}
		if ok < 300 {
			t.Errorf("mode %+v: only %d of 2000 random texts loaded: the test checks too little", mode, ok)
		}
	}
}
