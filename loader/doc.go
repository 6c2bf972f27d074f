// Package loader parses delimited text files (the np.loadtxt workflow)
// into arrays in shared memory, on every core.
//
// The result equals np.loadtxt on the same file and dtype: the same values
// (floats are parsed to the nearest double, then cast, as numpy does for
// float32), the same dtype, and the same shape, including loadtxt's squeeze
// of size-one dimensions (NDMin 0). Field types: bool, signed and unsigned
// integers, float32, float64, S<n> (latin-1 bytes, truncated) and U<n>
// (truncated), in a structured dtype (one field per column) or a plain
// dtype (a 2-D array of all columns). The text is read as np.loadtxt's
// text mode reads it: "\r\n" and a lone '\r' end lines (universal
// newlines); with no delimiter, fields are split on str.isspace()'s
// whitespace, Unicode's included (U+00A0 and the like); under a delimiter
// only an empty line is skipped (a line of spaces is a row); numbers may
// have whitespace around them, strings keep theirs.
//
// # How it runs
//
// Nothing is mapped and nothing is read twice. One reader reads each input
// in turn, a regular file, a pipe or FIFO, or a .gz stream, with read(2)
// into chunks of whole lines (about 8 MiB, or for a small load about 8 per
// parser and at least 256 KiB; the text after the last line end moves to
// the next chunk). The parsers, one per core, take chunks as
// they come and parse each into rows in a buffer of its own. Chunks then
// commit in input order: once the chunks before it have committed, a
// chunk's first row, and so its offset in its array, is known; its rows
// are written there with pwrite (bridge.ArrayWriter), by the parser that
// committed it, while the others parse on.
//
// The array's length is not known until its input ends. It is made at its
// second row, under a fresh "psm_" name, and grows chunk by chunk
// (ArrayWriter.SetShape): the header pads the row count to 21 digits, as
// numpy's does for files that grow, so it keeps its length and the data
// its offset. At the end the header gets the final shape; the image is
// byte for byte what np.save writes for the same array.
//
// Memory is bounded whatever the input: a load has workers+2 slots (a
// chunk's text and its rows; a dtype whose rows are large for their text
// gets smaller chunks, so a chunk's rows stay under 64 MiB), and the reader
// waits for a free slot. A line longer than a chunk grows its slot's
// buffer up to Options.MaxLineBytes (64 MiB by default); a longer line is
// an error naming file:line (ErrLineTooLong).
//
// A regular file's size and modification time are taken when it is
// opened and checked when it ends: a file truncated, shrunk, grown or
// rewritten meanwhile is an error wrapping ErrInputChanged, never a fault.
// Pipes are read until end of file.
//
// Parsing is one pass over the text, eight bytes at a time (SWAR): common
// fields (ints of up to 15 digits, decimals with up to 7 digits each side
// of the point, ASCII text) are converted in the scan that finds their end;
// anything else goes to the general converter, so results never depend on
// the path taken. The row kernel is in C where cgo is available
// (kernel.c) and in Go otherwise (kernel.go); both give the same bytes and
// both are tested against the general path.
//
// A malformed line is an error naming file:line and the text, and every
// array made so far is removed: nothing is published half-filled.
//
// # Files
//
// options.go: Options and the errors. load.go: the flow (the parsers, the
// ordered commit, the writes). read.go: inputs into chunks. split.go: lines
// and fields. convert.go: one field into its bytes. general.go: a chunk by
// the general path. kernel.go and kernel.c: the row kernel in Go and in C
// (kernel_cgo.go calls the C one). swar.go: the 8-byte helpers.
// unsafeviews.go: the unchecked views the kernel reads and writes through.
// layout.go: columns and the result's shape. spec.go: ParseSpec.
package loader
