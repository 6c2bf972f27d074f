"""The .npy header: a strict reader and a writer identical to numpy's.

The reader never evaluates the header: it is parsed with ast.literal_eval,
capped in size (the length field too, before anything is read), and checked
like numpy's own reader (exactly the keys descr, fortran_order and shape).
The writer produces the bytes numpy >= 1.24 writes (key order, repr
formatting, growth-axis room, padding to 64 bytes, version 1.0 -> 2.0 ->
3.0), so a segment is byte-identical to an np.save file.

What is valid: this reader and Go's npy.ParseHeader accept exactly the same
headers, numpy's reader being the reference (npy/testdata/gen_header_corpus.py
records numpy's verdicts and checks both against them). They take what numpy
loads, with numpy's 'L' filter (versions 1.0, 2.0), dimension cap (64 in
numpy 2, 32 before: this reader follows the numpy it runs on) and size
check, except these, refused on purpose (npy/doc.go has the same list):

- object dtypes: their bytes are pointers into one process;
- type strings outside numpy's type-code grammar (_TYPESTR): names such as
  'float64', 'i4,f8', subarrays ('(2,)f8', ('<i4', (2,))), 'a', signed or
  spaced sizes, leading zeros in fixed sizes ('<f08'), divided datetime
  units ('M8[s/4]'; numpy itself dies of SIGFPE on 'M8[s/0]');
- bools as dimensions, fields or field shapes given as lists, empty or
  non-string titles, field names that are not valid Unicode;
- comments, non-decimal ints, raw/bytes/triple-quoted/adjacent strings and
  \\N{...} escapes;
- an element count past 2**63 even with itemsize 0.
"""
from __future__ import annotations

import ast
import io
import mmap
import re
import struct
import tokenize
from typing import Any, Dict, List, NamedTuple, Tuple, Union

import numpy as np

MAGIC = b"\x93NUMPY"
ALIGN = 64
MAX_HEADER_SIZE = 10000
_GROWTH_AXIS_MAX_DIGITS = 21
_LAYOUT = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}
_V1_PREFIX = MAGIC + b"\x01\x00"


# The exact text numpy writes for a scalar dtype, e.g.
#   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
# A header in this form is read with a regex; any other form goes through
# the general reader below. Both only ever read literals, and agree.
_DIM = r"(?:0|[1-9][0-9]*)"
_NUMPY_FORM = re.compile(
    r"\{'descr': '([<>|=]?[a-zA-Z][0-9]*(?:\[[0-9]*[a-zA-Z]+\])?)', 'fortran_order': (False|True), "
    rf"'shape': \((|{_DIM},|{_DIM}(?:, {_DIM})+)\), \}} *\n?"
)
# The type strings a descr may hold: numpy's type codes, bare or sized,
# with an optional byte order and, for datetimes, a unit. numpy also takes
# names ('float64'), comma lists ('i4,f8'), subarrays ('(2,)f8'), 'a', signs
# and spaces in sizes and 'M8[s/4]'; no writer makes them, so they are refused.
_TYPESTR = re.compile(
    r"[<>|=]?(?:[?bBhHiIlLqQpPefdgFDGcSUVMmO]|b1|[iu][1248]|f(?:2|4|8|16)|c(?:8|16|32)|[SUV][0-9]+"
    r"|[Mm]8\[[0-9]*(?:[YMWDhms]|ms|us|\u03bcs|ns|ps|fs|as|generic)\]|[Mm]8|O[48])"
)
_SIZED = re.compile(r"[<>|=]?([SUV])([0-9]+)")
_MAX_SIZE = {"S": (1 << 31) - 1, "V": (1 << 31) - 1, "U": ((1 << 31) - 1) // 4}  # numpy 1.x wraps larger ones
_INT = re.compile(r"[1-9](?:_?[0-9])*|0(?:_?0)*")
# Parsed headers (Header, immutable) by their bytes, so attaching many times
# costs one parse; only the size check is made again.
_cache: Dict[Tuple[int, bytes], Header] = {}
_CACHE_MAX = 1024


class SegmentError(ValueError):
    """A segment (or file) that does not hold a usable .npy image."""


class DescriptorError(SegmentError):
    """A descriptor (a dict or JSON line naming a segment) that is malformed
    or does not match the segment's header."""


class Header(NamedTuple):
    dtype: np.dtype
    fortran_order: bool
    shape: Tuple[int, ...]
    offset: int  # where the data starts
    nbytes: int  # data bytes


def header_length(prefix: bytes, what: str, max_header_size: int = MAX_HEADER_SIZE) -> int:
    """Total header bytes (magic .. newline), from the first 12 bytes.

    A length field beyond what max_header_size characters can take is
    refused here, before anyone reads (or maps) that far."""
    if prefix[:8] == _V1_PREFIX and len(prefix) >= 10:  # the usual case, without the lookups below
        hlen = prefix[8] | prefix[9] << 8
        if hlen <= 4 * max_header_size:
            return 10 + hlen
    if len(prefix) < len(MAGIC) + 2 or prefix[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(bytes(prefix)) and prefix:
            raise SegmentError(f"{what}: truncated .npy header ({len(prefix)} bytes)")
        # never echo the bytes: they may be any file's contents
        raise SegmentError(f"{what}: not an npy image (no numpy magic)")
    version = (prefix[6], prefix[7])
    if version not in _LAYOUT:
        raise SegmentError(f"{what}: unsupported npy format version {version[0]}.{version[1]}")
    fmt, _ = _LAYOUT[version]
    n = struct.calcsize(fmt)
    if len(prefix) < 8 + n:
        raise SegmentError(f"{what}: truncated .npy header (no length)")
    hlen = int(struct.unpack(fmt, bytes(prefix[8 : 8 + n]))[0])
    if hlen > 4 * max_header_size:  # no text this long has <= max_header_size characters
        raise SegmentError(f"{what}: npy header of {hlen} bytes exceeds the limit of {max_header_size}")
    return 8 + n + hlen


def parse_header(buf: Union[bytes, bytearray, memoryview, mmap.mmap], size: int, what: str,
                 max_header_size: int = MAX_HEADER_SIZE, total: int = 0) -> Header:
    """Parse the header at the start of buf (a bytes-like of the first bytes
    of an image whose total size is `size`) and check the data fits. `total`
    is header_length(buf[:12]) when the caller has it already."""
    if not total:
        total = header_length(bytes(buf[:12]), what, max_header_size)
    start = 10 if buf[6] == 1 else 12
    if total - start > 4 * max_header_size:
        raise SegmentError(f"{what}: npy header of {total - start} bytes exceeds the limit of {max_header_size}")
    if total > size or total > len(buf):
        raise SegmentError(f"{what}: truncated .npy header (needs {total} bytes, segment has {size})")
    raw = bytes(buf[start:total])
    version = buf[6]
    hdr = _cache.get((version, raw))
    if hdr is None:
        dtype, fortran, shape, nbytes = _parse_text(raw, version, what, max_header_size)
        hdr = Header(dtype, fortran, shape, total, nbytes)
        if len(_cache) < _CACHE_MAX:
            _cache[(version, raw)] = hdr
    if total + hdr.nbytes > size:
        raise SegmentError(
            f"{what}: segment is {size} bytes but its header says {hdr.dtype.str} {hdr.shape} "
            f"needs {hdr.nbytes} data bytes after a {total}-byte header"
        )
    return hdr


# numpy's limit on dimensions: 64 since numpy 2.0, 32 before.
MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32
_INTP_MAX = (1 << 63) - 1


def _parse_text(raw: bytes, version: int, what: str, max_header_size: int) -> Tuple[np.dtype, bool, Tuple[int, ...], int]:
    """(dtype, fortran_order, shape, nbytes) from the header text, checked."""
    encoding = "utf8" if version == 3 else "latin1"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise SegmentError(f"{what}: npy header is not valid {encoding}") from e
    if len(text) > max_header_size:
        raise SegmentError(f"{what}: npy header of {len(text)} characters exceeds the limit of {max_header_size}")
    m = _NUMPY_FORM.fullmatch(text)
    if m:
        descr, fortran = m.group(1), m.group(2) == "True"
        shape = tuple(int(x) for x in m.group(3).split(",") if x.strip())
    else:
        d = _literal(text, version, what)
        if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
            keys = sorted(map(repr, d)) if isinstance(d, dict) else type(d).__name__
            raise SegmentError(f"{what}: npy header must be a dict with keys descr, fortran_order, shape; got {keys}")
        descr, shape, fortran = d["descr"], d["shape"], d["fortran_order"]
        if not isinstance(shape, tuple) or not all(type(x) is int and x >= 0 for x in shape):
            raise SegmentError(f"{what}: bad shape {shape!r}: want a tuple of non-negative ints")
        if not isinstance(fortran, bool):
            raise SegmentError(f"{what}: fortran_order is not a bool: {fortran!r}")
    dtype = dtype_from_descr(descr, what)
    if len(shape) > MAX_DIMS:
        raise SegmentError(f"{what}: shape has {len(shape)} dimensions; numpy {np.__version__} allows {MAX_DIMS}")
    count, check = 1, dtype.itemsize  # numpy's overflow check skips zero dimensions
    for x in shape:
        count *= x
        check *= x or 1
    if check > _INTP_MAX or count > _INTP_MAX or any(x > _INTP_MAX for x in shape):
        raise SegmentError(f"{what}: shape {shape} of {dtype.str} is more than 2**63 bytes")
    return dtype, fortran, shape, count * dtype.itemsize


def dtype_from_descr(descr: Any, what: str) -> np.dtype:
    """The dtype a header's descr describes, if this package shares it."""
    descr = _check_descr(descr, what)
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception as e:  # numpy raises TypeError, ValueError, KeyError... for bad descrs
        raise SegmentError(f"{what}: bad dtype descr {descr!r}") from e
    if dtype.hasobject:
        raise SegmentError(f"{what}: object dtype {descr!r} holds Python pointers and cannot be shared")
    return dtype


def _literal(text: str, version: int, what: str) -> Any:
    """The header text read as a Python literal, as numpy reads it (with
    numpy's removal of Python 2 'L' suffixes in versions 1.0 and 2.0), but
    refusing what no writer makes and the Go reader does not take:
    comments, non-decimal ints, prefixed, triple-quoted or adjacent
    strings, and \\N{...} escapes."""

    def refuse(why: str) -> SegmentError:
        return SegmentError(f"{what}: npy header {why}")

    if "\\N{" in text:
        raise refuse("uses a \\N{...} escape")
    try:
        lines = text.replace("\r\n", "\n").replace("\r", "\n")  # as the parser reads line ends
        tokens = list(tokenize.generate_tokens(io.StringIO(lines).readline))
    except (tokenize.TokenError, SyntaxError) as e:
        raise refuse("is not a Python literal") from e
    kept, prev, dropped, last_string = [], None, False, False
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            raise refuse("holds a comment")
        if tok.type == tokenize.ERRORTOKEN:
            raise refuse("is not a Python literal")
        if tok.type == tokenize.NUMBER and not _INT.fullmatch(tok.string):
            raise refuse(f"holds {tok.string!r}: only decimal integers are allowed")
        if tok.type == tokenize.STRING:
            body = tok.string.lstrip("uU")
            if body[:1] not in ("'", '"') or body[:3] in ("'''", '"""') or last_string:
                raise refuse("holds a prefixed, triple-quoted or adjacent string")
        if tok.type == tokenize.NAME and tok.string == "L" and prev == tokenize.NUMBER and version < 3:
            dropped = True  # a Python 2 long, as numpy's _filter_header drops it
            prev = tok.type
            continue
        kept.append(tok)
        prev = tok.type
        if tok.type != tokenize.NL:
            last_string = tok.type == tokenize.STRING
    if dropped:
        text = tokenize.untokenize(kept)
    try:
        return ast.literal_eval(text)  # literals only: nothing is evaluated as code
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as e:
        raise refuse("is not a Python literal") from e


def _check_descr(descr: Any, what: str) -> Any:
    """descr, if this package shares it, with field shapes given as ints made
    tuples (numpy 2 reads ('a', '<i4', 1) as shape (1,), numpy 1.x as a plain
    field: this reader follows numpy 2 under both). Refused: type strings
    outside _TYPESTR, subarray descrs, fields that are not tuples, titles
    that are not strings or are empty, names that are not UTF-8."""
    if isinstance(descr, str):
        sized = _SIZED.fullmatch(descr)
        if not _TYPESTR.fullmatch(descr) or (sized and int(sized[2]) > _MAX_SIZE[sized[1]]):
            raise SegmentError(f"{what}: bad dtype descr: type string {descr!r} is not supported")
        return descr
    if not isinstance(descr, list):
        raise SegmentError(f"{what}: bad dtype descr: a {type(descr).__name__}, want a type string or a list of fields")
    out: List[Tuple[Any, ...]] = []
    for f in descr:
        if not isinstance(f, tuple) or len(f) not in (2, 3):
            raise SegmentError(f"{what}: bad dtype descr: a field is a tuple (name, dtype[, shape]), not {f!r}")
        names = f[0] if isinstance(f[0], tuple) else (f[0],)
        if len(names) > 2 or not all(isinstance(n, str) for n in names) or (len(names) == 2 and not names[0]):
            raise SegmentError(f"{what}: bad dtype descr: field name {f[0]!r}")
        try:
            "".join(names).encode("utf-8")
        except UnicodeEncodeError as e:
            raise SegmentError(f"{what}: bad dtype descr: field name {f[0]!r} is not valid Unicode") from e
        if len(f) == 2:
            out.append((f[0], _check_descr(f[1], what)))
            continue
        dims = f[2] if isinstance(f[2], tuple) else (f[2],)
        if not all(type(x) is int for x in dims):
            raise SegmentError(f"{what}: bad dtype descr: field shape {f[2]!r}")
        out.append((f[0], _check_descr(f[1], what), dims))
    return out



def encode_header(dtype: np.dtype, fortran_order: bool, shape: Tuple[int, ...]) -> bytes:
    """The header bytes numpy (>= 1.24) writes for this dtype, order, shape."""
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    text = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, bool(fortran_order), tuple(shape))  # noqa: UP031 numpy's
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
