// Package loader parses delimited text files (the np.loadtxt workflow)
// into arrays in shared memory, on every core.
//
// The result equals np.loadtxt on the same file and dtype: the same values
// (floats are parsed to the nearest double, then cast, as numpy does for
// float32), the same dtype, and the same shape, including loadtxt's squeeze
// of size-one dimensions (NDMin 0). Field types: bool, signed and unsigned
// integers, float32, float64, S<n> (latin-1 bytes, truncated) and U<n>
// (truncated), in a structured dtype (one field per column) or a plain
// dtype (a 2-D array of all columns).
//
// # How it runs
//
// Every input is mapped (or, for .gz, decompressed) and cut into chunks of
// about 8 MiB at line boundaries. Pass 1 counts, on all cores, each
// chunk's lines and data rows: the usual chunk (its first and last lines
// hold data) is taken to have one row per line, from a newline count at
// memory speed, and pass 2 checks that guess (a blank or comment-only line
// inside the chunk makes it wrong; then the rows are counted line by line
// and the load is redone). That fixes every array's size and every chunk's
// first row and line number. Pass 2 parses each chunk, on all cores, into
// a buffer, and writes the buffer into its place in the array's segment
// with pwrite (bridge.ArrayWriter).
//
// Parsing is one pass over the text, eight bytes at a time (SWAR): common
// fields (ints of up to 15 digits, decimals with up to 7 digits each side
// of the point, ASCII text) are converted in the scan that finds their end;
// anything else goes to the general converter, so results never depend on
// the path taken. The row kernel is in C where cgo is available
// (scan_cgo.go) and in Go otherwise (rows.go); both give the same bytes and
// both are tested against the general path.
//
// A malformed line is an error naming file:line and the text, and every
// array made so far is removed: nothing is published half-filled.
package loader
