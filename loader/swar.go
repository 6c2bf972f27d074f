package loader

import (
	"encoding/binary"
	"math/bits"
)

// SWAR ("SIMD within a register"): the scanners look at eight bytes of text
// at a time in a uint64, loaded little-endian, so the text's first byte is
// the word's lowest byte. Each helper below is exact for the bytes up to and
// including the first one it reports; what it says of later bytes may be
// wrong (a borrow or carry can cross into them), and callers never use that.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7F7F7F7F7F7F7F7F // ^highs
)

// word is the eight bytes of b at p; bytes past the end of b read as '\n',
// so a scan that runs off the end of the text sees a line end there.
func word(b []byte, p int) uint64 {
	if p+8 <= len(b) {
		return binary.LittleEndian.Uint64(b[p:])
	}
	return wordTail(b, p)
}

//go:noinline
func wordTail(b []byte, p int) uint64 {
	t := [8]byte{'\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n'}
	copy(t[:], b[p:])
	return binary.LittleEndian.Uint64(t[:])
}

// digitRun is how many of w's bytes, from the first, are ASCII digits (0-8).
func digitRun(w uint64) int {
	x := w - '0'*ones                     // a digit becomes 0-9
	m := (x + (0x80-10)*ones | x) & highs // high bit: not a digit
	return bits.TrailingZeros64(m) >> 3
}

// digitsValue is the number written by w's first n bytes, all digits, n in
// 1..8 (for n == 0 the result is meaningless: callers test n first).
func digitsValue(w uint64, n int) uint64 {
	v := (w - '0'*ones) << ((64 - 8*uint(n)) & 63) // the digits, right-aligned after zeros
	v = (v * 10) + (v >> 8)                        // pairs
	v = ((v & 0x000000FF000000FF) * (100 + 1000000<<32)) + (((v >> 16) & 0x000000FF000000FF) * (1 + 10000<<32))
	return uint64(uint32(v >> 32))
}

// byteAt is byte i (0-7) of w.
func byteAt(w uint64, i int) byte { return byte(w >> (8 * uint(i) & 63)) }

// zeroBytes has the high bit set in every byte of x that is zero (exact for
// every byte: no carry crosses a byte).
func zeroBytes(x uint64) uint64 {
	return ^((x&lows + lows) | x) & highs
}

// below has the high bit set in every byte of w under c (c <= 0x80; exact
// for every byte).
func below(w uint64, c byte) uint64 {
	return ^((w&lows + uint64(0x80-c)*ones) | w) & highs
}

// firstByte is the index (0-7, or 8 for none) of the first byte flagged in m.
func firstByte(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

var pow10u = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// scanDigits reads a run of ASCII digits at p, appending them to v (v*10 +
// digit, per digit). It returns the new value and the run's end; ok is false
// if the run has more than max digits (max <= 19 - digits already in v, so
// the value always fits a uint64).
func scanDigits(b []byte, p int, v uint64, max int) (_ uint64, q int, ok bool) {
	q = p
	for {
		w := word(b, q)
		n := digitRun(w)
		if q-p+n > max {
			return 0, q, false
		}
		if n > 0 {
			v = v*pow10u[n&15] + digitsValue(w, n)
			q += n
		}
		if n < 8 {
			return v, q, true
		}
	}
}
