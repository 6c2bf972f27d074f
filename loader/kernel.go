package loader

import (
	"bytes"
	"fmt"
	"math"
)

// The row kernel in Go: one pass over a chunk's text that splits it into
// lines and fields and converts the common fields as it scans. Its twin in
// C (kernel.c) is used where cgo is; this one is the reference.

// rowKernel parses the common case (no usecols, whitespace or a one-byte
// delimiter, a one-byte comment marker or none) in one pass over the text:
// it finds lines, fields and comments as it goes and converts each field in
// the scan that finds its end, eight bytes at a time (swar.go).
//
// The fast paths take the common shapes: ints of up to 15 digits, decimals
// [-]d{0,7}[.d{0,7}], ASCII text, each read from one or two 8-byte words
// with the byte after the field taken from the same word. Anything else (a
// '+' sign, spaces around a number under a delimiter, exponents, long
// numbers, non-ASCII text, U and bool fields) goes to the general converter
// convert, so a result never depends on the path that made it.
type rowKernel struct {
	ws      bool // fields are separated by runs of whitespace (numpy's delimiter=None)
	delim   byte
	hasMark bool
	mark    byte
	fastNum bool       // numbers may take the fast paths (the delimiter and mark are not number bytes)
	stop    [256]uint8 // per byte: 0 part of a field, 1 ends one, 2 ends one at a line end ('\r' under a delimiter)
	textW   uint64     // the delimiter in every byte (text fields stop there)
	markW   uint64     // the comment mark in every byte

	// scan's input and output, kept here rather than in its arguments:
	// fewer live values in its loop, fewer spills.
	t       text      // the lines
	end     int       // where they end
	out     record    // the chunk's rows
	rowSize int       // bytes per row
	cols    []fastCol // the columns
}

func newRowKernel(s splitter) *rowKernel {
	r := &rowKernel{ws: len(s.delim) == 0, hasMark: len(s.comments) == 1, fastNum: true}
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
func (r *rowKernel) endsAt(b []byte, e int) bool {
	switch {
	case e >= len(b):
		return true
	case e+1 == len(b):
		return r.endsWith(b[e], '\n')
	}
	return r.endsWith(b[e], b[e+1])
}

// fieldEnd is the end of the field that starts at p: the general scan.
func (r *rowKernel) fieldEnd(b []byte, p int) int {
	for p < len(b) && !r.endsAt(b, p) && !(r.ws && b[p] >= 0x80 && spaceLen(b[p:]) > 0) {
		p++
	}
	return p
}

// skipSpace passes the whitespace at p (spaceLen's, Unicode's included),
// stopping at the line's '\n'.
func (r *rowKernel) skipSpace(b []byte, p int) int {
	for b[p] != '\n' {
		n := spaceLen(b[p:])
		if n == 0 {
			break
		}
		p += n
	}
	return p
}

// rows fills dst with the chunk's rows and returns how many it found in
// how many lines. Lines that end 16 bytes or more before the chunk's end
// are read in place; the rest, and a last line without '\n', from a small
// padded copy.
func (r *rowKernel) rows(c *chunk, dst []byte, rowSize int, cols []column, structured bool) (rows, lines int, err error) {
	b := c.data
	safe := 0 // b[:safe] is whole lines with pad bytes after them
	if len(b) > pad {
		safe = bytes.LastIndexByte(b[:len(b)-pad], '\n') + 1
	}
	l := lineState{c: c, dst: dst, rowSize: rowSize, cols: cols, structured: structured, ln: c.line0 + 1}
	r.out, r.rowSize, r.cols = recordOf(dst), rowSize, fastColumns(cols)
	if err := r.lines(&l, b, safe); err != nil || safe == len(b) {
		return l.row, l.ln - c.line0 - 1, err
	}
	tail := make([]byte, len(b)-safe, len(b)-safe+1+pad)
	copy(tail, b[safe:])
	end := len(tail)
	if tail[end-1] != '\n' {
		tail = append(tail, '\n')
	}
	for len(tail) < cap(tail) {
		tail = append(tail, '\n')
	}
	err = r.lines(&l, tail, end)
	return l.row, l.ln - c.line0 - 1, err
}

// lines parses the lines of b[:end]; every one ends with '\n', with pad
// readable bytes after it. scan does the common work; this loop the rest
// (blank and comment lines, fields with no fast path, errors).
func (r *rowKernel) lines(l *lineState, b []byte, end int) error {
	cols, want := l.cols, len(l.cols)
	t := textOf(b)
	r.t, r.end = t, end
	lineStart := func(p int) int { return bytes.LastIndexByte(b[:p], '\n') + 1 }
	scan, native := r.scan, nativeKernel
	if native != nil && !goKernelOnly {
		var release func()
		scan, release = native(r)
		defer release()
	}
	calls, row0 := 0, l.row
	p, k := 0, 0
	for p < end {
		if k == 0 { // at a line's start
			q := p
			if r.ws { // leading whitespace is not a field; under a delimiter it is part of the first
				q = r.skipSpace(b, q)
			}
			if b[q] == '\n' {
				p, l.ln = q+1, l.ln+1
				continue // blank (under a delimiter: empty; spaces are a field)
			}
			if r.hasMark && b[q] == r.mark {
				p, l.ln = endOfLine(b, q)+1, l.ln+1
				continue // comment-only
			}
			p = q
		}
		var ro int
		var st scanStatus
		if calls++; calls == 64 && calls > l.row-row0 && native != nil {
			scan = r.scan // the rows need the general path often: calls into C would cost more than they save
		}
		p, k, ro, st = scan(p, l.row*l.rowSize, k)
		n := ro/l.rowSize - l.row
		l.row, l.ln = l.row+n, l.ln+n
		switch st {
		case scanEnd, scanLine:
			continue
		case scanSlow: // field k, at p, by the general path
			if r.ws && b[p] >= 0x80 && spaceLen(b[p:]) > 0 { // whitespace beyond ASCII, which scan does not know
				if k == 0 {
					continue // at a line's start: the loop's top takes it
				}
				if p = r.skipSpace(b, p); b[p] == '\n' || r.hasMark && b[p] == r.mark {
					break // the line's end
				}
			}
			e := r.fieldEnd(b, p)
			if k < want { // else too many fields: counted, reported at the line's end
				col := &cols[k]
				row := l.dst[l.row*l.rowSize : (l.row+1)*l.rowSize]
				if err := convert(row[col.offset:col.offset+col.size], col.kind, b[p:e]); err != nil {
					return fieldError(l.c, l.ln, lineAt(b, lineStart(p)), k, *col, b[p:e], err)
				}
			}
			k++
			more := false
			if p, more = r.skipSeparator(b, e); more {
				continue
			}
		}
		// The line's end: p is at its '\n', at a comment mark, or at the '\r'
		// before one.
		if b[p] != '\n' {
			p = endOfLine(b, p)
		}
		if k != want {
			msg := fmt.Errorf("the number of columns changed from %d to %d", want, k)
			if l.structured {
				msg = fmt.Errorf("the dtype requires %d columns but %d were found", want, k)
			}
			line := lineAt(b, lineStart(p))
			return &ParseError{File: l.c.in.path, Line: l.ln, Text: string(line[:min(len(line), 200)]), Err: msg}
		}
		p, k, l.row, l.ln = p+1, 0, l.row+1, l.ln+1
	}
	return nil
}

// skipSeparator passes the separator after a field that ends at e. It
// returns the next field's start and true, or the line's '\n' or a comment
// mark and false.
func (r *rowKernel) skipSeparator(b []byte, e int) (int, bool) {
	if r.ws {
		e = r.skipSpace(b, e)
		return e, b[e] != '\n' && !(r.hasMark && b[e] == r.mark)
	}
	if b[e] == r.delim {
		return e + 1, true // even at the line's end: an empty last field
	}
	if b[e] == '\r' { // "\r\n", or '\r' before a comment (endsAt)
		e++
	}
	return e, false
}

// endsWith reports that c, followed by c2, ends a field.
func (r *rowKernel) endsWith(c, c2 byte) bool {
	s := r.stop[c]
	return s == 1 || s == 2 && (c2 == '\n' || r.hasMark && c2 == r.mark)
}

// scan converts fields k, k+1, ... of the line where field k starts at p,
// and then whole lines, into out: the chunk's rows, the current one at
// offset ro. It stops at the first thing it has no fast path for and
// returns where, the next field's index, the row offset there and why.
// Every line must end with '\n' and have pad readable bytes after it.
//
// The fast paths are written out here, and anything rare returns to the
// caller: Go's calling convention saves no registers across a call, and a
// call anywhere in this loop, even on a path never taken, would make the
// compiler keep the loop's state on the stack.
func (r *rowKernel) scan(p, ro, k int) (int, int, int, scanStatus) {
	t, out, cols := r.t, r.out, r.cols
	for {
		if k == len(cols) {
			return p, k, ro, scanSlow // more fields than the dtype has: the caller counts them
		}
		col := &cols[k]
		off := ro + int(col.offset)
		// Each fast path leaves the field's end (e), the byte there (c) and
		// the one after it (c2, or '\n' if it was not in the word loaded).
		var e int
		var c, c2 byte
		switch col.kind {
		case 'i', 'u':
			// [-]d{1,15}, from one or two words; the byte after the digits
			// is byte i of w.
			if !r.fastNum {
				return p, k, ro, scanSlow
			}
			q, w, neg := number(t, p)
			n := digitRun(w)
			v, i := digitsValue(w, n), n
			if n == 8 {
				w = t.word(q + 8)
				if i = digitRun(w); i > 0 {
					v = v*pow10u[i&15] + digitsValue(w, i)
				}
				n += i
			}
			lim := col.max
			if neg {
				lim++
			}
			c, c2 = byteAt(w, i), byteAt(w>>8|'\n'<<56, i)
			if n == 0 || i == 8 || !r.endsWith(c, c2) || v > lim || neg && col.kind == 'u' {
				return p, k, ro, scanSlow // convert reports an overflow or a syntax error
			}
			if neg {
				v = -v
			}
			switch col.size {
			case 4:
				out.put32(off, uint32(v))
			case 8:
				out.put64(off, v)
			case 2:
				out.put16(off, uint16(v))
			default:
				out.put8(off, byte(v))
			}
			e = q + n
		case 'f':
			// [-]d{0,7}[.d{0,7}]: exact by Clinger's fast path (the mantissa
			// is below 10^14 < 2^53 and the power of ten at most 7: one
			// correctly rounded division). Other forms go to convert.
			if !r.fastNum {
				return p, k, ro, scanSlow
			}
			q, w, neg := number(t, p)
			n := digitRun(w)
			var mant uint64
			i, frac := n, 0
			e = q + n
			// If the whole number is in w, j is w without its '.': the digits
			// on both sides of it as one run.
			lo := uint64(1)<<(8*uint(n)&63) - 1
			j := w&lo | w>>8&^lo
			run := digitRun(j)
			if byteAt(w, n) != '.' {
				mant = digitsValue(w, n)
			} else if n < 7 && run < 7 {
				frac = run - n
				mant = digitsValue(j, run)
				e, i = e+1+frac, run+1
			} else {
				if n > 0 {
					mant = digitsValue(w, n)
				}
				w = t.word(e + 1)
				if frac = digitRun(w); frac > 0 {
					mant = mant*pow10u[frac&15] + digitsValue(w, frac)
				}
				e, i = e+1+frac, frac
			}
			c, c2 = byteAt(w, i), byteAt(w>>8|'\n'<<56, i)
			if n == 8 || frac == 8 || n+frac == 0 || !r.endsWith(c, c2) {
				return p, k, ro, scanSlow
			}
			f := float64(mant) / pow10[frac&15]
			if neg {
				f = -f
			}
			if col.size == 4 {
				out.put32(off, math.Float32bits(float32(f)))
			} else {
				out.put64(off, math.Float64bits(f))
			}
		case 'S':
			// ASCII text, a word at a time up to its first stop byte.
			q := p
			var w, m uint64
			for {
				w = t.word(q)
				if r.ws {
					m = below(w, 0x21)
				} else {
					m = zeroBytes(w^r.textW) | zeroBytes(w^'\n'*ones) | zeroBytes(w^'\r'*ones)
				}
				if m |= w & highs; r.hasMark {
					m |= zeroBytes(w ^ r.markW)
				}
				if m != 0 {
					break
				}
				q += 8
			}
			j := firstByte(m)
			e, c, c2 = q+j, byteAt(w, j), byteAt(w>>8|'\n'<<56, j)
			if c >= 0x80 || !r.endsWith(c, c2) {
				return p, k, ro, scanSlow // non-ASCII (latin-1 rules), or a control byte
			}
			n := min(e-p, int(col.size)) // numpy truncates; the rest of the field stays zero
			if q == p && col.size >= 8 { // the text is in w
				out.put64(off, w&(1<<(8*uint(n)&63)-1|-(uint64(n)>>3)))
			} else {
				x := 0
				for ; x+8 <= n; x += 8 {
					out.put64(off+x, t.word(p+x))
				}
				for ; x < n; x++ {
					out.put8(off+x, t.at(p+x))
				}
			}
		default:
			return p, k, ro, scanSlow
		}
		if r.ws {
			if c == ' ' && r.stop[c2] == 0 {
				p, k = e+1, k+1
				continue // one space, then the next field: the common case
			}
			for p = e; t.at(p) != '\n' && isSpace[t.at(p)]; p++ {
			}
			if c := t.at(p); c != '\n' && !(r.hasMark && c == r.mark) {
				k++
				continue
			}
		} else {
			if c == r.delim {
				p, k = e+1, k+1
				continue
			}
			if p = e; c == '\r' {
				p++ // "\r\n", or '\r' before a comment mark (endsWith)
			}
		}
		k++
		if t.at(p) != '\n' || k != len(cols) {
			return p, k, ro, scanLineEnd // a comment (or "\r\n"), or too few fields
		}
		// The next line; the caller takes one that starts with whitespace or
		// a comment mark.
		p, k, ro = p+1, 0, ro+r.rowSize
		if p >= r.end {
			return p, k, ro, scanEnd
		}
		if c := t.at(p); isSpace[c] || r.hasMark && c == r.mark {
			return p, k, ro, scanLine
		}
	}
}

// pad is how many readable bytes the row loop needs after the '\n' that
// ends a line (it loads 8 bytes at a time, never from past that '\n').
const pad = 16

// lineState is rows' progress, across its two calls of rowKernel.lines.
type lineState struct {
	c          *chunk
	dst        []byte
	rowSize    int
	cols       []column
	structured bool
	row, ln    int // rows found, and the current line's number (1-based)
}

// nativeKernel, if set (kernel_cgo.go), makes scan in C for r's current
// lines: the same results, faster. goKernelOnly turns it off (tests).
var (
	nativeKernel func(r *rowKernel) (scan func(p, ro, k int) (int, int, int, scanStatus), release func())
	goKernelOnly bool
)

func fastColumns(cols []column) []fastCol {
	fast := make([]fastCol, len(cols))
	for i, c := range cols {
		fast[i] = fastCol{max: c.max, offset: int32(c.offset), size: uint16(c.size), kind: c.kind}
		if c.size > math.MaxUint16 || c.offset > math.MaxInt32 {
			fast[i].kind = 0 // too big for fastCol: the general path
		}
	}
	return fast
}

// fastCol is a column as scan needs it, small (16 bytes) so that indexing
// is a shift.
type fastCol struct {
	max    uint64 // the largest value of an integer kind
	offset int32
	size   uint16
	kind   byte // 0: always the general path
}

type scanStatus uint8

const (
	scanEnd     scanStatus = iota // p is at the end
	scanLine                      // p is at a line that starts with whitespace or a comment mark
	scanSlow                      // field k, at p, needs the general path (or is one too many)
	scanLineEnd                   // the line ends at p with a comment (or the '\r' before one), or with too few fields
)

// number starts reading a number at p: where its digits start (after a
// '-'), the word there, and its sign.
func number(t text, p int) (q int, w uint64, neg bool) {
	q, w = p, t.word(p)
	if neg = byte(w) == '-'; neg {
		q++
		w = t.word(q)
	}
	return q, w, neg
}
