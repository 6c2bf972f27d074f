"""The .npy header: a strict reader and a writer identical to numpy's.

The reader never evaluates the header: it is parsed with ast.literal_eval,
capped in size, and checked like numpy's own reader (exactly the keys descr,
fortran_order and shape). The writer produces the bytes numpy >= 1.24 writes
(key order, repr formatting, growth-axis room, padding to 64 bytes, version
1.0 -> 2.0 -> 3.0), so a segment is byte-identical to an np.save file.
"""
from __future__ import annotations

import ast
import re
import struct
from typing import NamedTuple, Tuple

import numpy as np

MAGIC = b"\x93NUMPY"
ALIGN = 64
MAX_HEADER_SIZE = 10000
_GROWTH_AXIS_MAX_DIGITS = 21
_LAYOUT = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}


# The exact text numpy writes for a scalar dtype, e.g.
#   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
# A header in this form is read with a regex; any other form goes through
# ast.literal_eval. Both only ever read literals.
_NUMPY_FORM = re.compile(
    r"\{'descr': '([<>|=]?[a-zA-Z]\d*(?:\[\d*[a-zA-Z]+\])?)', 'fortran_order': (False|True), "
    r"'shape': \(((?:\d+, )*\d+,?)?\), \} *\n?"
)
# Parsed headers by their bytes, so attaching many times costs one parse.
_cache: dict = {}
_CACHE_MAX = 1024


class SegmentError(ValueError):
    """A segment (or file) that does not hold a usable .npy image."""


class Header(NamedTuple):
    dtype: np.dtype
    fortran_order: bool
    shape: Tuple[int, ...]
    offset: int  # where the data starts
    nbytes: int  # data bytes


def header_length(prefix: bytes, what: str) -> int:
    """Total header bytes (magic .. newline), from the first 12 bytes."""
    if len(prefix) < len(MAGIC) + 2 or prefix[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(bytes(prefix)) and prefix:
            raise SegmentError(f"{what}: truncated .npy header ({len(prefix)} bytes)")
        raise SegmentError(f"{what}: not an npy image (bad magic {bytes(prefix[:6])!r})")
    version = (prefix[6], prefix[7])
    if version not in _LAYOUT:
        raise SegmentError(f"{what}: unsupported npy format version {version[0]}.{version[1]}")
    fmt, _ = _LAYOUT[version]
    n = struct.calcsize(fmt)
    if len(prefix) < 8 + n:
        raise SegmentError(f"{what}: truncated .npy header (no length)")
    (hlen,) = struct.unpack(fmt, bytes(prefix[8 : 8 + n]))
    return 8 + n + hlen


def parse_header(buf, size: int, what: str, max_header_size: int = MAX_HEADER_SIZE, total: int = 0) -> Header:
    """Parse the header at the start of buf (a bytes-like of the first bytes
    of an image whose total size is `size`) and check the data fits. `total`
    is header_length(buf[:12]) when the caller has it already."""
    if not total:
        total = header_length(buf[:12], what)
    start = 10 if buf[6] == 1 else 12
    if total - start > 4 * max_header_size:
        raise SegmentError(f"{what}: npy header of {total - start} bytes exceeds the limit of {max_header_size}")
    if total > size or total > len(buf):
        raise SegmentError(f"{what}: truncated .npy header (needs {total} bytes, segment has {size})")
    raw = bytes(buf[start:total])
    hit = _cache.get(raw)
    if hit is None:
        hit = _parse_text(raw, _LAYOUT[(buf[6], buf[7])][1], what, max_header_size)
        if len(_cache) < _CACHE_MAX:
            _cache[raw] = hit
    dtype, fortran, shape, nbytes = hit
    if total + nbytes > size:
        raise SegmentError(
            f"{what}: segment is {size} bytes but its header says {dtype.str} {shape} "
            f"needs {nbytes} data bytes after a {total}-byte header"
        )
    return Header(dtype, fortran, shape, total, nbytes)


def _parse_text(raw: bytes, encoding: str, what: str, max_header_size: int):
    """(dtype, fortran_order, shape, nbytes) from the header text, checked."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise SegmentError(f"{what}: npy header is not valid {encoding}") from e
    if len(text) > max_header_size:
        raise SegmentError(f"{what}: npy header of {len(text)} characters exceeds the limit of {max_header_size}")
    m = _NUMPY_FORM.fullmatch(text)
    if m:
        descr, fortran = m.group(1), m.group(2) == "True"
        shape = tuple(int(x) for x in (m.group(3) or "").split(",") if x.strip())
    else:
        try:
            d = ast.literal_eval(text)  # literals only: nothing is evaluated as code
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as e:
            raise SegmentError(f"{what}: npy header is not a Python literal: {text.strip()[:80]!r}") from e
        if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
            keys = sorted(map(repr, d)) if isinstance(d, dict) else type(d).__name__
            raise SegmentError(f"{what}: npy header must be a dict with keys descr, fortran_order, shape; got {keys}")
        descr, shape, fortran = d["descr"], d["shape"], d["fortran_order"]
        if not isinstance(shape, tuple) or not all(type(x) is int and x >= 0 for x in shape):
            raise SegmentError(f"{what}: bad shape {shape!r}")
        if not isinstance(fortran, bool):
            raise SegmentError(f"{what}: fortran_order is not a bool: {fortran!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception as e:  # numpy raises TypeError, ValueError, KeyError... for bad descrs
        raise SegmentError(f"{what}: bad dtype descr {descr!r}") from e
    if dtype.hasobject:
        raise SegmentError(f"{what}: object dtype {descr!r} holds Python pointers and cannot be shared")
    count = 1
    for x in shape:
        count *= x
    return dtype, fortran, shape, count * dtype.itemsize


def encode_header(dtype: np.dtype, fortran_order: bool, shape: Tuple[int, ...]) -> bytes:
    """The header bytes numpy (>= 1.24) writes for this dtype, order, shape."""
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    text = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, bool(fortran_order), tuple(shape))
    if shape:
        axis = shape[-1] if fortran_order else shape[0]
        text += " " * max(0, _GROWTH_AXIS_MAX_DIGITS - len(repr(axis)))
    for version, (fmt, encoding) in _LAYOUT.items():
        try:
            body = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        hlen = len(body) + 1
        pad = ALIGN - (8 + struct.calcsize(fmt) + hlen) % ALIGN
        try:
            length = struct.pack(fmt, hlen + pad)
        except struct.error:
            continue
        return MAGIC + bytes(version) + length + body + b" " * pad + b"\n"
    raise ValueError(f"npy header of {len(text)} characters is too large")
