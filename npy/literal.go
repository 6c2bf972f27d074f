package npy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a strict parser for the subset of Python literals that .npy
// headers use: dicts, tuples, lists, str, int, True, False and None. It never
// evaluates anything; whatever else appears is a syntax error.
//
// The subset, which npshm's Python reader enforces too: strings in single or
// double quotes, optionally u-prefixed, with Python's escapes except
// \N{...}; decimal ints with optional sign and underscores, and in format
// versions 1.0 and 2.0 the Python 2 'L' suffix numpy strips; whitespace is
// space, tab, form feed, newlines and backslash-newline; brackets nest up to
// 200 deep, as in CPython. Refused though Python takes them: comments,
// hex, octal and binary ints, raw, bytes, triple-quoted and adjacent
// strings, NUL characters.

type litKind uint8

const (
	litStr litKind = iota + 1
	litInt
	litBool
	litNone
	litTuple
	litList
	litDict
)

func (k litKind) String() string {
	return [...]string{"?", "str", "int", "bool", "None", "tuple", "list", "dict"}[k]
}

// lit is one parsed literal. For dicts, elems holds keys and vals values.
type lit struct {
	kind     litKind
	str      string
	num      int64
	overflow bool // an int literal outside int64
	truth    bool
	elems    []lit
	vals     []lit
}

// maxLiteralDepth bounds nesting so hostile input cannot exhaust the stack:
// CPython's parser allows 200 nested brackets.
const maxLiteralDepth = 200

type litParser struct {
	s     string
	pos   int
	depth int
	longs bool // take the Python 2 'L' suffix on ints (format 1.0 and 2.0)
}

// parseLiteral parses s as exactly one literal, surrounded only by whitespace.
// longs allows a Python 2 'L' after an int.
func parseLiteral(s string, longs bool) (lit, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return lit{}, fmt.Errorf("%w: at byte %d: NUL character", ErrSyntax, i)
	}
	if strings.Contains(s, `\N{`) {
		return lit{}, fmt.Errorf("%w: \\N{...} escapes are not supported", ErrSyntax)
	}
	p := litParser{s: s, longs: longs}
	v, err := p.value()
	if err != nil {
		return lit{}, err
	}
	for p.pos < len(p.s) && strings.IndexByte(" \t\n\r\f", p.s[p.pos]) >= 0 {
		p.pos++ // not space(): Python refuses a backslash-newline at the end
	}
	if p.pos != len(p.s) {
		return lit{}, p.errorf("unexpected %s after the literal", p.near())
	}
	return v, nil
}

func (p *litParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrSyntax, p.pos, fmt.Sprintf(format, args...))
}

// near quotes a few characters at the current position for error messages.
func (p *litParser) near() string {
	if p.pos >= len(p.s) {
		return "end of header"
	}
	end := min(p.pos+12, len(p.s))
	return strconv.Quote(p.s[p.pos:end])
}

func (p *litParser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f':
			p.pos++
		case '\\':
			if !p.continuation() {
				return
			}
		default:
			return
		}
	}
}

// continuation skips a backslash-newline.
func (p *litParser) continuation() bool {
	for _, nl := range []string{"\\\n", "\\\r\n", "\\\r"} {
		if strings.HasPrefix(p.s[p.pos:], nl) {
			p.pos += len(nl)
			return true
		}
	}
	return false
}

func (p *litParser) value() (lit, error) {
	p.space()
	if p.pos >= len(p.s) {
		return lit{}, p.errorf("unexpected end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.seq('{', '}', litDict)
	case c == '(':
		return p.seq('(', ')', litTuple)
	case c == '[':
		return p.seq('[', ']', litList)
	case c == '\'' || c == '"':
		return p.str()
	case c == 'u' || c == 'U':
		if p.pos+1 < len(p.s) && (p.s[p.pos+1] == '\'' || p.s[p.pos+1] == '"') {
			p.pos++ // Python 2 unicode prefix: same value as a plain str
			return p.str()
		}
	case c == '-' || c == '+' || ('0' <= c && c <= '9'):
		return p.integer()
	}
	for _, w := range [...]struct {
		word string
		v    lit
	}{{"True", lit{kind: litBool, truth: true}}, {"False", lit{kind: litBool}}, {"None", lit{kind: litNone}}} {
		if strings.HasPrefix(p.s[p.pos:], w.word) && !identChar(p.s, p.pos+len(w.word)) {
			p.pos += len(w.word)
			return w.v, nil
		}
	}
	return lit{}, p.errorf("unexpected %s (only Python literals are allowed)", p.near())
}

func identChar(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= 0x80 || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// seq parses a dict, tuple or list. A parenthesised single value without a
// trailing comma is that value, as in Python: "(5)" is 5, "(5,)" a tuple.
func (p *litParser) seq(open, close byte, kind litKind) (lit, error) {
	if p.depth++; p.depth > maxLiteralDepth {
		return lit{}, p.errorf("nesting deeper than %d", maxLiteralDepth)
	}
	defer func() { p.depth-- }()
	p.pos++ // open
	v := lit{kind: kind}
	sawComma := false
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == close {
			p.pos++
			if kind == litTuple && len(v.elems) == 1 && !sawComma {
				return v.elems[0], nil
			}
			return v, nil
		}
		if len(v.elems) > 0 && !sawComma {
			return lit{}, p.errorf("expected ',' or %q, found %s", close, p.near())
		}
		e, err := p.value()
		if err != nil {
			return lit{}, err
		}
		v.elems = append(v.elems, e)
		if kind == litDict {
			p.space()
			if p.pos >= len(p.s) || p.s[p.pos] != ':' {
				return lit{}, p.errorf("expected ':' in dict, found %s", p.near())
			}
			p.pos++
			val, err := p.value()
			if err != nil {
				return lit{}, err
			}
			v.vals = append(v.vals, val)
		}
		p.space()
		sawComma = p.pos < len(p.s) && p.s[p.pos] == ','
		if sawComma {
			p.pos++
		}
	}
}

func (p *litParser) integer() (lit, error) {
	start := p.pos
	neg := false
	parens := 0 // a sign may apply to a parenthesised number: -(3)
	if c := p.s[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
		for p.space(); p.pos < len(p.s) && p.s[p.pos] == '('; p.space() {
			p.pos++
			parens++
		}
	}
	digits := p.pos
	var n uint64
	overflow := false
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' && p.pos > digits && p.pos+1 < len(p.s) && isDigit(p.s[p.pos+1]) && isDigit(p.s[p.pos-1]) {
			p.pos++
			continue
		}
		if !isDigit(c) {
			break
		}
		if n > (1<<63)/10 {
			overflow = true
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			overflow = true
		}
		p.pos++
	}
	if p.pos == digits {
		p.pos = start
		return lit{}, p.errorf("expected a number, found %s", p.near())
	}
	if p.s[digits] == '0' && p.pos-digits > 1 && strings.Trim(p.s[digits:p.pos], "0_") != "" {
		return lit{}, p.errorf("leading zeros in integer %q", p.s[start:p.pos])
	}
	if p.longs { // Python 2 long suffix, which numpy strips from 1.0 and 2.0 headers
		end := p.pos
		for end < len(p.s) && (p.s[end] == ' ' || p.s[end] == '\t' || p.s[end] == '\f') {
			end++
		}
		if end < len(p.s) && p.s[end] == 'L' && !identChar(p.s, end+1) {
			p.pos = end + 1
		}
	}
	if identChar(p.s, p.pos) || (p.pos < len(p.s) && p.s[p.pos] == '.') {
		return lit{}, p.errorf("not an integer: %s", strconv.Quote(p.s[start:min(p.pos+1, len(p.s))]))
	}
	for ; parens > 0; parens-- {
		if p.space(); p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return lit{}, p.errorf("expected ')' after a signed number, found %s", p.near())
		}
		p.pos++
	}
	if !neg && n == 1<<63 {
		overflow = true
	}
	v := int64(n) // n == 1<<63 wraps to MinInt64, right when negated
	if neg {
		v = -v
	}
	return lit{kind: litInt, num: v, overflow: overflow}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (p *litParser) str() (lit, error) {
	q := p.s[p.pos]
	p.pos++
	if strings.HasPrefix(p.s[p.pos:], string([]byte{q, q})) {
		return lit{}, p.errorf("triple-quoted strings are not allowed")
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.s) {
			return lit{}, p.errorf("unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return lit{kind: litStr, str: b.String()}, nil
		case c == '\n' || c == '\r':
			return lit{}, p.errorf("newline inside string")
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return lit{}, err
			}
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return lit{}, p.errorf("invalid UTF-8 in string")
			}
			b.WriteString(p.s[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

var (
	simpleEscapes = map[byte]string{'\\': "\\", '\'': "'", '"': "\"", 'n': "\n", 'r': "\r", 't': "\t",
		'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v", '\n': ""}
	hexEscapes = map[byte]int{'x': 2, 'u': 4, 'U': 8}
)

func (p *litParser) escape(b *strings.Builder) error {
	p.pos++ // backslash
	if p.pos >= len(p.s) {
		return p.errorf("unterminated string")
	}
	c := p.s[p.pos]
	p.pos++
	if s, ok := simpleEscapes[c]; ok {
		b.WriteString(s)
		return nil
	}
	if n, ok := hexEscapes[c]; ok {
		if p.pos+n > len(p.s) {
			return p.errorf("truncated \\%c escape", c)
		}
		v, err := strconv.ParseUint(p.s[p.pos:p.pos+n], 16, 32)
		if err != nil || v > utf8.MaxRune {
			return p.errorf("bad \\%c escape %q", c, p.s[p.pos:p.pos+n])
		}
		p.pos += n
		if v >= 0xD800 && v < 0xE000 {
			// A lone surrogate, which Python strings may hold: kept as its
			// 3-byte (WTF-8) form, invalid UTF-8, refused if used as a name.
			b.Write([]byte{0xE0 | byte(v>>12), 0x80 | byte(v>>6)&0x3F, 0x80 | byte(v)&0x3F})
			return nil
		}
		b.WriteRune(rune(v))
		return nil
	}
	if '0' <= c && c <= '7' {
		v := int(c - '0')
		for i := 0; i < 2 && p.pos < len(p.s) && '0' <= p.s[p.pos] && p.s[p.pos] <= '7'; i++ {
			v = v*8 + int(p.s[p.pos]-'0')
			p.pos++
		}
		b.WriteRune(rune(v))
		return nil
	}
	// Python keeps unknown escapes verbatim (with a warning); the character
	// after the backslash is read as any other (it may be multi-byte).
	b.WriteByte('\\')
	p.pos--
	return nil
}
