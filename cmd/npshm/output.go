package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/npshm/npshm/bridge"
)

// Segment names and file contents come from other processes: a name may
// hold a newline, a tab or an escape sequence. Every text npshm prints for
// people that can carry them goes through escape (table cells, gc's lines,
// and all errors, through printError), so one name is one table cell on one
// line and cannot forge rows or drive the terminal. JSON goes through
// safeJSON (printJSON, printDescriptor): the same values, printable.

// printError prints err as "npshm: ..." lines, one per error errors.Join
// joined, with escape applied: the only way errors reach the terminal.
func printError(w io.Writer, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			printError(w, e)
		}
		return
	}
	fmt.Fprintf(w, "npshm: %s\n", escape(err.Error()))
}

// printJSON prints v as one JSON line (see safeJSON).
func printJSON(stdout io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := stdout.Write(safeJSON(b.Bytes()))
	return err
}

// printDescriptor prints d as one JSON line (see safeJSON).
func printDescriptor(stdout io.Writer, d bridge.Descriptor) error {
	_, err := stdout.Write(safeJSON([]byte(d.String() + "\n")))
	return err
}

// escape returns s with every rune a terminal would not simply show
// written as a Go escape (\n, \t, \x1b, \u202e), as strconv.Quote writes
// them: control characters (C0, DEL, C1), bidi overrides, line and
// paragraph separators and other format characters, spaces other than the
// ASCII space (strconv.IsPrint decides), and bytes of invalid UTF-8 (\xff).
// Everything else, backslashes included, is kept, so ordinary names print
// unchanged; --json gives the exact names.
func escape(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !printable(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case printable(r, n):
			b.WriteString(s[i : i+n])
		case n == 1 && r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// printable: rune r, decoded from n bytes, may be shown as it is.
func printable(r rune, n int) bool {
	return strconv.IsPrint(r) && !(r == utf8.RuneError && n == 1)
}

// safeJSON returns JSON text b with every rune that encoding/json leaves raw
// but a terminal would not simply show (DEL, C1 controls, bidi overrides,
// non-ASCII spaces) written as a \u escape, so the value is unchanged for
// any JSON reader and the line is safe to print. Such runes can only sit
// inside JSON strings, where a \u escape means the same rune. Whitespace
// between tokens and a trailing newline are kept.
func safeJSON(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if !jsonKeeps(r, n) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := append([]byte(nil), b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case jsonKeeps(r, n):
			out = append(out, b[i:i+n]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default: // invalid UTF-8 (which encoding/json never writes) reads as U+FFFD
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}

// jsonKeeps: rune r, decoded from n bytes, may stay raw in printed JSON.
// encoding/json escapes the C0 controls inside strings; those left are
// whitespace between tokens.
func jsonKeeps(r rune, n int) bool {
	return r == '\n' || r == '\t' || r == '\r' || printable(r, n)
}
