// The row kernel in C: the twin of rowScanner.scan (kernel.go). See
// kernel_cgo.go for how Go calls it.

#ifndef NPSHM_KERNEL_H
#define NPSHM_KERNEL_H

#include <stdint.h>

typedef struct {
	uint64_t max;
	int32_t offset;
	uint16_t size;
	uint8_t kind;
	uint8_t pad_;
} npshm_col; // fastCol's layout

typedef struct {
	const uint8_t *text; int64_t n, end;
	uint8_t *out; int64_t outn, rowsize;
	const npshm_col *cols; int64_t ncols;
	const uint8_t *stop;
	uint64_t textw, markw;
	uint8_t ws, delim, hasmark, mark, fastnum;
} npshm_scanner;

enum { S_END, S_LINE, S_SLOW, S_LINEEND, S_BOUNDS };

// npshm_scan converts fields *pk, *pk+1, ... of the line where field *pk
// starts at *pp, and then whole lines, into s->out, the current row at
// offset *pro; it stops at the first thing it has no fast path for and
// returns why (S_*), with *pp, *pk and *pro updated. As rowScanner.scan.
int npshm_scan(const npshm_scanner *s, int64_t *pp, int64_t *pk, int64_t *pro);

#endif
