package npy

import "errors"

// Errors returned by the codec. Each error the package returns wraps exactly
// one of these, so callers can branch with errors.Is; the message around it
// names what was wrong.
var (
	// ErrNotNpy: the bytes do not start with the .npy magic string.
	ErrNotNpy = errors.New("not an npy image")
	// ErrVersion: a format version other than 1.0, 2.0 or 3.0.
	ErrVersion = errors.New("unsupported npy format version")
	// ErrTruncated: the input ends inside the magic, length or header.
	ErrTruncated = errors.New("truncated npy header")
	// ErrHeaderTooLarge: the header is longer than the configured cap.
	ErrHeaderTooLarge = errors.New("npy header too large")
	// ErrSyntax: the header is not a Python literal dict.
	ErrSyntax = errors.New("malformed npy header")
	// ErrKeys: the dict does not hold exactly descr, fortran_order, shape.
	ErrKeys = errors.New("npy header keys")
	// ErrDescr: descr is not a dtype description this package models.
	ErrDescr = errors.New("bad dtype descr")
	// ErrShape: shape is not a tuple of non-negative ints, has more than
	// MaxDims dimensions, or its size overflows 64-bit arithmetic.
	ErrShape = errors.New("bad shape")
	// ErrObject: the dtype holds Python objects ('|O'), whose bytes are
	// pointers into one process and cannot be shared or mapped.
	ErrObject = errors.New("object dtype cannot be shared")
)
