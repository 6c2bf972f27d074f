package loader

import "bytes"

// Splitting: lines and fields as np.loadtxt cuts them, and whitespace as
// Python's str.isspace() knows it.

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

// skipLines drops the first n lines of data.
func skipLines(data []byte, n int) []byte {
	for ; n > 0 && len(data) > 0; n-- {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return nil
		}
		data = data[j+1:]
	}
	return data
}

// countLines counts b's lines, a last one without '\n' included.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// nextLine returns the first line of b (without "\n" or "\r\n") and the rest.
func nextLine(b []byte) (line, rest []byte) {
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:j], b[j+1:]
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// splitter cuts lines into fields as np.loadtxt does.
type splitter struct {
	delim    []byte
	comments []byte
}

// content strips a comment; ok is false for a line with no data: empty,
// or (with whitespace as the separator) all whitespace. Under a delimiter
// a line of spaces is data, one field of spaces, as numpy reads it.
func (s splitter) content(line []byte) ([]byte, bool) {
	if len(s.comments) > 0 {
		if j := bytes.Index(line, s.comments); j >= 0 {
			line = line[:j]
		}
	}
	if len(s.delim) > 0 {
		return line, len(line) > 0
	}
	for i := 0; i < len(line); {
		n := spaceLen(line[i:])
		if n == 0 {
			return line, true
		}
		i += n
	}
	return line, false
}

// fields appends the fields of a data line to dst.
func (s splitter) fields(dst [][]byte, line []byte) [][]byte {
	if len(s.delim) == 0 {
		for i := 0; i < len(line); {
			for n := spaceLen(line[i:]); n > 0; n = spaceLen(line[i:]) {
				i += n
			}
			j := i
			for j < len(line) && spaceLen(line[j:]) == 0 {
				j++
			}
			if j > i {
				dst = append(dst, line[i:j])
			}
			i = j
		}
		return dst
	}
	for {
		j := bytes.Index(line, s.delim)
		if j < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:j])
		line = line[j+len(s.delim):]
	}
}

// firstRowColumns is the number of fields in the first data row (-1 if
// none) and its 0-based line number.
func firstRowColumns(b []byte, line0 int, s splitter) (int, int) {
	for ln := line0; len(b) > 0; ln++ {
		var line []byte
		line, b = nextLine(b)
		if c, ok := s.content(line); ok {
			return len(s.fields(nil, c)), ln
		}
	}
	return -1, 0
}

// endOfLine is the index of the '\n' ending the line that holds p, or len(b).
func endOfLine(b []byte, p int) int {
	if e := bytes.IndexByte(b[p:], '\n'); e >= 0 {
		return p + e
	}
	return len(b)
}

// lineAt is the line of b that starts at start, without its newline.
func lineAt(b []byte, start int) []byte {
	line, _ := nextLine(b[start:])
	return line
}
