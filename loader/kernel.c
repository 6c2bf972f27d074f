//go:build cgo && (amd64 || arm64)

// The row kernel in C: the same fast paths, in the same order, with the
// same answers as rowScanner.scan (kernel.go), which stays the reference.

#include <stdint.h>
#include <string.h>

#include "kernel.h"

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS  0x7F7F7F7F7F7F7F7FULL

static const uint64_t pow10u[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
static const double pow10d[8] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};

static inline uint64_t load64(const uint8_t *b) {
	uint64_t w;
	memcpy(&w, b, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}
static inline void store(uint8_t *b, uint64_t v, int size) {
	uint32_t v4 = (uint32_t)v; uint16_t v2 = (uint16_t)v;
	switch (size) {
	case 8: memcpy(b, &v, 8); break;
	case 4: memcpy(b, &v4, 4); break;
	case 2: memcpy(b, &v2, 2); break;
	default: *b = (uint8_t)v;
	}
}
static inline int firstbyte(uint64_t m) { return m ? __builtin_ctzll(m) >> 3 : 8; }
static inline int digitrun(uint64_t w) {
	uint64_t x = w - '0' * ONES;
	return firstbyte(((x + (0x80 - 10) * ONES) | x) & HIGHS);
}
static inline uint64_t digitsvalue(uint64_t w, int n) {
	uint64_t v = (w - '0' * ONES) << ((64 - 8 * n) & 63);
	v = v * 10 + (v >> 8);
	v = ((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) + (((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)));
	return (uint32_t)(v >> 32);
}
static inline uint64_t zerobytes(uint64_t x) { return ~(((x & LOWS) + LOWS) | x) & HIGHS; }
static inline uint64_t below(uint64_t w, uint8_t c) { return ~(((w & LOWS) + (uint64_t)(0x80 - c) * ONES) | w) & HIGHS; }
static inline uint8_t byteat(uint64_t w, int i) { return (uint8_t)(w >> ((8 * i) & 63)); }
static inline int endswith(const npshm_scanner *s, uint8_t c, uint8_t c2) {
	uint8_t t = s->stop[c];
	return t == 1 || (t == 2 && (c2 == '\n' || (s->hasmark && c2 == s->mark)));
}
static inline int isspace_(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

int npshm_scan(const npshm_scanner *s, int64_t *pp, int64_t *pk, int64_t *pro) {
	const uint8_t *t = s->text;
	int64_t p = *pp, k = *pk, ro = *pro, lastload = s->n - 8;
	int status;
#define WORD(at) ((at) > lastload || (at) < 0 ? (status = S_BOUNDS, 0) : load64(t + (at)))
#define OUT(off, size) if ((off) < 0 || (off) + (size) > s->outn) { status = S_BOUNDS; goto done; }
	for (;;) {
		if (k == s->ncols) { status = S_SLOW; goto done; }
		const npshm_col *col = &s->cols[k];
		int64_t off = ro + col->offset, e;
		uint8_t c, c2;
		status = -1;
		switch (col->kind) {
		case 'i': case 'u': {
			if (!s->fastnum) { status = S_SLOW; goto done; }
			int64_t q = p;
			uint64_t w = WORD(p);
			int neg = (uint8_t)w == '-';
			if (neg) { q++; w = WORD(q); }
			int n = digitrun(w), i = n;
			uint64_t v = digitsvalue(w, n);
			if (n == 8) {
				w = WORD(q + 8);
				i = digitrun(w);
				if (i > 0) v = v * pow10u[i] + digitsvalue(w, i);
				n += i;
			}
			if (status == S_BOUNDS) goto done;
			uint64_t lim = col->max + (neg ? 1 : 0);
			c = byteat(w, i); c2 = byteat((w >> 8) | ((uint64_t)'\n' << 56), i);
			if (n == 0 || i == 8 || !endswith(s, c, c2) || v > lim || (neg && col->kind == 'u')) { status = S_SLOW; goto done; }
			if (neg) v = -v;
			OUT(off, col->size);
			store(s->out + off, v, col->size <= 8 ? col->size : 8);
			e = q + n;
			break;
		}
		case 'f': {
			if (!s->fastnum) { status = S_SLOW; goto done; }
			int64_t q = p;
			uint64_t w = WORD(p);
			int neg = (uint8_t)w == '-';
			if (neg) { q++; w = WORD(q); }
			int n = digitrun(w), i = n, frac = 0;
			uint64_t mant = 0;
			e = q + n;
			uint64_t lo = (1ULL << ((8 * n) & 63)) - 1;
			uint64_t j = (w & lo) | ((w >> 8) & ~lo);
			int run = digitrun(j);
			if (byteat(w, n) != '.') {
				mant = digitsvalue(w, n);
			} else if (n < 7 && run < 7) {
				frac = run - n;
				mant = digitsvalue(j, run);
				e += 1 + frac; i = run + 1;
			} else {
				if (n > 0) mant = digitsvalue(w, n);
				w = WORD(e + 1);
				frac = digitrun(w);
				if (frac > 0) mant = mant * pow10u[frac] + digitsvalue(w, frac);
				e += 1 + frac; i = frac;
			}
			if (status == S_BOUNDS) goto done;
			c = byteat(w, i); c2 = byteat((w >> 8) | ((uint64_t)'\n' << 56), i);
			if (n == 8 || frac == 8 || n + frac == 0 || !endswith(s, c, c2)) { status = S_SLOW; goto done; }
			double f = (double)mant / pow10d[frac];
			if (neg) f = -f;
			if (col->size == 4) {
				float f4 = (float)f;
				uint32_t bits; memcpy(&bits, &f4, 4);
				OUT(off, 4); store(s->out + off, bits, 4);
			} else {
				uint64_t bits; memcpy(&bits, &f, 8);
				OUT(off, 8); store(s->out + off, bits, 8);
			}
			break;
		}
		case 'S': {
			int64_t q = p;
			uint64_t w, m;
			for (;;) {
				w = WORD(q);
				if (status == S_BOUNDS) goto done;
				if (s->ws) m = below(w, 0x21);
				else m = zerobytes(w ^ s->textw) | zerobytes(w ^ ('\n' * ONES)) | zerobytes(w ^ ('\r' * ONES));
				m |= w & HIGHS;
				if (s->hasmark) m |= zerobytes(w ^ s->markw);
				if (m) break;
				q += 8;
			}
			int jj = firstbyte(m);
			e = q + jj; c = byteat(w, jj); c2 = byteat((w >> 8) | ((uint64_t)'\n' << 56), jj);
			if (c >= 0x80 || !endswith(s, c, c2)) { status = S_SLOW; goto done; }
			int64_t n = e - p < col->size ? e - p : col->size;
			OUT(off, n);
			if (q == p && col->size >= 8) {
				OUT(off, 8);
				store(s->out + off, w & (((1ULL << ((8 * n) & 63)) - 1) | -(uint64_t)(n >> 3)), 8);
			} else {
				if (p + n > s->n) { status = S_BOUNDS; goto done; }
				memcpy(s->out + off, t + p, n);
			}
			break;
		}
		default:
			status = S_SLOW; goto done;
		}
		if (s->ws) {
			if (c == ' ' && s->stop[c2] == 0) { p = e + 1; k++; continue; }
			for (p = e; p < s->n && t[p] != '\n' && isspace_(t[p]); p++) {}
			if (p >= s->n) { status = S_BOUNDS; goto done; }
			if (t[p] != '\n' && !(s->hasmark && t[p] == s->mark)) { k++; continue; }
		} else {
			if (c == s->delim) { p = e + 1; k++; continue; }
			p = e;
			if (c == '\r') p++;
			if (p >= s->n) { status = S_BOUNDS; goto done; }
		}
		k++;
		if (t[p] != '\n' || k != s->ncols) { status = S_LINEEND; goto done; }
		p++; k = 0; ro += s->rowsize;
		if (p >= s->end) { status = S_END; goto done; }
		if (isspace_(t[p]) || (s->hasmark && t[p] == s->mark)) { status = S_LINE; goto done; }
	}
done:
	*pp = p; *pk = k; *pro = ro;
	return status;
#undef WORD
#undef OUT
}
