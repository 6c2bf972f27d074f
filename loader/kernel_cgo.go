//go:build cgo && (amd64 || arm64)

package loader

// The Go side of the row kernel in C (kernel.c, kernel.h): the same fast
// paths, in the same order, with the same answers as rowKernel.scan
// (kernel.go), which stays the reference and the fallback (builds without
// cgo; Go turns cgo off where there is no C compiler). A C compiler keeps
// this loop's state in registers, where Go's calling convention and
// register allocator spill it: about 1.2x faster on the seed's rows (go
// test ./loader -bench ChunkRows, with and without CGO_ENABLED=0). The
// differential tests run both kernels against the general path;
// scripts/test runs the loader's tests both ways.

/*
#cgo CFLAGS: -O3
#include "kernel.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// cKernel returns scan in C for r's current text, rows and columns (set by
// lines), and a release to call when done. The Go memory the C side reads
// and writes is pinned for that time, as cgo's pointer rules require.
func cKernel(r *rowKernel) (func(p, ro, k int) (int, int, int, scanStatus), func()) {
	var pin runtime.Pinner
	for _, ptr := range []unsafe.Pointer{r.t.base, r.out.base, unsafe.Pointer(unsafe.SliceData(r.cols)), unsafe.Pointer(&r.stop[0])} {
		if ptr != nil {
			pin.Pin(ptr)
		}
	}
	s := &C.npshm_scanner{
		text: (*C.uint8_t)(r.t.base), n: C.int64_t(r.t.n), end: C.int64_t(r.end),
		out: (*C.uint8_t)(r.out.base), outn: C.int64_t(r.out.n), rowsize: C.int64_t(r.rowSize),
		cols: (*C.npshm_col)(unsafe.Pointer(unsafe.SliceData(r.cols))), ncols: C.int64_t(len(r.cols)),
		stop: (*C.uint8_t)(unsafe.Pointer(&r.stop[0])), textw: C.uint64_t(r.textW), markw: C.uint64_t(r.markW),
		ws: cbool(r.ws), delim: C.uint8_t(r.delim), hasmark: cbool(r.hasMark), mark: C.uint8_t(r.mark), fastnum: cbool(r.fastNum),
	}
	scan := func(p, ro, k int) (int, int, int, scanStatus) {
		cp, ck, cro := C.int64_t(p), C.int64_t(k), C.int64_t(ro)
		st := C.npshm_scan(s, &cp, &ck, &cro)
		if st == C.S_BOUNDS {
			panic(errTextBounds)
		}
		return int(cp), int(ck), int(cro), scanStatus(st)
	}
	return scan, pin.Unpin
}

func cbool(b bool) C.uint8_t {
	if b {
		return 1
	}
	return 0
}

func init() {
	if unsafe.Sizeof(fastCol{}) != unsafe.Sizeof(C.npshm_col{}) {
		panic("loader: fastCol and npshm_col differ")
	}
	nativeKernel = cKernel
}
