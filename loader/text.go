package loader

import (
	"bytes"
)

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
