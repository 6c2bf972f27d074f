package loader

import (
	"fmt"
	"strings"

	"github.com/npshm/npshm/npy"
)

// ParseSpec reads a dtype for Load in either of two forms:
//
//	numpy's descr, a Python literal:  [('chr','S10'),('pos','<i4'),('pct','<f4')]
//	compact, name:type pairs:         chr:S10,pos:i4,pct:f4
//
// or a plain type ("f8", "<i4") for a 2-D array of all columns.
func ParseSpec(spec string) (npy.DType, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return npy.DType{}, fmt.Errorf("empty dtype spec")
	}
	if s[0] == '[' || s[0] == '\'' || s[0] == '"' || !strings.Contains(s, ":") {
		return npy.ParseDType(s)
	}
	var fields []npy.Field
	for _, part := range strings.Split(s, ",") {
		name, typ, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || strings.TrimSpace(name) == "" {
			return npy.DType{}, fmt.Errorf("dtype spec %q: %q is not name:type", spec, part)
		}
		t, err := npy.ParseDType(strings.TrimSpace(typ))
		if err != nil {
			return npy.DType{}, fmt.Errorf("dtype spec %q: field %q: %w", spec, name, err)
		}
		fields = append(fields, npy.Field{Name: strings.TrimSpace(name), Type: t})
	}
	return npy.NewStruct(fields...)
}
