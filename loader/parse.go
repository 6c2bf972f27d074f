package loader

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// The field parsers: numpy's loadtxt rules, as checked against numpy 2.x.
// Numbers may have surrounding spaces and tabs; strings keep theirs.

var errSyntax = errors.New("syntax")

// isSpace is Python's str.isspace() on ASCII: what np.loadtxt splits on
// and strips around numbers. spaceLen adds the rest of Unicode's.
var isSpace = func() (t [256]bool) {
	for _, c := range " \t\n\v\f\r\x1c\x1d\x1e\x1f" {
		t[c] = true
	}
	return t
}()

// spaceLen is the length of the whitespace character that starts b, or 0:
// Python's str.isspace(), which np.loadtxt splits fields on (delimiter
// None) and strips around numbers. Beyond ASCII that is U+0085, U+00A0,
// U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000, here
// in UTF-8.
func spaceLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if c := b[0]; c < 0x80 {
		if isSpace[c] {
			return 1
		}
		return 0
	}
	switch {
	case len(b) >= 2 && b[0] == 0xC2 && (b[1] == 0x85 || b[1] == 0xA0):
		return 2
	case len(b) < 3:
		return 0
	case b[0] == 0xE1 && b[1] == 0x9A && b[2] == 0x80, // U+1680
		b[0] == 0xE2 && b[1] == 0x80 && (b[2] >= 0x80 && b[2] <= 0x8A || b[2] == 0xA8 || b[2] == 0xA9 || b[2] == 0xAF),
		b[0] == 0xE2 && b[1] == 0x81 && b[2] == 0x9F, // U+205F
		b[0] == 0xE3 && b[1] == 0x80 && b[2] == 0x80: // U+3000
		return 3
	}
	return 0
}

// trimSpace strips whitespace (spaceLen's) from both ends of b.
func trimSpace(b []byte) []byte {
	for n := spaceLen(b); n > 0; n = spaceLen(b) {
		b = b[n:]
	}
	for len(b) > 0 {
		switch {
		case b[len(b)-1] < 0x80 && isSpace[b[len(b)-1]]:
			b = b[:len(b)-1]
		case len(b) >= 2 && spaceLen(b[len(b)-2:]) == 2:
			b = b[:len(b)-2]
		case len(b) >= 3 && spaceLen(b[len(b)-3:]) == 3:
			b = b[:len(b)-3]
		default:
			return b
		}
	}
	return b
}

// parseUint reads [+]digits (no decimal point, no exponent) up to max.
func parseUint(b []byte, max uint64) (uint64, error) {
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

// parseInt reads [+-]digits within [min, max].
func parseInt(b []byte, min, max int64) (int64, error) {
	b = trimSpace(b)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		u, err := parseUint(b[1:], uint64(-(min+1))+1)
		if err != nil || (len(b) > 1 && b[1] == '+') {
			return 0, cmpErr(err)
		}
		return -int64(u-1) - 1, nil
	}
	u, err := parseUint(b, uint64(max))
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

// parseFloat reads a decimal float as numpy does: [+-] digits [. digits]
// [e [+-] digits], or inf, infinity, nan in any case; overflow is ±inf;
// hexadecimal and underscores are errors. Plain decimals take fastFloat;
// the rest go to strconv.ParseFloat. Both round correctly to the nearest
// double, as numpy's parser does.
func parseFloat(b []byte) (float64, error) {
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
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
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
