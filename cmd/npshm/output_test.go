package main

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"psm_1a2b3c4d", "psm_1a2b3c4d"},
		{"a b-c.d", "a b-c.d"},
		{`back\slash "quoted"`, `back\slash "quoted"`},
		{"héllo 日本 \ufffd", "héllo 日本 \ufffd"},
		{"a\nb", `a\nb`},
		{"\r\t\a\b\f\v", `\r\t\a\b\f\v`},
		{"\x00\x1b[31mred", `\x00\x1b[31mred`},
		{"del\x7f", `del\x7f`},
		{"c1\u0085\u009b", `c1\u0085\u009b`},
		{"bidi\u202e\u2066", `bidi\u202e\u2066`},
		{"sep\u2028\u2029", `sep\u2028\u2029`},
		{"nbsp\u00a0zwsp\u200b", `nbsp\u00a0zwsp\u200b`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"tag\U000e0001", `tag\U000e0001`},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSafeJSON: JSON made printable still decodes to the same value.
func TestSafeJSON(t *testing.T) {
	for _, s := range []string{"plain", "a\nb\x1b[31m\t", "del\x7f c1\u0085\u009b", "bidi\u202e\u2066 sep\u2028", "nbsp\u00a0 tag\U000e0001", "日本 \ufffd"} {
		raw, err := json.Marshal(map[string]any{"name": s, "n": []int{1, 2}})
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got := safeJSON(append(raw, '\n'))
		for _, r := range string(got[:len(got)-1]) {
			if !strconv.IsPrint(r) {
				t.Errorf("safeJSON(%s) keeps raw %U", raw, r)
			}
		}
		var v struct{ Name string }
		if err := json.Unmarshal(got, &v); err != nil || v.Name != s {
			t.Errorf("safeJSON(%s) = %s decodes to %q (%v), want %q", raw, got, v.Name, err, s)
		}
	}
	if b := []byte(`{"name":"plain"}`); &safeJSON(b)[0] != &b[0] {
		t.Errorf("safeJSON copied a printable line")
	}
}
