// Package npy is numpy's .npy header codec and dtype model: bytes in, bytes
// out, no I/O beyond an optional io.Reader, no syscalls.
//
// # The .npy layout
//
// An image is a header followed by the array's data:
//
//	offset 0   "\x93NUMPY"                 magic
//	offset 6   major, minor                 version 1.0, 2.0 or 3.0
//	offset 8   header length               uint16 LE (1.0) or uint32 LE (2.0, 3.0)
//	then       header text                 Latin-1 (1.0, 2.0) or UTF-8 (3.0)
//	then       data                        starts at DataOffset, a multiple of 64
//
// The header text is the repr of a Python dict with exactly the keys
// 'descr' (the dtype: a type string such as '<f8' or a list of fields),
// 'fortran_order' (True when the data is in column-major order) and 'shape'
// (a tuple of ints), then spaces and a newline so that the data starts at a
// multiple of 64 bytes. numpy (>= 1.24) also leaves 21 - len(str(n)) spaces
// after the dict, where n is the growth axis (the first dimension, the last
// for Fortran order), so a writer can grow the array in place.
//
// Encode writes exactly what numpy writes for the same dtype, order and
// shape: the golden tests compare it, byte for byte, with headers numpy made
// (testdata/gen_goldens.py, checked under numpy 1.24 and 2.x).
//
// ParseHeader reads every header numpy writes, strictly: the text is parsed
// as a Python literal and never evaluated, its size is capped (10000
// characters by default, numpy's max_header_size), and shape x itemsize is
// checked for 64-bit overflow. Errors wrap the sentinels in errors.go.
//
// # What is a valid header
//
// Three readers parse these headers: numpy, this package and npshm's Python
// reader (pyshim/src/npshm/_format.py). numpy is the reference, and the two
// others accept exactly the same headers: whatever numpy cannot load, and a
// short list of things numpy loads but no writer makes or that cannot be
// shared safely. testdata/gen_header_corpus.py records numpy's verdict on
// hundreds of odd and mutated headers, and TestHeaderCorpus holds this
// package to it; the script's --fuzz mode runs random ones.
//
// As numpy: Python 2 'L' suffixes on ints in versions 1.0 and 2.0 (not 'l',
// not 3.0); repeated keys (the last counts); u-prefixed strings; -(3); line
// continuations; brackets nested up to 200 deep (CPython's limit); numpy's
// type codes alone or sized ('d' is '<f8', '<g' '<f16', 'b' int8 but 'b1'
// bool, 'i' int32, 'c' '|S1', 'S' '|S0'); datetime units with multipliers
// up to 2^31-1, read as numpy writes them ('M8[01s]' is 'M8[s]', any
// generic unit is 'M8'); unnamed void and subarray fields are padding, merged and dropped as numpy
// rewrites them; at most 64 dimensions (numpy 2; numpy 1.x allows 32 and
// npshm's Python reader follows the numpy it runs on); numpy's size check,
// which counts zero dimensions as 1, so (0, 2**62, 4) of '<f8' is refused;
// no '<f12' or '<c24' (they exist only on 32-bit x86). A field shape given
// as an int n is (n,), as numpy 2 reads it (numpy 1.x reads 1 as no shape).
//
// Refused on purpose, though numpy loads them:
//   - object dtypes ('|O', or a field holding one): their bytes are
//     pointers into one process (ParseHeader reads them, NBytes fails with
//     ErrObject);
//   - type strings outside the type-code grammar: names ('float64'), comma
//     lists ('i4,f8'), subarrays ('(2,)f8' or a ('<i4', (2,)) descr), 'a'
//     (deprecated), signs or spaces in sizes ('S+1'), leading zeros in fixed
//     sizes ('<f08'), divided units ('M8[s/4]'; numpy dies of SIGFPE on
//     'M8[s/0]');
//   - bools as dimensions ((True,) is (1,) to numpy), fields given as lists
//     rather than tuples, field shapes given as lists, non-string or empty
//     titles, field names that are not valid Unicode;
//   - Python syntax no writer uses: comments, hex/octal/binary ints, raw,
//     bytes, triple-quoted and adjacent strings, \N{...} escapes;
//   - shapes whose element count passes 2^63 though the itemsize is 0.
package npy
