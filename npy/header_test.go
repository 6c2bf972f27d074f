package npy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

type golden struct {
	Case         string `json:"case"`
	HeaderHex    string `json:"header_hex"`
	Version      string `json:"version"`
	Descr        string `json:"descr"`
	FortranOrder bool   `json:"fortran_order"`
	Shape        []int  `json:"shape"`
	ItemSize     *int   `json:"itemsize"`
	Offsets      []int  `json:"offsets"`
}

func loadGoldens(t testing.TB) []golden {
	t.Helper()
	raw, err := os.ReadFile("testdata/golden_headers.json")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	var file struct{ Cases []golden }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("Unmarshal goldens: %v", err)
	}
	if len(file.Cases) < 300 {
		t.Fatalf("only %d golden cases; regenerate with npy/testdata/gen_goldens.py", len(file.Cases))
	}
	return file.Cases
}

// TestGoldenHeaders parses every header numpy wrote in the golden matrix and
// re-encodes it byte for byte.
func TestGoldenHeaders(t *testing.T) {
	for _, g := range loadGoldens(t) {
		t.Run(g.Case, func(t *testing.T) {
			want, err := hex.DecodeString(g.HeaderHex)
			if err != nil {
				t.Fatalf("hex: %v", err)
			}
			h, err := ParseHeaderLimit(want, 1<<20)
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			if got := h.Version.String(); got != g.Version {
				t.Errorf("Version = %s, want %s", got, g.Version)
			}
			if got := h.DType.Descr(); got != g.Descr {
				t.Errorf("Descr() = %s\nwant      %s", got, g.Descr)
			}
			if h.FortranOrder != g.FortranOrder || !reflect.DeepEqual(h.Shape, g.Shape) {
				t.Errorf("order, shape = %v, %v; want %v, %v", h.FortranOrder, h.Shape, g.FortranOrder, g.Shape)
			}
			if h.DataOffset != len(want) || h.DataOffset%Align != 0 {
				t.Errorf("DataOffset = %d, header is %d bytes", h.DataOffset, len(want))
			}
			if g.ItemSize != nil && h.DType.Size != *g.ItemSize {
				t.Errorf("itemsize = %d, numpy says %d", h.DType.Size, *g.ItemSize)
			}
			if g.Offsets != nil {
				var offs []int
				for _, f := range h.DType.Fields {
					if !f.IsPadding() {
						offs = append(offs, f.Offset)
					}
				}
				if !reflect.DeepEqual(offs, g.Offsets) {
					t.Errorf("field offsets = %v, numpy says %v", offs, g.Offsets)
				}
			}
			got, err := Header{DType: h.DType, FortranOrder: h.FortranOrder, Shape: h.Shape}.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode differs from numpy\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestDTypeJSONRoundTrip(t *testing.T) {
	for _, g := range loadGoldens(t) {
		want, _ := hex.DecodeString(g.HeaderHex)
		h, err := ParseHeaderLimit(want, 1<<20)
		if err != nil {
			t.Fatalf("%s: ParseHeader: %v", g.Case, err)
		}
		js, err := json.Marshal(h.DType)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", g.Case, err)
		}
		var back DType
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("%s: Unmarshal %s: %v", g.Case, js, err)
		}
		if !back.Equal(h.DType) || !reflect.DeepEqual(back, h.DType) {
			t.Fatalf("%s: JSON round trip %s gave %s", g.Case, js, back.Descr())
		}
	}
}

func header(text string) []byte {
	b, _ := wrapHeader(text, Version{1, 0})
	return b
}

func TestParseHeaderRejects(t *testing.T) {
	valid := header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }")
	v3bad := append([]byte(Magic+"\x03\x00\x08\x00\x00\x00"), "{'\xff':1}\n"[:8]...)
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, ErrTruncated},
		{"garbage", []byte("hello world, this is not numpy"), ErrNotNpy},
		{"short garbage", []byte("PK"), ErrNotNpy},
		{"magic only", []byte(Magic), ErrTruncated},
		{"no length", []byte(Magic + "\x01\x00\x10"), ErrTruncated},
		{"version 4", append([]byte(Magic+"\x04\x00"), valid[8:]...), ErrVersion},
		{"version 1.1", append([]byte(Magic+"\x01\x01"), valid[8:]...), ErrVersion},
		{"truncated header", valid[:40], ErrTruncated},
		{"length beyond input", []byte(Magic + "\x02\x00\xff\xff\xff\x00{"), ErrHeaderTooLarge},
		{"not a dict", header("['descr', 'shape']"), ErrSyntax},
		{"code", header("__import__('os').system('touch /tmp/npshm-pwned')"), ErrSyntax},
		{"call in value", header("{'descr': eval('1'), 'fortran_order': False, 'shape': (3,)}"), ErrSyntax},
		{"attribute", header("{'descr': '<f8'.upper(), 'fortran_order': False, 'shape': (3,)}"), ErrSyntax},
		{"missing key", header("{'descr': '<f8', 'shape': (3,)}"), ErrKeys},
		{"extra key", header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}"), ErrKeys},
		{"duplicate key", header("{'descr': '<f8', 'descr': '<f8', 'shape': (3,)}"), ErrKeys},
		{"int key", header("{1: '<f8', 'fortran_order': False, 'shape': (3,)}"), ErrKeys},
		{"bad typecode", header("{'descr': '<q8', 'fortran_order': False, 'shape': (3,)}"), ErrDescr},
		{"bad size", header("{'descr': '<i3', 'fortran_order': False, 'shape': (3,)}"), ErrDescr},
		{"descr int", header("{'descr': 8, 'fortran_order': False, 'shape': (3,)}"), ErrDescr},
		{"bad unit", header("{'descr': '<M8[parsec]', 'fortran_order': False, 'shape': (3,)}"), ErrDescr},
		{"dup field", header("{'descr': [('a', '<i4'), ('a', '<f4')], 'fortran_order': False, 'shape': (3,)}"), ErrDescr},
		{"field not tuple", header("{'descr': ['a'], 'fortran_order': False, 'shape': (3,)}"), ErrDescr},
		{"negative dim", header("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}"), ErrShape},
		{"shape list", header("{'descr': '<f8', 'fortran_order': False, 'shape': [3]}"), ErrShape},
		{"shape int", header("{'descr': '<f8', 'fortran_order': False, 'shape': (3)}"), ErrShape},
		{"shape float", header("{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,)}"), ErrSyntax},
		{"shape bool", header("{'descr': '<f8', 'fortran_order': False, 'shape': (True,)}"), ErrShape},
		{"huge dim", header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}"), ErrShape},
		{"elements overflow", header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"), ErrShape},
		{"bytes overflow", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}"), ErrShape},
		{"fortran not bool", header("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}"), ErrSyntax},
		{"too large", header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + strings.Repeat(" ", 11000)), ErrHeaderTooLarge},
		{"deep nesting", header(strings.Repeat("[", 200) + strings.Repeat("]", 200)), ErrSyntax},
		{"unterminated", header("{'descr': '<f8"), ErrSyntax},
		{"v3 invalid utf8", v3bad, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.input)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseHeader error = %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(h, Header{}) {
				t.Fatalf("ParseHeader returned %+v with an error", h)
			}
			if _, err := ReadHeader(bytes.NewReader(tt.input)); err == nil {
				t.Fatalf("ReadHeader accepted it")
			}
		})
	}
}

func TestObjectDType(t *testing.T) {
	h, err := ParseHeader(header("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"))
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	if _, err := h.NBytes(); !errors.Is(err, ErrObject) {
		t.Fatalf("NBytes error = %v, want ErrObject", err)
	}
	rec := MustDType("[('a', '<i4'), ('o', '|O')]")
	if !rec.HasObject() {
		t.Fatalf("HasObject false for a record with an object field")
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name, text string
		shape      []int
		descr      string
	}{
		{"any key order, no trailing comma", `{"shape": (2, 3), "fortran_order": True, "descr": "<i4"}`, []int{2, 3}, "'<i4'"},
		{"trailing commas and newlines", "{\n'descr':'|u1',\n'fortran_order':False,\n'shape':(5,),\n}", []int{5}, "'|u1'"},
		{"0-d", "{'descr': '<f4', 'fortran_order': False, 'shape': ()}", []int{}, "'<f4'"},
		{"native order", "{'descr': '=f8', 'fortran_order': False, 'shape': ()}", []int{}, "'<f8'"},
		{"python 2 long", "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L)}", []int{3, 4}, "'<f8'"},
		{"unicode prefix", "{u'descr': u'<f8', u'fortran_order': False, u'shape': (1,)}", []int{1}, "'<f8'"},
		{"i1 normalised", "{'descr': '<i1', 'fortran_order': False, 'shape': (1,)}", []int{1}, "'|i1'"},
		{"int field shape", "{'descr': [('a', '<i4', 3)], 'fortran_order': False, 'shape': (1,)}", []int{1}, "[('a', '<i4', (3,))]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(header(tt.text))
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			if !reflect.DeepEqual(h.Shape, tt.shape) || h.DType.Descr() != tt.descr {
				t.Fatalf("got shape %v descr %s; want %v %s", h.Shape, h.DType.Descr(), tt.shape, tt.descr)
			}
		})
	}
}

func TestParseDType(t *testing.T) {
	tests := map[string]string{
		"f8":                            "<f8",
		"'>i2'":                         ">i2",
		"?":                             "|b1",
		"S10":                           "|S10",
		"U3":                            "<U3",
		"M8[ns]":                        "<M8[ns]",
		"[('chr','S10'),('pos','<i4')]": "[('chr', '|S10'), ('pos', '<i4')]",
		"[(('T', 'n'), '<f4', (2, 2))]": "[(('T', 'n'), '<f4', (2, 2))]",
		"[('a', [('b', 'u1')], (3,))]":  "[('a', [('b', '|u1')], (3,))]",
		"[('', '|V3'), ('x', '<i4')]":   "[('', '|V3'), ('x', '<i4')]",
		"[('', 'V1'), ('', 'V2', (2,)), ('', 'V0'), ('x', 'i', ())]": "[('', '|V5'), ('x', '<i4')]",
		"[('', '<i4')]":                     "[('', '<i4')]",
		"S":                                 "|S0",
		"d":                                 "<f8",
		"b":                                 "|i1",
		"b1":                                "|b1",
		"c":                                 "|S1",
		"<g":                                "<f16",
		"M8[01s]":                           "<M8[s]",
		"M8[5generic]":                      "<M8",
		"[(\"it's\", 'u1'), ('q\"', 'u1')]": "[(\"it's\", '|u1'), ('q\"', '|u1')]",
	}
	for in, want := range tests {
		got, err := ParseDType(in)
		if err != nil {
			t.Errorf("ParseDType(%q): %v", in, err)
			continue
		}
		if got.String() != want {
			t.Errorf("ParseDType(%q) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "f7", "x", "<", "S+1", "<f12", "<f08", "u", "M[ns]", "M8[2147483648s]", "float64",
		"[('', '<i4'), ('', '<i4')]", "[(('', 'a'), '<i4')]", "(('a','<i4'),)", "[('a','<i4')", "U99999999999"} {
		if _, err := ParseDType(bad); err == nil {
			t.Errorf("ParseDType(%q) accepted it", bad)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	if _, err := (Header{}).Encode(); !errors.Is(err, ErrDescr) {
		t.Errorf("zero Header: %v, want ErrDescr", err)
	}
	if _, err := (Header{DType: Float64, Shape: []int{-2}}).Encode(); !errors.Is(err, ErrShape) {
		t.Errorf("negative shape: %v, want ErrShape", err)
	}
}

// FuzzParseHeader: the parser never panics, returns the zero Header on
// error, and whatever it accepts re-encodes to a header that parses to the
// same thing.
func FuzzParseHeader(f *testing.F) {
	for i, g := range loadGoldens(f) {
		if i%7 == 0 {
			b, _ := hex.DecodeString(g.HeaderHex)
			f.Add(b)
		}
	}
	for _, s := range []string{
		"{'descr': [('a', [('b', '>u2', (2,))]), ('', '|V2')], 'fortran_order': True, 'shape': (0, 2), }",
		"{'descr': '<U0', 'fortran_order': False, 'shape': ()}",
		"{'descr': '<M8[10s]', 'fortran_order': False, 'shape': (1_000,)}",
		"{'descr': 'x\\u00e9\\x41\\101', 'fortran_order': False, 'shape': (1,)}",
	} {
		f.Add(header(s))
	}
	if raw, err := os.ReadFile("testdata/header_corpus.json"); err == nil { // numpy's odd cases
		var file struct {
			Cases []struct {
				HeaderHex string `json:"header_hex"`
			}
		}
		if err := json.Unmarshal(raw, &file); err != nil {
			f.Fatalf("Unmarshal corpus: %v", err)
		}
		for _, c := range file.Cases {
			b, _ := hex.DecodeString(c.HeaderHex)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !reflect.DeepEqual(h, Header{}) {
				t.Fatalf("non-zero Header with error %v", err)
			}
			return
		}
		enc, err := Header{DType: h.DType, FortranOrder: h.FortranOrder, Shape: h.Shape}.Encode()
		if err != nil {
			t.Fatalf("Encode of a parsed header: %v", err)
		}
		h2, err := ParseHeaderLimit(enc, 1<<20)
		if err != nil {
			t.Fatalf("re-parse: %v\n%q", err, enc)
		}
		if !h2.DType.Equal(h.DType) || h2.FortranOrder != h.FortranOrder || !reflect.DeepEqual(h2.Shape, h.Shape) {
			t.Fatalf("round trip changed the header: %q -> %q", b, enc)
		}
		if len(enc)%Align != 0 {
			t.Fatalf("encoded header is %d bytes", len(enc))
		}
	})
}

func BenchmarkParseHeader(b *testing.B) {
	for _, dt := range []string{"<f8", "[('chr','S10'),('pos','<i4'),('pct','<f4'),('c','<i4'),('t','<i4')]"} {
		hdr, _ := Header{DType: MustDType(dt), Shape: []int{1000, 3}}.Encode()
		b.Run(dt[:3], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := ParseHeader(hdr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
