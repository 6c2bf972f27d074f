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
package npy
