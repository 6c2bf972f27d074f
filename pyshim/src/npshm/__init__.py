"""npshm: numpy arrays in shared memory, zero-copy, as self-describing .npy images.

A segment is a file in /dev/shm (or $NPSHM_DIR) holding exactly the bytes
np.save writes: numpy's header, then the data at a 64-byte-aligned offset.
Any process attaches by name with no shape or dtype passed out of band; Go
programs using github.com/npshm/npshm read and write the same segments.

Who unlinks: every process closes what it opened; exactly one, normally the
creator, unlinks. Attaching never registers a segment with multiprocessing's
resource tracker, so a segment survives the processes that attach to it.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Union

import numpy as np

from ._format import SegmentError, encode_header, header_length, parse_header
from ._segment import clean_name, create_map, open_map, segment_path, shm_dir

__all__ = ["attach", "share", "create", "Shared", "SegmentError", "shm_dir"]
__version__ = "0.1.0"

Descriptor = Mapping[str, Any]


def _header_of(mm, what: str):
    prefix = mm[:12]
    total = header_length(prefix, what)
    return parse_header(mm[: min(total, len(mm))], len(mm), what)


def _view(mm, hdr, writable: bool) -> np.ndarray:
    order = "F" if hdr.fortran_order else "C"
    arr = np.ndarray(hdr.shape, dtype=hdr.dtype, buffer=mm, offset=hdr.offset, order=order)
    if not writable:
        arr.flags.writeable = False
    return arr


def _resolve(target: Union[str, Descriptor]):
    """(path, label, descriptor or None) for a name, a JSON line or a dict."""
    desc = None
    if isinstance(target, str) and target.lstrip().startswith("{"):
        try:
            desc = json.loads(target)
        except json.JSONDecodeError as e:
            raise ValueError(f"descriptor is not valid JSON: {e}") from e
    elif isinstance(target, Mapping):
        desc = target
    elif not isinstance(target, str):
        raise TypeError(f"attach() takes a name, a descriptor dict or a JSON line, not {type(target).__name__}")
    if desc is None:
        return segment_path(target), repr(clean_name(target)), None
    if not isinstance(desc, Mapping) or "name" not in desc:
        raise ValueError("descriptor has no 'name'")
    if desc.get("path"):
        return str(desc["path"]), repr(str(desc["path"])), desc
    return segment_path(desc["name"]), repr(clean_name(desc["name"])), desc


def _check_descriptor(desc: Descriptor, hdr, label: str) -> None:
    try:
        want_dtype = _dtype_from_json(desc["dtype"])
        ok = (
            want_dtype == hdr.dtype
            and tuple(desc["shape"]) == hdr.shape
            and bool(desc.get("fortran_order", False)) == hdr.fortran_order
            and desc.get("offset", hdr.offset) == hdr.offset
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{label}: malformed descriptor: {e}") from e
    if not ok:
        raise ValueError(
            f"{label}: descriptor says {desc.get('dtype')} {desc.get('shape')}, "
            f"segment holds {hdr.dtype.str if hdr.dtype.names is None else hdr.dtype.descr} {list(hdr.shape)}"
        )


def _dtype_from_json(d) -> np.dtype:
    """numpy dtype from the descriptor's JSON dtype (lists for tuples)."""
    if isinstance(d, str):
        return np.lib.format.descr_to_dtype(d)

    def field(e):
        name = tuple(e[0]) if isinstance(e[0], list) else e[0]
        sub = e[1] if isinstance(e[1], str) else [field(x) for x in e[1]]
        return (name, sub, tuple(e[2])) if len(e) == 3 else (name, sub)

    return np.lib.format.descr_to_dtype([field(e) for e in d])


def _dtype_to_json(dt: np.dtype):
    descr = np.lib.format.dtype_to_descr(dt)

    def conv(x):
        if isinstance(x, str):
            return x
        out = []
        for e in x:
            name = list(e[0]) if isinstance(e[0], tuple) else e[0]
            item = [name, conv(e[1])]
            if len(e) == 3:
                item.append(list(e[2]))
            out.append(item)
        return out

    return conv(descr)


def attach(target: Union[str, Descriptor], *, writable: bool = False) -> np.ndarray:
    """A zero-copy numpy view of the array in a segment.

    target is a segment name ("psm_1a2b3c4d" or "/psm_1a2b3c4d"), a descriptor
    dict, or a descriptor as a JSON line (what Go's Descriptor.String() and
    `npshm put` print). The view is read-only unless writable=True; writes
    through a writable view are seen by every process attached.

    The view keeps its mapping alive as long as it (or anything derived from
    it) exists, so it can never point at unmapped memory. Attaching does not
    register the segment with multiprocessing's resource tracker: the segment
    survives this process, and only an explicit unlink removes it.

    Raises FileNotFoundError if there is no such segment, SegmentError (a
    ValueError) if it does not hold a usable .npy image or does not match
    the descriptor.
    """
    path, label, desc = _resolve(target)
    mm = open_map(path, label, writable)
    hdr = _header_of(mm, label)  # on error the unreferenced mapping is freed
    if desc is not None:
        _check_descriptor(desc, hdr, label)
    return _view(mm, hdr, writable)


class Shared:
    """A segment this process created (share, create) or re-opened by pickle.

    .array is a writable zero-copy view; .descriptor describes it for other
    processes. close() drops this handle's view: arrays already handed out
    stay valid (each keeps the mapping alive) and the mapping goes when the
    last of them does. unlink() removes the name. As a context manager, exit
    closes, and unlinks if this object created the segment.

    Pickling a Shared sends only its descriptor; the receiving process
    attaches to the same memory, and does not own (unlink) it.
    """

    def __init__(self, name: str, path: str, mm, hdr, created: bool):
        self._name, self._path, self._mm, self._hdr = name, path, mm, hdr
        self._created = created
        self._array: Optional[np.ndarray] = _view(mm, hdr, True)

    @property
    def name(self) -> str:
        """The segment name, without a leading slash."""
        return self._name

    @property
    def path(self) -> str:
        return self._path

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            raise ValueError(f"segment {self._name!r} is closed")
        return self._array

    @property
    def descriptor(self) -> dict:
        """The JSON-able descriptor: name, dtype, shape, fortran_order, offset, nbytes, size."""
        h = self._hdr
        return {
            "name": self._name,
            "dtype": _dtype_to_json(h.dtype),
            "shape": list(h.shape),
            "fortran_order": h.fortran_order,
            "offset": h.offset,
            "nbytes": h.nbytes,
            "size": h.offset + h.nbytes,
        }

    def close(self) -> None:
        """Drop this handle's view and mapping; idempotent. Does not unlink.

        The mapping is never closed explicitly: numpy keeps the mmap as each
        view's base without holding a buffer export, so closing it would
        unmap memory under live views (the segfault-after-close of
        SharedMemory.close()). Instead it is unmapped when the last view
        referencing it is garbage collected.
        """
        self._array = None
        self._mm = None

    def unlink(self) -> None:
        """Remove the segment's name. Attached processes keep their views."""
        os.unlink(self._path)

    def __enter__(self) -> "Shared":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        if self._created:
            try:
                self.unlink()
            except FileNotFoundError:
                pass

    def __reduce__(self):
        return (_reopen, (self.descriptor, self._path))

    def __repr__(self) -> str:
        h = self._hdr
        state = "closed" if self._array is None else "open"
        return f"<npshm.Shared {self._name!r} {h.dtype} {h.shape} {state}>"


def _reopen(descriptor: dict, path: str) -> Shared:
    mm = open_map(path, repr(descriptor["name"]), True)
    hdr = _header_of(mm, repr(descriptor["name"]))
    _check_descriptor(descriptor, hdr, repr(descriptor["name"]))
    return Shared(descriptor["name"], path, mm, hdr, created=False)


def _new(shape, dtype, fortran_order: bool, name: Optional[str]) -> Shared:
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise ValueError(f"cannot share an object array ({dtype}): its elements are pointers into this process")
    shape = tuple(int(x) for x in shape)
    if any(x < 0 for x in shape):
        raise ValueError(f"negative dimensions are not allowed: {shape}")
    header = encode_header(dtype, fortran_order, shape)
    count = 1
    for x in shape:
        count *= x
    nbytes = count * dtype.itemsize
    name, path, mm = create_map(name, len(header) + nbytes)
    mm[: len(header)] = header
    hdr = parse_header(header, len(header) + nbytes, repr(name))
    return Shared(name, path, mm, hdr, created=True)


def create(shape, dtype, *, order: str = "C", name: Optional[str] = None) -> Shared:
    """A new zero-filled array in a new segment, to fill in place.

    order is 'C' or 'F'. name defaults to a fresh 'psm_' name; an existing
    name raises FileExistsError. A full /dev/shm raises OSError(ENOSPC) here.
    """
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', not {order!r}")
    if isinstance(shape, int):
        shape = (shape,)
    return _new(shape, dtype, order == "F", name)


def share(array, name: Optional[str] = None) -> Shared:
    """Copy an array (once) into a new segment and return it.

    Fortran-ordered arrays stay Fortran-ordered; other non-contiguous arrays
    become C-contiguous. The segment is a .npy image, so other processes
    attach with npshm.attach(name) or np.load('/dev/shm/NAME', mmap_mode='r').
    """
    arr = np.asarray(array)
    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    s = _new(arr.shape, arr.dtype, fortran, name)
    try:
        s.array[...] = arr
    except BaseException:
        s.__exit__(None, None, None)
        raise
    return s
