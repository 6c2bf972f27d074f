package loader

import (
	"encoding/binary"
	"fmt"
	"math"
)

// rowScanner parses the common case (no usecols, whitespace or a one-byte
// delimiter, a one-byte comment marker or none) in one pass over the text:
// it finds lines, fields and comments as it goes and converts each field in
// the scan that finds its end, eight bytes at a time (swar.go).
//
// The fast paths take the common shapes: ints of up to 15 digits, decimals
// [-]d{0,7}[.d{0,7}], ASCII text, each read from one or two 8-byte words
// with the byte after the field taken from the same word. Anything else (a
// '+' sign, spaces around a number under a delimiter, exponents, long
// numbers, non-ASCII text, U and bool fields) goes to the general converter
// put, so a result never depends on the path that made it.
type rowScanner struct {
	ws      bool // fields are separated by runs of whitespace (numpy's delimiter=None)
	delim   byte
	hasMark bool
	mark    byte
	fastNum bool       // numbers may take the fast paths (the delimiter and mark are not number bytes)
	stop    [256]uint8 // per byte: 0 part of a field, 1 ends one, 2 ends one at a line end ('\r' under a delimiter)
	textW   uint64     // stop bytes a text word is checked for: delim (or 0x21 under whitespace)
	markW   uint64     // the comment mark in every byte
}

func newRowScanner(s splitter) *rowScanner {
	r := &rowScanner{ws: len(s.delim) == 0, hasMark: len(s.comments) == 1, fastNum: true}
	if r.ws {
		for c, space := range isSpace {
			if space {
				r.stop[c] = 1
			}
		}
	} else {
		r.delim = s.delim[0]
		r.textW = uint64(r.delim) * ones
		r.stop[r.delim], r.stop['\n'], r.stop['\r'] = 1, 1, 2
	}
	if r.hasMark {
		r.mark = s.comments[0]
		r.markW = uint64(r.mark) * ones
		r.stop[r.mark] = 1
	}
	for _, c := range "0123456789.+-eE" {
		if r.stop[c] != 0 {
			r.fastNum = false // "1.5" must not end at a '.' delimiter or comment
		}
	}
	return r
}

// endsAt reports that a field ends at b[e]. Under a delimiter a '\r' ends
// one only at a line's end ("\r\n", or before a comment, or at the end).
func (r *rowScanner) endsAt(b []byte, e int) bool {
	if e >= len(b) {
		return true
	}
	switch r.stop[b[e]] {
	case 0:
		return false
	case 1:
		return true
	}
	return e+1 == len(b) || b[e+1] == '\n' || (r.hasMark && b[e+1] == r.mark)
}

// fieldEnd is the end of the field that starts at p: the general scan.
func (r *rowScanner) fieldEnd(b []byte, p int) int {
	for p < len(b) && !r.endsAt(b, p) {
		p++
	}
	return p
}

// textStops flags (high bit) the bytes of w that may end a text field, and
// the non-ASCII ones.
func (r *rowScanner) textStops(w uint64) uint64 {
	m := w & highs
	if r.ws {
		m |= below(w, 0x21)
	} else {
		m |= zeroBytes(w^r.textW) | zeroBytes(w^'\n'*ones) | zeroBytes(w^'\r'*ones)
	}
	if r.hasMark {
		m |= zeroBytes(w ^ r.markW)
	}
	return m
}

// textEnd is the end of the ASCII text field at p, or -1 if the field has
// a byte that needs the general path (non-ASCII, a control byte, a '\r'
// inside it).
func (r *rowScanner) textEnd(b []byte, p int) int {
	for q := p; ; q += 8 {
		m := r.textStops(word(b, q))
		if m == 0 {
			continue
		}
		e := q + firstByte(m)
		if e >= len(b) {
			return len(b)
		}
		if b[e] >= 0x80 || !r.endsAt(b, e) {
			return -1
		}
		return e
	}
}

// parse fills dst with the chunk's rows and returns how many it found.
func (r *rowScanner) parse(c *chunk, dst []byte, rowSize int, cols []column, structured bool) (int, error) {
	b := c.data
	want := len(cols)
	row, ln := 0, c.line0+1
	for p := 0; p < len(b); p, ln = p+1, ln+1 { // p is at a line start; the step passes its '\n'
		start := p
		q := p
		for q < len(b) && b[q] != '\n' && isSpace[b[q]] {
			q++
		}
		if q == len(b) || b[q] == '\n' {
			p = q
			continue // blank
		}
		if r.hasMark && b[q] == r.mark {
			p = endOfLine(b, q)
			continue // comment-only
		}
		if r.ws {
			p = q // leading whitespace is not a field; under a delimiter it is part of the first
		}
		var k int
		var bad *badField
		p, k, bad = r.row(b, p, dst[row*rowSize:(row+1)*rowSize], cols)
		if bad != nil {
			return row, fieldError(c, ln, lineAt(b, start), bad.k, cols[bad.k], b[bad.start:bad.end], bad.err)
		}
		if k != want {
			msg := fmt.Errorf("the number of columns changed from %d to %d", want, k)
			if structured {
				msg = fmt.Errorf("the dtype requires %d columns but %d were found", want, k)
			}
			line := lineAt(b, start)
			return row, &ParseError{File: c.in.path, Line: ln, Text: string(line[:min(len(line), 200)]), Err: msg}
		}
		row++
	}
	return row, nil
}

// badField is a field put could not convert.
type badField struct {
	k          int // its index
	start, end int // its bytes
	err        error
}

// row converts the fields of the data line at p into out and returns the
// line's end ('\n' or len(b)) and the number of fields found. The fast
// paths are written out here: Go's calling convention saves no registers
// across a call, so a call per field would reload the loop's state every
// time; row is called once per line.
func (r *rowScanner) row(b []byte, p int, out []byte, cols []column) (int, int, *badField) {
	want := len(cols)
	k := 0
	for ; ; k++ {
		e := -1
		// A fast path also leaves the byte that ends the field (c) and the
		// one after it (c2; '\n' if not in the word): most separators are
		// then passed without reading the text again.
		var c, c2 byte
		if k < want && p < len(b) { // p == len(b): an empty last field, for put to report
			col := &cols[k]
			switch {
			case (col.kind == 'i' || col.kind == 'u') && r.fastNum:
				// [-]d{1,15}: one or two words; the byte after the digits is
				// byte i of w.
				q, w := p, word(b, p)
				neg := byte(w) == '-'
				if neg {
					q++
					w = word(b, q)
				}
				n := digitRun(w)
				v, i := digitsValue(w, n), n
				if n == 8 {
					w = word(b, q+8)
					if i = digitRun(w); i > 0 {
						v = v*pow10u[i&15] + digitsValue(w, i)
					}
					n += i
				}
				lim := col.max
				if neg {
					lim++
				}
				if n == 0 || i == 8 || r.stop[byteAt(w, i)] != 1 || v > lim || neg && col.kind == 'u' {
					break // put reports an overflow or a syntax error
				}
				if neg {
					v = -v
				}
				c, c2 = byteAt(w, i), byteAt(w>>8|'\n'<<56, i)
				switch o := out[col.offset:]; col.size {
				case 4:
					binary.LittleEndian.PutUint32(o, uint32(v))
				case 8:
					binary.LittleEndian.PutUint64(o, v)
				case 2:
					binary.LittleEndian.PutUint16(o, uint16(v))
				default:
					o[0] = byte(v)
				}
				e = q + n
			case col.kind == 'f' && r.fastNum:
				// [-]d{0,7}[.d{0,7}]: exact by Clinger's fast path (the
				// mantissa is below 10^14 < 2^53 and the power of ten at
				// most 7: one correctly rounded division).
				q, w := p, word(b, p)
				neg := byte(w) == '-'
				if neg {
					q++
					w = word(b, q)
				}
				n := digitRun(w)
				mant := digitsValue(w, n)
				if n == 0 {
					mant = 0
				}
				end, i, frac := q+n, n, 0
				if byteAt(w, n) == '.' {
					w = word(b, end+1)
					if frac = digitRun(w); frac > 0 {
						mant = mant*pow10u[frac&15] + digitsValue(w, frac)
					}
					end, i = end+1+frac, frac
				}
				var f float64
				if n < 8 && frac < 8 && n+frac > 0 && r.stop[byteAt(w, i)] == 1 {
					if f = float64(mant) / pow10[frac&15]; neg {
						f = -f
					}
					c, c2 = byteAt(w, i), byteAt(w>>8|'\n'<<56, i)
				} else if f, end, _ = fastFloat(b, p); end == 0 || !r.endsAt(b, end) {
					break // exponents, long mantissas, inf, nan, errors: put
				}
				if col.size == 4 {
					binary.LittleEndian.PutUint32(out[col.offset:], math.Float32bits(float32(f)))
				} else {
					binary.LittleEndian.PutUint64(out[col.offset:], math.Float64bits(f))
				}
				e = end
			case col.kind == 'S':
				// ASCII text: up to 7 bytes from one word, else textEnd.
				w := word(b, p)
				m := r.textStops(w)
				end := p + firstByte(m)
				if m == 0 || r.stop[byteAt(w, end-p)] != 1 {
					if end = r.textEnd(b, p); end < 0 {
						break // non-ASCII or control bytes: put
					}
				} else {
					c, c2 = byteAt(w, end-p), byteAt(w>>8|'\n'<<56, end-p)
				}
				n := min(end-p, col.size)
				if n <= 8 && col.size >= 8 {
					binary.LittleEndian.PutUint64(out[col.offset:], w&(1<<(8*uint(n))-1)) // zeros after the text, as numpy pads
				} else {
					copy(out[col.offset:col.offset+n], b[p:p+n])
				}
				e = end
			}
		}
		if e < 0 {
			e = r.fieldEnd(b, p)
			if k < want { // else too many fields: counted, reported below
				col := &cols[k]
				if err := put(out[col.offset:col.offset+col.size], col.kind, b[p:e]); err != nil {
					return p, k, &badField{k, p, e, err}
				}
			}
		}
		p = e
		if r.ws {
			if c == ' ' && r.stop[c2] == 0 {
				p++
				continue // one space, then the next field: the common case
			}
			for p < len(b) && b[p] != '\n' && isSpace[b[p]] {
				p++
			}
			if p < len(b) && b[p] != '\n' && !(r.hasMark && b[p] == r.mark) {
				continue // the next field
			}
		} else if p < len(b) && b[p] == r.delim {
			p++
			continue
		}
		if p < len(b) && b[p] != '\n' {
			p = endOfLine(b, p) // a comment or "\r\n"
		}
		k++
		break
	}
	return p, k, nil
}
