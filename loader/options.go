package loader

import (
	"errors"
	"fmt"

	"github.com/npshm/npshm/npy"
)

// What Load reads and how (np.loadtxt's arguments), and its errors.

// Options says how to read the text, as np.loadtxt's arguments do.
type Options struct {
	// DType is a structured dtype (one field per column, in order) or a
	// plain type (every column, giving rows x columns).
	DType npy.DType
	// Delimiter separates columns; "" means runs of whitespace (numpy's
	// delimiter=None).
	Delimiter string
	// Comments starts a comment that runs to the end of the line; ""
	// means no comments. np.loadtxt's default is "#".
	Comments string
	// SkipHeader skips this many lines at the start of each file, comment
	// lines included (numpy's skiprows).
	SkipHeader int
	// UseCols picks the columns to read, in order; negative indices count
	// from the end of the line. nil reads them all.
	UseCols []int
	// NDMin is numpy's ndmin: 0 (loadtxt's default) squeezes dimensions
	// of size one, 1 and 2 guarantee that many dimensions.
	NDMin int
	// Concat loads all files, in order, into one array.
	Concat bool
	// MaxLineBytes is the longest line Load reads, its line end not
	// counted (0: DefaultMaxLineBytes); a longer one is a *ParseError
	// wrapping ErrLineTooLong. It bounds the memory one line can take
	// (np.loadtxt has no limit: it holds a line, however long, in memory).
	MaxLineBytes int
	// Progress, if set, is called about ten times a second while loading
	// with the bytes read so far and the total: the files' sizes (.gz
	// files count compressed; pipes count in done, not in total).
	Progress func(done, total int64)
}

// ParseError is a line that could not be loaded.
type ParseError struct {
	File string
	Line int    // 1-based
	Text string // the line, cut to 200 bytes
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %v: %q", e.File, e.Line, e.Err, e.Text)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrUnsupported is a dtype the loader cannot fill from text.
var ErrUnsupported = errors.New("unsupported field type for text loading")

// ErrInputChanged is an input file that changed (was truncated, shrunk,
// grown or rewritten) while it was being loaded: the loaded rows would mix
// two versions of it, so nothing is kept.
var ErrInputChanged = errors.New("input file changed while loading")

// ErrLineTooLong is a line longer than Options.MaxLineBytes.
var ErrLineTooLong = errors.New("line too long")

// DefaultMaxLineBytes is the longest line Load reads when
// Options.MaxLineBytes is 0.
const DefaultMaxLineBytes = 64 << 20
