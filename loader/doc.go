// Package loader parses delimited text files (the np.loadtxt workflow)
// straight into arrays in shared memory, on every core.
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
// Every input is mapped (or, for .gz, decompressed) and cut into chunks at
// line boundaries. Pass 1 counts, on all cores, the data rows and lines of
// each chunk; that fixes every array's size and every chunk's first row and
// line number. Pass 2 parses each chunk, on all cores, directly into its
// place in the array's segment. A malformed line is an error naming
// file:line and the text, and every array made so far is removed: nothing
// is published half-filled.
package loader
