package loader

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestParseFloatMatchesStrconv: the fast path rounds exactly as
// strconv.ParseFloat (correct rounding) on random decimals of every shape.
func TestParseFloatMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		var s string
		switch i % 4 {
		case 0:
			s = strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)), 'g', -1, 64)
		case 1:
			s = strconv.FormatFloat(r.Float64()*1000, 'f', r.IntN(12), 64)
		case 2:
			s = strconv.Itoa(r.IntN(1<<30)) + "." + strconv.Itoa(r.IntN(1<<30)) + "e" + strconv.Itoa(r.IntN(60)-30)
		default:
			s = strconv.FormatUint(r.Uint64(), 10) + strconv.Itoa(r.IntN(100)) // > 19 digits: slow path
		}
		want, _ := strconv.ParseFloat(s, 64)
		got, err := toFloat([]byte(s))
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("toFloat(%q) = %v, %v; strconv says %v", s, got, err, want)
		}
	}
}

func TestParseFloatForms(t *testing.T) {
	ok := map[string]float64{"1": 1, "-0": math.Copysign(0, -1), " 2.5 ": 2.5, "\t.5": .5, "5.": 5, "+.5e1": 5,
		"1E5": 1e5, "1e+5": 1e5, "-1e-5": -1e-5, "inf": math.Inf(1), "-Inf": math.Inf(-1), "infinity": math.Inf(1),
		"1e400": math.Inf(1), "-1e999999": math.Inf(-1), "1e-400": 0, "0.000000000000000000001": 1e-21,
		"123456789012345678901234567890": 123456789012345678901234567890}
	for s, want := range ok {
		got, err := toFloat([]byte(s))
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("toFloat(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for s, bits := range map[string]uint64{"nan": 0x7ff8000000000000, "NaN": 0x7ff8000000000000, "+nan": 0x7ff8000000000000, "-nan": 0xfff8000000000000} {
		if nan, err := toFloat([]byte(s)); err != nil || math.Float64bits(nan) != bits {
			t.Errorf("toFloat(%q) bits %x, %v; want %x", s, math.Float64bits(nan), err, bits)
		}
	}
	for _, s := range []string{"", " ", ".", "e5", "1e", "1.5.2", "0x1p3", "1_000", "1e5.5", "abc", "--1", "1 2", "nanx"} {
		if v, err := toFloat([]byte(s)); err == nil {
			t.Errorf("toFloat(%q) = %v, want an error (numpy rejects it)", s, v)
		}
	}
}

func TestParseInts(t *testing.T) {
	tests := []struct {
		s        string
		min, max int64
		want     int64
		ok       bool
	}{
		{"127", -128, 127, 127, true}, {"-128", -128, 127, -128, true}, {"128", -128, 127, 0, false},
		{"-129", -128, 127, 0, false}, {" +5 ", -128, 127, 5, true}, {"007", -128, 127, 7, true},
		{"-0", -128, 127, 0, true}, {"1.0", -128, 127, 0, false}, {"1e3", -1 << 31, 1<<31 - 1, 0, false},
		{"9223372036854775807", math.MinInt64, math.MaxInt64, math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, math.MaxInt64, math.MinInt64, true},
		{"9223372036854775808", math.MinInt64, math.MaxInt64, 0, false}, {"-+5", -128, 127, 0, false}, {"", -1, 1, 0, false},
	}
	for _, tt := range tests {
		got, err := toInt([]byte(tt.s), tt.min, tt.max)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("toInt(%q) = %d, %v; want %d ok=%v", tt.s, got, err, tt.want, tt.ok)
		}
	}
	if v, err := toUint([]byte("18446744073709551615"), math.MaxUint64); err != nil || v != math.MaxUint64 {
		t.Errorf("toUint max: %d %v", v, err)
	}
	for _, s := range []string{"-1", "18446744073709551616", "256x"} {
		if _, err := toUint([]byte(s), math.MaxUint64); err == nil {
			t.Errorf("toUint(%q) accepted it", s)
		}
	}
}

func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"1.5", "-0.0e-3", "inf", "123456789012345678901", ".5", "1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := toFloat([]byte(s))
		if err != nil {
			return
		}
		want, err2 := strconv.ParseFloat(string(trimSpace([]byte(s))), 64)
		if err2 != nil && !isRange(err2) {
			t.Fatalf("toFloat accepted %q, which strconv rejects: %v", s, err2)
		}
		if got == got && math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("toFloat(%q) = %v, strconv %v", s, got, want)
		}
	})
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func TestResultShape(t *testing.T) {
	tests := []struct {
		rows       int64
		structured bool
		ncols      int
		ndmin      int
		want       []int
	}{
		{5, true, 3, 0, []int{5}}, {1, true, 3, 0, []int{}}, {0, true, 3, 0, []int{0}},
		{5, false, 3, 0, []int{5, 3}}, {1, false, 3, 0, []int{3}}, {5, false, 1, 0, []int{5}},
		{1, false, 1, 0, []int{}}, {0, false, 0, 0, []int{0}}, {1, true, 2, 1, []int{1}},
		{5, false, 1, 2, []int{5, 1}}, {1, false, 1, 2, []int{1, 1}}, {5, false, 3, 2, []int{5, 3}},
	}
	for _, tt := range tests {
		got := resultShape(tt.rows, tt.structured, tt.ncols, tt.ndmin)
		if len(got) != len(tt.want) {
			t.Errorf("resultShape(%+v) = %v, want %v", tt, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("resultShape(%+v) = %v, want %v", tt, got, tt.want)
			}
		}
	}
}

func TestParseSpec(t *testing.T) {
	a, err := ParseSpec("chr:S10,pos:i4,pct:f4,c:i4,t:i4")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseSpec("[('chr','S10'),('pos','<i4'),('pct','<f4'),('c','<i4'),('t','<i4')]")
	if err != nil || !a.Equal(b) {
		t.Fatalf("compact %s != literal %s (%v)", a, b, err)
	}
	for _, bad := range []string{"", "chr:S10,pos", "x:q9", ":i4"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted it", bad)
		}
	}
}
