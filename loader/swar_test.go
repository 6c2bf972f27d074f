package loader

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// randomWord is eight bytes biased towards the ones the scanners care about.
func randomWord(r *rand.Rand) []byte {
	const interesting = "0123456789 \t\n\r#,.-+eE\x00\x1f\x7f\x80\xff/:"
	b := make([]byte, 8)
	for i := range b {
		if r.IntN(4) == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = interesting[r.IntN(len(interesting))]
		}
	}
	return b
}

// TestSWARHelpers: each helper agrees with a byte loop on random words.
func TestSWARHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1_000_000; i++ {
		b := randomWord(r)
		w := word(b, 0)
		run := 0
		for run < 8 && '0' <= b[run] && b[run] <= '9' {
			run++
		}
		if got := digitRun(w); got != run {
			t.Fatalf("digitRun(%q) = %d, want %d", b, got, run)
		}
		if run > 0 {
			want, _ := strconv.ParseUint(string(b[:run]), 10, 64)
			if got := digitsValue(w, run); got != want {
				t.Fatalf("digitsValue(%q, %d) = %d, want %d", b, run, got, want)
			}
		}
		c := byte(r.IntN(0x81))
		for j := range b {
			if got, want := zeroBytes(w)>>(8*j+7)&1 == 1, b[j] == 0; got != want {
				t.Fatalf("zeroBytes(%q) byte %d = %v", b, j, got)
			}
			if got, want := below(w, c)>>(8*j+7)&1 == 1, b[j] < c; got != want {
				t.Fatalf("below(%q, %#x) byte %d = %v", b, c, j, got)
			}
		}
	}
}

func TestWordPadsWithNewlines(t *testing.T) {
	b := []byte("0123456789")
	for p := 0; p <= len(b); p++ {
		w := word(b, p)
		for j := 0; j < 8; j++ {
			want := byte('\n')
			if p+j < len(b) {
				want = b[p+j]
			}
			if got := byte(w >> (8 * j)); got != want {
				t.Fatalf("word(%q, %d) byte %d = %q, want %q", b, p, j, got, want)
			}
		}
	}
}

func TestScanDigits(t *testing.T) {
	for _, tt := range []struct {
		s  string
		v  uint64
		q  int
		ok bool
	}{
		{"", 0, 0, true}, {"x", 0, 0, true}, {"7 ", 7, 1, true}, {"12345678", 12345678, 8, true},
		{"123456789\n", 123456789, 9, true}, {"0000000000000001.5", 1, 16, true},
		{"9999999999999999999", 9999999999999999999, 19, true}, {"99999999999999999999", 0, 16, false},
		{"18446744073709551615", 0, 16, false},
	} {
		v, q, ok := scanDigits([]byte(tt.s), 0, 0, 19)
		if ok != tt.ok || (ok && (v != tt.v || q != tt.q)) {
			t.Errorf("scanDigits(%q) = %d, %d, %v; want %d, %d, %v", tt.s, v, q, ok, tt.v, tt.q, tt.ok)
		}
	}
}
