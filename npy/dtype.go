package npy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DType is an element type as numpy describes it in a header's descr: a
// scalar type (Kind, Size, Order, Unit) or a structured record (Fields).
//
// A DType made by this package is normalised the way numpy normalises
// dtype.str: one-byte, bytes and void types have Order '|'; '=' becomes the
// host's order. The zero DType is invalid.
type DType struct {
	// Order is '<' (little-endian), '>' (big-endian) or '|' (not applicable).
	Order byte
	// Kind is numpy's type code: 'b' bool, 'i' signed int, 'u' unsigned int,
	// 'f' float, 'c' complex, 'M' datetime64, 'm' timedelta64, 'S' bytes,
	// 'U' unicode (UCS-4), 'V' void or record, 'O' Python object.
	Kind byte
	// Size is the itemsize in bytes (for 'U' four times the character count).
	Size int
	// Unit is a datetime64/timedelta64 unit such as "ns" or "10s"; "" is the
	// generic unit.
	Unit string
	// Fields is non-nil for a structured dtype (Kind 'V'), in offset order,
	// including numpy's ('', '|V<n>') padding entries.
	Fields []Field
}

// Field is one entry of a structured dtype.
type Field struct {
	Name  string
	Title string // "" when the field has no title
	Type  DType
	Shape []int // a subarray field's shape; nil for a scalar field
	// Offset is the field's byte offset in the record, set by NewStruct.
	Offset int
}

// Size is the bytes the field occupies: the element size times its shape.
func (f Field) Size() int {
	n := f.Type.Size
	for _, d := range f.Shape {
		n *= d
	}
	return n
}

// IsPadding reports whether f is numpy's unnamed void padding entry, which
// aligned records use and which numpy drops when it reads the header.
func (f Field) IsPadding() bool {
	return f.Name == "" && f.Title == "" && f.Type.Kind == 'V' && f.Type.Fields == nil && f.Shape == nil
}

// littleEndianHost is the byte order '=' stands for.
var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// NativeOrder is the host's byte order as numpy writes it: '<' or '>'.
func NativeOrder() byte {
	if littleEndianHost {
		return '<'
	}
	return '>'
}

func scalar(kind byte, size int) DType {
	t := DType{Order: NativeOrder(), Kind: kind, Size: size}
	if size == 1 || kind == 'S' || kind == 'V' || kind == 'b' || kind == 'O' {
		t.Order = '|'
	}
	return t
}

// The fixed-size scalar types, in the host's byte order.
var (
	Bool       = scalar('b', 1)
	Int8       = scalar('i', 1)
	Int16      = scalar('i', 2)
	Int32      = scalar('i', 4)
	Int64      = scalar('i', 8)
	Uint8      = scalar('u', 1)
	Uint16     = scalar('u', 2)
	Uint32     = scalar('u', 4)
	Uint64     = scalar('u', 8)
	Float16    = scalar('f', 2)
	Float32    = scalar('f', 4)
	Float64    = scalar('f', 8)
	Complex64  = scalar('c', 8)
	Complex128 = scalar('c', 16)
)

// Bytes is numpy's 'S<n>' (fixed-size, NUL-padded bytes).
func Bytes(n int) DType { return scalar('S', n) }

// Unicode is numpy's 'U<n>': n UCS-4 characters.
func Unicode(n int) DType { t := scalar('U', 4*n); return t }

// Void is numpy's 'V<n>': n opaque bytes.
func Void(n int) DType { return scalar('V', n) }

// NewStruct builds a structured dtype from fields in order, packed (each
// field's offset is the sum of the sizes before it, as numpy lays out a
// descr list). Unnamed, untitled void or subarray fields are padding,
// normalised as numpy rewrites them: adjacent ones merge and empty ones go.
// A subarray shape of () is a plain field. It checks names and titles are
// unique.
func NewStruct(fields ...Field) (DType, error) {
	seen := make(map[string]bool, len(fields))
	out := make([]Field, 0, len(fields))
	off := 0
	for i, f := range fields {
		if err := f.Type.valid(); err != nil {
			return DType{}, fmt.Errorf("field %q: %w", f.Name, err)
		}
		size, ok := mulCheck(f.Type.Size, f.Shape)
		if !ok {
			return DType{}, fmt.Errorf("%w: field %q: subarray shape %v", ErrDescr, f.Name, f.Shape)
		}
		if off+size > maxItemSize {
			return DType{}, fmt.Errorf("%w: record larger than %d bytes", ErrDescr, maxItemSize)
		}
		if f.Name == "" && f.Title == "" && (len(f.Shape) > 0 || f.Type.Kind == 'V' && f.Type.Fields == nil) {
			// numpy's test: an unnamed field whose dtype is void, which any
			// subarray is
			if size > 0 && len(out) > 0 && out[len(out)-1].IsPadding() {
				out[len(out)-1].Type.Size += size
			} else if size > 0 {
				out = append(out, Field{Type: Void(size), Offset: off})
			}
			off += size
			continue
		}
		names := []string{f.Name}
		if f.Title != "" {
			names = append(names, f.Title)
		}
		for _, name := range names {
			if seen[name] {
				return DType{}, fmt.Errorf("%w: field %d: duplicate field name or title %q", ErrDescr, i, name)
			}
			seen[name] = true
		}
		f.Shape = clone(f.Shape)
		if len(f.Shape) == 0 {
			f.Shape = nil
		}
		f.Offset = off
		out = append(out, f)
		off += size
	}
	return DType{Order: '|', Kind: 'V', Size: off, Fields: out}, nil
}

// maxItemSize caps an element's size, as numpy caps itemsize to a C int.
const maxItemSize = math.MaxInt32

func mulCheck(n int, dims []int) (int, bool) {
	for _, d := range dims {
		if d < 0 || d > maxItemSize || (d != 0 && n > maxItemSize/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func clone(s []int) []int {
	if s == nil {
		return nil
	}
	return append([]int{}, s...)
}

// Field returns the named field of a structured dtype.
func (t DType) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name && !f.IsPadding() {
			return f, true
		}
	}
	return Field{}, false
}

// IsStructured reports whether t is a record type with fields.
func (t DType) IsStructured() bool { return t.Fields != nil }

// HasObject reports whether t or any field holds Python objects.
func (t DType) HasObject() bool {
	if t.Kind == 'O' {
		return true
	}
	for _, f := range t.Fields {
		if f.Type.HasObject() {
			return true
		}
	}
	return false
}

// Equal reports whether t and u describe the same layout and names.
func (t DType) Equal(u DType) bool { return t.Descr() == u.Descr() }

// TypeStr is numpy's dtype.str for a scalar type ("<f8", "|S10", "<M8[ns]");
// for a structured type it is "|V<size>", as numpy's is.
func (t DType) TypeStr() string {
	switch {
	case t.Kind == 'O':
		return "|O"
	case t.Fields != nil:
		return "|V" + strconv.Itoa(t.Size)
	}
	n := t.Size
	if t.Kind == 'U' {
		n /= 4
	}
	s := string([]byte{t.Order, t.Kind}) + strconv.Itoa(n)
	if t.Unit != "" {
		s += "[" + t.Unit + "]"
	}
	return s
}

// Descr is the Python repr of the descr numpy writes for t: a quoted type
// string, or for a record the list repr of dtype.descr.
func (t DType) Descr() string {
	if t.Fields == nil {
		return pyStr(t.TypeStr())
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range t.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		if f.Title != "" {
			b.WriteString("(" + pyStr(f.Title) + ", " + pyStr(f.Name) + ")")
		} else {
			b.WriteString(pyStr(f.Name))
		}
		b.WriteString(", " + f.Type.Descr())
		if f.Shape != nil {
			b.WriteString(", " + pyTuple(f.Shape))
		}
		b.WriteByte(')')
	}
	b.WriteByte(']')
	return b.String()
}

// String is the type string for a scalar type and the descr list for a
// record, the forms numpy's np.dtype() accepts.
func (t DType) String() string {
	if t.Fields == nil {
		return t.TypeStr()
	}
	return t.Descr()
}

// ParseDType parses a dtype written as numpy accepts it in a header: a type
// string, bare or quoted ("<f8", "'<f8'", "u1", "S10", "M8[ns]"), or a
// Python list of fields ("[('chr', 'S10'), ('pos', '<i4')]").
func ParseDType(s string) (DType, error) {
	s = strings.TrimSpace(s)
	if s == "" || !strings.ContainsAny(s[:1], "'\"[(") {
		return parseTypeStr(s)
	}
	v, err := parseLiteral(s, false)
	if err != nil {
		return DType{}, fmt.Errorf("%w: %v", ErrDescr, err)
	}
	return dtypeFromLit(v)
}

// MustDType is ParseDType for constants in programs; it panics on error.
func MustDType(s string) DType {
	t, err := ParseDType(s)
	if err != nil {
		panic(err)
	}
	return t
}

func dtypeFromLit(v lit) (DType, error) {
	switch v.kind {
	case litStr:
		return parseTypeStr(v.str)
	case litList:
		fields := make([]Field, 0, len(v.elems))
		for i, e := range v.elems {
			f, err := fieldFromLit(e)
			if err != nil {
				return DType{}, fmt.Errorf("field %d: %w", i, err)
			}
			fields = append(fields, f)
		}
		return NewStruct(fields...)
	case litTuple:
		return DType{}, fmt.Errorf("%w: a subarray descr at top level is not supported", ErrDescr)
	}
	return DType{}, fmt.Errorf("%w: descr is a %v, want a str or a list", ErrDescr, v.kind)
}

func fieldFromLit(v lit) (Field, error) {
	if v.kind != litTuple || len(v.elems) < 2 || len(v.elems) > 3 {
		return Field{}, fmt.Errorf("%w: a field is a tuple (name, descr[, shape])", ErrDescr)
	}
	var f Field
	switch n := v.elems[0]; {
	case n.kind == litStr:
		f.Name = n.str
	case n.kind == litTuple && len(n.elems) == 2 && n.elems[0].kind == litStr && n.elems[1].kind == litStr &&
		n.elems[0].str != "":
		f.Title, f.Name = n.elems[0].str, n.elems[1].str
	default:
		return Field{}, fmt.Errorf("%w: field name is a %v, want a str or (title, name)", ErrDescr, n.kind)
	}
	if !utf8.ValidString(f.Name) || !utf8.ValidString(f.Title) {
		return Field{}, fmt.Errorf("%w: field name %q is not valid Unicode", ErrDescr, f.Name)
	}
	t, err := dtypeFromLit(v.elems[1])
	if err != nil {
		return Field{}, fmt.Errorf("field %q: %w", f.Name, err)
	}
	f.Type = t
	if len(v.elems) == 3 {
		s := v.elems[2]
		if s.kind == litInt {
			s = lit{kind: litTuple, elems: []lit{s}}
		}
		if f.Shape, err = shapeFromLit(s); err != nil {
			return Field{}, fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return f, nil
}

// shapeFromLit converts a tuple of non-negative ints; the result is never nil.
func shapeFromLit(v lit) ([]int, error) {
	if v.kind != litTuple {
		return nil, fmt.Errorf("%w: shape is a %v, want a tuple of ints", ErrShape, v.kind)
	}
	dims := make([]int, len(v.elems))
	for i, e := range v.elems {
		if e.kind != litInt {
			return nil, fmt.Errorf("%w: dimension %d is a %v, want an int", ErrShape, i, e.kind)
		}
		if e.overflow || e.num < 0 || e.num > math.MaxInt {
			return nil, fmt.Errorf("%w: dimension %d out of range", ErrShape, i)
		}
		dims[i] = int(e.num)
	}
	return dims, nil
}

var dtUnits = map[string]bool{"Y": true, "M": true, "W": true, "D": true, "h": true, "m": true,
	"s": true, "ms": true, "us": true, "μs": true, "ns": true, "ps": true, "fs": true, "as": true, "generic": true}

// typeCodes are numpy's one-letter type codes and the dtype each stands for
// alone (on a 64-bit Linux host: 'l' and 'p' are 8 bytes, 'g' is 16).
var typeCodes = map[byte]struct {
	kind byte
	size int
}{
	'?': {'b', 1}, 'b': {'i', 1}, 'B': {'u', 1}, 'h': {'i', 2}, 'H': {'u', 2}, 'i': {'i', 4}, 'I': {'u', 4},
	'l': {'i', 8}, 'L': {'u', 8}, 'q': {'i', 8}, 'Q': {'u', 8}, 'p': {'i', 8}, 'P': {'u', 8},
	'e': {'f', 2}, 'f': {'f', 4}, 'd': {'f', 8}, 'g': {'f', 16}, 'F': {'c', 8}, 'D': {'c', 16}, 'G': {'c', 32},
	'c': {'S', 1}, 'S': {'S', 0}, 'U': {'U', 0}, 'V': {'V', 0}, 'M': {'M', 8}, 'm': {'m', 8}, 'O': {'O', 8},
}

// sizedCodes are the sizes numpy allows after a type code ('i4', 'c16').
// 12-byte floats and 24-byte complexes exist only on 32-bit x86, so numpy
// refuses them on the hosts this package runs on.
var sizedCodes = map[byte][]int{'b': {1}, 'i': {1, 2, 4, 8}, 'u': {1, 2, 4, 8}, 'f': {2, 4, 8, 16},
	'c': {8, 16, 32}, 'M': {8}, 'm': {8}, 'O': {4, 8}}

// maxUnitMultiplier is numpy's cap on a datetime unit's multiplier (a C int).
const maxUnitMultiplier = math.MaxInt32

// parseTypeStr parses one type string: an optional byte order, then a type
// code alone ("d", "S"), a code with a size ("<f8", "|S10", "U3") or a
// datetime with a unit ("<M8[ns]", "m8[10s]"). numpy also takes names
// ("float64"), comma lists ("i4,f8"), subarrays ("(2,)f8"), "a", signs and
// spaces in sizes, and "M8[s/4]"; no writer makes them, so they are
// refused (as npshm's Python reader refuses them).
func parseTypeStr(s string) (DType, error) {
	bad := func(why string) (DType, error) {
		return DType{}, fmt.Errorf("%w: %s: %s", ErrDescr, pyStr(s), why)
	}
	rest := s
	order := byte(0)
	if rest != "" && strings.IndexByte("<>|=", rest[0]) >= 0 {
		order, rest = rest[0], rest[1:]
	}
	if rest == "" {
		return bad("no type code")
	}
	code, rest := rest[0], rest[1:]
	var t DType
	switch {
	case rest == "":
		c, ok := typeCodes[code]
		if !ok {
			return bad("unknown type code")
		}
		t = scalar(c.kind, c.size)
	case code == 'S' || code == 'V' || code == 'U':
		n, ok := decimal(rest, maxItemSize)
		if !ok || (code == 'U' && n > maxItemSize/4) {
			return bad("bad size")
		}
		if code == 'U' {
			n *= 4
		}
		t = scalar(code, n)
	default:
		unit := ""
		if i := strings.IndexByte(rest, '['); i >= 0 && (code == 'M' || code == 'm') {
			if !strings.HasSuffix(rest, "]") {
				return bad("unterminated unit")
			}
			var ok bool
			if unit, ok = datetimeUnit(rest[i+1 : len(rest)-1]); !ok {
				return bad("unknown datetime unit")
			}
			rest = rest[:i]
		}
		n, ok := decimal(rest, maxItemSize)
		okSize := false
		for _, a := range sizedCodes[code] {
			okSize = okSize || (ok && a == n && rest[0] != '0')
		}
		if !okSize {
			return bad("unsupported size")
		}
		t = scalar(code, n) // 'b1' is bool, though 'b' alone is int8
		if code == 'O' {
			t.Size = 8
		}
		t.Unit = unit
	}
	if t.Order != '|' && (order == '<' || order == '>') {
		t.Order = order
	}
	return t, nil
}

// decimal parses a string of ASCII digits no larger than max.
func decimal(s string, max int) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		if n = n*10 + int(s[i]-'0'); n > max {
			return 0, false
		}
	}
	return n, true
}

// datetimeUnit checks a unit as numpy reads it (multiplier, then a unit
// name) and returns it as numpy writes it: "01s" is "s", "μs" is "us", any
// generic unit is "".
func datetimeUnit(u string) (string, bool) {
	name := strings.TrimLeft(u, "0123456789")
	digits := u[:len(u)-len(name)]
	if !dtUnits[name] {
		return "", false
	}
	mult := 1
	if digits != "" {
		var ok bool
		if mult, ok = decimal(digits, maxUnitMultiplier); !ok {
			return "", false
		}
	}
	switch {
	case name == "generic":
		return "", true
	case name == "μs":
		name = "us"
	}
	if mult == 1 {
		return name, true
	}
	return strconv.Itoa(mult) + name, true
}

// valid reports whether t is a usable dtype (the zero DType is not).
func (t DType) valid() error {
	if t.Fields != nil {
		return nil
	}
	if t.Kind == 0 || strings.IndexByte("biufcMmSUVO", t.Kind) < 0 || t.Size < 0 ||
		(t.Kind == 'U' && t.Size%4 != 0) || strings.IndexByte("<>|", t.Order) < 0 {
		return fmt.Errorf("%w: invalid dtype %+v", ErrDescr, t)
	}
	return nil
}

// MarshalJSON writes the descriptor form of t: the type string, or for a
// record a list of [name, dtype] / [name, dtype, shape] entries, where name
// is [title, name] for a titled field.
func (t DType) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "<f8" readable, as numpy writes it
	if err := enc.Encode(t.jsonValue()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (t DType) jsonValue() any {
	if t.Fields == nil {
		return t.TypeStr()
	}
	out := make([]any, len(t.Fields))
	for i, f := range t.Fields {
		var name any = f.Name
		if f.Title != "" {
			name = []string{f.Title, f.Name}
		}
		e := []any{name, f.Type.jsonValue()}
		if f.Shape != nil {
			e = append(e, f.Shape)
		}
		out[i] = e
	}
	return out
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *DType) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	u, err := dtypeFromJSON(v)
	if err != nil {
		return err
	}
	*t = u
	return nil
}

func dtypeFromJSON(v any) (DType, error) {
	l, err := jsonToLit(v)
	if err != nil {
		return DType{}, err
	}
	return dtypeFromLit(l)
}

// jsonToLit maps a JSON dtype onto the literal form the header parser uses:
// lists inside a field entry become tuples, a field list stays a list.
func jsonToLit(v any) (lit, error) {
	switch v := v.(type) {
	case string:
		return lit{kind: litStr, str: v}, nil
	case []any:
		l := lit{kind: litList}
		for _, e := range v {
			entry, ok := e.([]any)
			if !ok || len(entry) < 2 || len(entry) > 3 {
				return lit{}, fmt.Errorf("%w: JSON field entry must be [name, dtype] or [name, dtype, shape]", ErrDescr)
			}
			f := lit{kind: litTuple}
			switch name := entry[0].(type) {
			case string:
				f.elems = append(f.elems, lit{kind: litStr, str: name})
			case []any:
				t := lit{kind: litTuple}
				for _, s := range name {
					str, ok := s.(string)
					if !ok {
						return lit{}, fmt.Errorf("%w: JSON field title must be a string", ErrDescr)
					}
					t.elems = append(t.elems, lit{kind: litStr, str: str})
				}
				f.elems = append(f.elems, t)
			default:
				return lit{}, fmt.Errorf("%w: JSON field name must be a string", ErrDescr)
			}
			sub, err := jsonToLit(entry[1])
			if err != nil {
				return lit{}, err
			}
			f.elems = append(f.elems, sub)
			if len(entry) == 3 {
				shape, ok := entry[2].([]any)
				if !ok {
					return lit{}, fmt.Errorf("%w: JSON field shape must be a list", ErrDescr)
				}
				s := lit{kind: litTuple}
				for _, d := range shape {
					n, ok := d.(float64)
					if !ok || n != math.Trunc(n) || n < 0 || n > maxItemSize {
						return lit{}, fmt.Errorf("%w: JSON field shape must hold non-negative ints", ErrShape)
					}
					s.elems = append(s.elems, lit{kind: litInt, num: int64(n)})
				}
				f.elems = append(f.elems, s)
			}
			l.elems = append(l.elems, f)
		}
		return l, nil
	}
	return lit{}, fmt.Errorf("%w: JSON dtype must be a string or a list", ErrDescr)
}
