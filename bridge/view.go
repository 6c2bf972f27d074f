package bridge

// The only file in the package that uses unsafe: typed views over mapped
// bytes.

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/npshm/npshm/npy"
)

// Elem is the set of Go element types with a numpy counterpart of the same
// size and layout: bool (b1), intN (iN/8), uintN (uN/8), float32/64 (f4, f8),
// complex64/128 (c8, c16).
type Elem interface {
	~bool | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64 | ~complex64 | ~complex128
}

// DTypeOf is the numpy dtype (host byte order) matching the Go type T.
func DTypeOf[T Elem]() npy.DType {
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Bool:
		return npy.Bool
	case reflect.Int8:
		return npy.Int8
	case reflect.Int16:
		return npy.Int16
	case reflect.Int32:
		return npy.Int32
	case reflect.Int64:
		return npy.Int64
	case reflect.Uint8:
		return npy.Uint8
	case reflect.Uint16:
		return npy.Uint16
	case reflect.Uint32:
		return npy.Uint32
	case reflect.Uint64:
		return npy.Uint64
	case reflect.Float32:
		return npy.Float32
	case reflect.Float64:
		return npy.Float64
	case reflect.Complex64:
		return npy.Complex64
	default:
		return npy.Complex128
	}
}

// View is the array's data as a []T with no copy: element i of the
// flattened array in its memory order (C, or Fortran when FortranOrder).
// T must match the dtype exactly, in the host's byte order, else the error
// wraps ErrDType.
//
// The slice aliases shared memory: writes are seen by every process that
// maps the segment. It must not be used after Close, and for an array opened
// ReadOnly it must not be written to: the pages are mapped PROT_READ and a
// write faults.
func View[T Elem](a *Array) ([]T, error) {
	want, have := DTypeOf[T](), a.header.DType
	if have.IsStructured() || have.Kind != want.Kind || have.Size != want.Size || (have.Order != '|' && have.Order != npy.NativeOrder()) {
		return nil, fmt.Errorf("view %q as []%s: %w: array is %s, want %s",
			a.seg.Name(), reflect.TypeFor[T](), ErrDType, have, want)
	}
	if err := a.checkOpen(); err != nil {
		return nil, err
	}
	data := a.Data()
	if len(data) == 0 {
		return []T{}, nil
	}
	p := unsafe.Pointer(unsafe.SliceData(data))
	if uintptr(p)%unsafe.Alignof(*new(T)) != 0 {
		return nil, fmt.Errorf("view %q: data offset %d is not aligned for %s", a.seg.Name(), a.header.DataOffset, want)
	}
	return unsafe.Slice((*T)(p), len(data)/want.Size), nil
}
