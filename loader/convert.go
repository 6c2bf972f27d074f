package loader

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Conversion: one field's text into its bytes in the row, by numpy's
// loadtxt rules, as checked against numpy 2.x. Numbers may have
// surrounding spaces and tabs; strings keep theirs.

var errSyntax = errors.New("syntax")

// convert converts one field of the given kind into dst (the column's bytes in
// the row; its length is the field's size).
func convert(dst []byte, kind byte, f []byte) error {
	switch kind {
	case 'f':
		v, err := toFloat(f)
		if err != nil {
			return err
		}
		if len(dst) == 4 {
			putF32(dst, v)
		} else {
			putF64(dst, v)
		}
	case 'i':
		bits := uint(8 * len(dst))
		v, err := toInt(f, -1<<(bits-1), 1<<(bits-1)-1)
		if err != nil {
			return err
		}
		putInt(dst, uint64(v))
	case 'u':
		v, err := toUint(f, math.MaxUint64>>(64-8*uint(len(dst))))
		if err != nil {
			return err
		}
		putInt(dst, v)
	case 'b':
		v, err := toInt(f, math.MinInt64, math.MaxInt64)
		if err != nil {
			return err
		}
		dst[0] = 0
		if v != 0 {
			dst[0] = 1
		}
	case 'S':
		return putLatin1(dst, f)
	case 'U':
		return putUCS4(dst, f)
	}
	return nil
}

func putInt(dst []byte, v uint64) {
	switch len(dst) {
	case 1:
		dst[0] = byte(v)
	case 2:
		putU16(dst, uint16(v))
	case 4:
		putU32(dst, uint32(v))
	default:
		putU64(dst, v)
	}
}

func fieldError(c *chunk, ln int, line []byte, k int, col column, field []byte, err error) error {
	return &ParseError{File: c.in.path, Line: ln, Text: string(line[:min(len(line), 200)]),
		Err: fmt.Errorf("column %d (%s): cannot convert %q to %s: %v", k+1, col.name, field, kindName(col), err)}
}

func kindName(c column) string {
	switch c.kind {
	case 'S', 'U':
		return fmt.Sprintf("%c%d", c.kind, map[bool]int{true: c.size / 4, false: c.size}[c.kind == 'U'])
	case 'b':
		return "bool"
	}
	return fmt.Sprintf("%c%d", c.kind, c.size)
}

// toUint reads [+]digits (no decimal point, no exponent) up to max.
func toUint(b []byte, max uint64) (uint64, error) {
	b = trimSpace(b)
	if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, errSyntax
	}
	var n uint64
	if len(b) <= 19 { // cannot overflow uint64: no division per digit
		for _, c := range b {
			d := uint64(c - '0')
			if d > 9 {
				return 0, errSyntax
			}
			n = n*10 + d
		}
		if n > max {
			return 0, strconv.ErrRange
		}
		return n, nil
	}
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, errSyntax
		}
		if n > (max-d)/10 {
			return 0, strconv.ErrRange
		}
		n = n*10 + d
	}
	return n, nil
}

// toInt reads [+-]digits within [min, max].
func toInt(b []byte, min, max int64) (int64, error) {
	b = trimSpace(b)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		u, err := toUint(b[1:], uint64(-(min+1))+1)
		if err != nil || (len(b) > 1 && b[1] == '+') {
			return 0, cmpErr(err)
		}
		return -int64(u-1) - 1, nil
	}
	u, err := toUint(b, uint64(max))
	return int64(u), err
}

func cmpErr(err error) error {
	if err == nil {
		return errSyntax
	}
	return err
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// toFloat reads a decimal float as numpy does: [+-] digits [. digits]
// [e [+-] digits], or inf, infinity, nan in any case; overflow is ±inf;
// hexadecimal and underscores are errors. Plain decimals take fastFloat;
// the rest go to strconv.ParseFloat. Both round correctly to the nearest
// double, as numpy's parser does.
func toFloat(b []byte) (float64, error) {
	b = trimSpace(b)
	if f, e, ok := fastFloat(b, 0); ok && e == len(b) {
		return f, nil
	}
	return slowFloat(b)
}

// fastFloat reads [+-] digits [. digits] [(e|E) [+-] digits] at p when
// Clinger's fast path makes it exact: at most 19 digits, a mantissa below
// 2^53 and a power of ten at most 22 (one correctly rounded multiply or
// divide). It returns the value and the number's end; ok is false for
// anything else (the caller falls back to slowFloat, or to an error).
func fastFloat(b []byte, p int) (f float64, q int, ok bool) {
	q = p
	c := byte(word(b, q))
	neg := c == '-'
	if c == '-' || c == '+' {
		q++
	}
	mant, e, ok := scanDigits(b, q, 0, 19)
	if !ok {
		return 0, 0, false
	}
	digits, frac := e-q, 0
	if e < len(b) && b[e] == '.' {
		q = e + 1
		if mant, e, ok = scanDigits(b, q, mant, 19-digits); !ok {
			return 0, 0, false
		}
		frac = e - q
	}
	if digits+frac == 0 {
		return 0, 0, false
	}
	exp := 0
	if e < len(b) && b[e]|0x20 == 'e' {
		q = e + 1
		c := byte(word(b, q))
		if c == '-' || c == '+' {
			q++
		}
		x, e2, ok := scanDigits(b, q, 0, 4)
		if !ok || e2 == q {
			return 0, 0, false
		}
		exp, e = int(x), e2
		if c == '-' {
			exp = -exp
		}
	}
	e10 := exp - frac
	if mant>>53 != 0 || e10 < -22 || e10 > 22 {
		return 0, 0, false
	}
	f = float64(mant)
	if e10 < 0 {
		f /= pow10[-e10]
	} else {
		f *= pow10[e10]
	}
	if neg {
		f = -f
	}
	return f, e, true
}

func slowFloat(b []byte) (float64, error) {
	for _, c := range b {
		if c == '_' || c == 'x' || c == 'X' || c == 'p' || c == 'P' {
			return 0, errSyntax // strconv takes these; numpy does not
		}
	}
	if len(b) == 4 && (b[0] == '-' || b[0] == '+') && strings.EqualFold(string(b[1:]), "nan") {
		if b[0] == '-' { // numpy takes a signed nan; strconv does not
			return math.Float64frombits(0xfff8000000000000), nil
		}
		return math.Float64frombits(0x7ff8000000000000), nil
	}
	f, err := strconv.ParseFloat(stringView(b), 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange): // ErrRange: ±inf or 0, as numpy
		return 0, errSyntax
	case f != f: // NaN: the bits C's strtod (and so numpy) gives, sign included
		if b[0] == '-' {
			return math.Float64frombits(0xfff8000000000000), nil
		}
		return math.Float64frombits(0x7ff8000000000000), nil
	}
	return f, nil
}

// putLatin1 writes the text (UTF-8) as latin-1 bytes into dst, truncated,
// as numpy stores str in an S field. A character above U+00FF is an error.
func putLatin1(dst, b []byte) error {
	ascii := byte(0)
	for _, c := range b {
		ascii |= c
	}
	if ascii < utf8.RuneSelf {
		copy(dst, b)
		return nil
	}
	n := 0
	for len(b) > 0 && n < len(dst) {
		if b[0] < utf8.RuneSelf {
			dst[n] = b[0]
			b, n = b[1:], n+1
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return errors.New("invalid UTF-8")
		}
		if r > 0xff {
			return errors.New("character " + strconv.QuoteRune(r) + " does not fit a bytes (S) field")
		}
		dst[n] = byte(r)
		b, n = b[size:], n+1
	}
	return nil
}

// putUCS4 writes the text as little-endian UCS-4 into dst, truncated.
func putUCS4(dst, b []byte) error {
	for n := 0; len(b) > 0 && n+4 <= len(dst); n += 4 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return errors.New("invalid UTF-8")
		}
		dst[n], dst[n+1], dst[n+2], dst[n+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
		b = b[size:]
	}
	return nil
}

func putF32(dst []byte, f float64) { putU32(dst, math.Float32bits(float32(f))) }

func putF64(dst []byte, f float64) { putU64(dst, math.Float64bits(f)) }

func putU16(dst []byte, v uint16) { dst[0], dst[1] = byte(v), byte(v>>8) }

func putU32(dst []byte, v uint32) {
	dst[0], dst[1], dst[2], dst[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func putU64(dst []byte, v uint64) { putU32(dst, uint32(v)); putU32(dst[4:], uint32(v>>32)) }
