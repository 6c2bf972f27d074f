"""npshm: numpy arrays in shared memory, zero-copy, as self-describing .npy images.

A segment is a file in /dev/shm (or $NPSHM_DIR) holding exactly the bytes
np.save writes: numpy's header, then the data at a 64-byte-aligned offset.
Any process attaches by name with no shape or dtype passed out of band; Go
programs using github.com/npshm/npshm read and write the same segments.

Who unlinks: every process closes what it opened; exactly one, normally the
creator, unlinks. Attaching never registers a segment with multiprocessing's
resource tracker, so a segment survives the processes that attach to it.

Importing npshm registers reducers with multiprocessing's pickler: arrays in
npshm segments (and slices and views of them) pass to Process, Queue, Pipe,
Pool and ProcessPoolExecutor by reference, and a Shared sent from one
process to another hands its ownership over (see Shared and _reduce).
"""
from __future__ import annotations

import errno
import fcntl
import io
import json
import mmap
import os
import socket
import sys
import threading
import weakref
from typing import IO, Any, Dict, Iterator, List, Literal, Mapping, Optional, Tuple, Union, cast

import numpy as np

from . import _reduce
from ._format import DescriptorError, Header, SegmentError, dtype_from_descr, encode_header, header_length, parse_header
from ._reduce import Unattached
from ._segment import (
    TEMP_PREFIX,
    XATTR_PERSISTENT,
    SegmentMap,
    UnsafeFDError,
    backend,
    check_fits,
    check_new_name,
    check_received,
    clean_name,
    create_file_map,
    create_map,
    create_unlinked,
    missing_dir,
    new_map,
    open_file,
    open_map,
    reserve_map,
    segment_path,
    set_xattr,
    shm_dir,
    temp_name,
    unlink_path,
)
from ._stream import StreamError, StreamReader, StreamWriter, stream_reader, stream_writer

__all__ = [
    "attach", "share", "create", "Shared", "SegmentError", "DescriptorError", "shm_dir",
    "publish", "get", "names", "attach_lines", "share_anonymous", "send", "recv",
    "UnsafeFDError", "unlink", "loadtxt", "LoadError", "Unattached",
    "stream_writer", "stream_reader", "StreamWriter", "StreamReader", "StreamError",
]
__version__ = "0.1.0"

Descriptor = Mapping[str, Any]


def _header_of(mm: mmap.mmap, what: str, head: bytes = b"") -> Header:
    """Parse the header from `head` (bytes read before mapping) when it holds
    it all, else from the mapping."""
    total = header_length(head[:12] if len(head) >= 12 else mm[:12], what)
    buf = head if len(head) >= total else mm[: min(total, len(mm))]
    return parse_header(buf, len(mm), what, total=total)


def _view(mm: mmap.mmap, hdr: Header, writable: bool) -> np.ndarray:
    """The array over the mapping; read-only follows from an ACCESS_READ mapping."""
    order: Literal["C", "F"] = "F" if hdr.fortran_order else "C"
    arr = np.ndarray(hdr.shape, dtype=hdr.dtype, buffer=mm, offset=hdr.offset, order=order)
    if not writable and arr.flags.writeable:
        arr.flags.writeable = False
    return arr


def _resolve(target: Union[str, Descriptor]) -> Tuple[str, str, Optional[Dict[str, Any]]]:
    """(path, label, checked descriptor or None) for a name, a JSON line or a dict."""
    if isinstance(target, str) and target.lstrip().startswith("{"):
        desc = _descriptor(_load_json(target), "descriptor")
    elif isinstance(target, Mapping):
        desc = _descriptor(target, "descriptor")
    elif not isinstance(target, str):
        raise TypeError(f"attach() takes a name, a descriptor dict or a JSON line, not {type(target).__name__}")
    else:
        return segment_path(target), target, None
    if desc["anonymous"]:
        raise DescriptorError("an anonymous (memfd) array is attached with npshm.recv(sock), not by descriptor")
    if desc["path"]:
        return desc["path"], repr(desc["path"]), desc
    try:
        return segment_path(desc["name"]), repr(clean_name(desc["name"])), desc
    except ValueError as e:
        raise DescriptorError(f"descriptor: {e}") from None


def _load_json(line: Union[str, bytes]) -> Any:
    """A descriptor's JSON, any parse failure (even nesting too deep for
    the json module) a DescriptorError."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise DescriptorError(f"descriptor is not valid JSON: {e}") from None


_MAX_INT = (1 << 63) - 1


def _descriptor(obj: Any, label: str) -> Dict[str, Any]:
    """The descriptor's fields, type-checked: name (str), path (str, optional),
    anonymous (bool), dtype (a numpy dtype), shape (tuple), and fortran_order,
    offset, nbytes, size (None when absent). DescriptorError otherwise."""

    def bad(why: str) -> DescriptorError:
        return DescriptorError(f"{label}: malformed descriptor: {why}")

    if not isinstance(obj, Mapping):
        raise bad(f"a JSON {type(obj).__name__}, want an object")
    if not isinstance(obj.get("name"), str):
        raise bad("'name' is missing or not a string")

    def opt(key: str, kind: type, default: Any = None) -> Any:
        v: Any = obj.get(key, default)
        if v is not None and (type(v) is not kind or (kind is int and not 0 <= cast(int, v) <= _MAX_INT)):
            want = "a non-negative int" if kind is int else f"a {kind.__name__}"
            raise bad(f"{key!r} is {v!r}, want {want}")
        return v

    shape = obj.get("shape")
    if not isinstance(shape, (list, tuple)) or not all(type(x) is int and 0 <= x <= _MAX_INT for x in shape):
        raise bad(f"'shape' is {shape!r}, want a list of non-negative ints")
    if "dtype" not in obj:
        raise bad("no 'dtype'")
    return {
        "name": obj["name"],
        "path": opt("path", str),
        "anonymous": opt("anonymous", bool, False),
        "dtype": _dtype_from_json(obj["dtype"], label),
        "shape": tuple(shape),
        "fortran_order": opt("fortran_order", bool),
        "offset": opt("offset", int),
        "nbytes": opt("nbytes", int),
        "size": opt("size", int),
    }


def _check_descriptor(desc: Dict[str, Any], hdr: Header, label: str) -> None:
    """DescriptorError naming each field where the descriptor and the
    segment's header disagree."""
    held = {
        "dtype": hdr.dtype,
        "shape": hdr.shape,
        "fortran_order": hdr.fortran_order,
        "offset": hdr.offset,
        "nbytes": hdr.nbytes,
    }
    diffs = [
        f"descriptor says {key} {_show(desc[key])}, segment holds {key} {_show(have)}"
        for key, have in held.items()
        if desc[key] is not None and desc[key] != have
    ]
    if diffs:
        raise DescriptorError(f"{label}: " + "; ".join(diffs))


def _show(v: Any) -> str:
    if isinstance(v, np.dtype):
        return v.str if v.names is None else str(_dtype_to_json(v))
    return str(list(v)) if isinstance(v, tuple) else str(v)


_MAX_JSON_DEPTH = 64


def _dtype_from_json(d: Any, label: str = "descriptor") -> np.dtype:
    """numpy dtype from the descriptor's JSON dtype (lists for tuples), checked
    as a header's descr is: DescriptorError for anything else."""

    def bad(why: str) -> DescriptorError:
        return DescriptorError(f"{label}: malformed descriptor: 'dtype' {why}")

    def descr(x: Any, depth: int) -> Any:
        if isinstance(x, str):
            return x
        if not isinstance(x, list) or depth > _MAX_JSON_DEPTH:
            raise bad("must be a type string or a list of [name, dtype(, shape)] fields, nested at most 64 deep")
        return [field(e, depth) for e in x]

    def field(e: Any, depth: int) -> Tuple[Any, ...]:
        if not isinstance(e, list) or len(e) not in (2, 3):
            raise bad(f"field {e!r} is not [name, dtype] or [name, dtype, shape]")
        name = tuple(e[0]) if isinstance(e[0], list) else e[0]
        if len(e) == 2:
            return (name, descr(e[1], depth + 1))
        if not isinstance(e[2], list):
            raise bad(f"field shape {e[2]!r} is not a list")
        return (name, descr(e[1], depth + 1), tuple(e[2]))

    try:
        return dtype_from_descr(descr(d, 0), label)
    except DescriptorError:
        raise
    except SegmentError as e:
        raise bad(f"{d!r} is not a dtype this package shares ({e})") from None


def _dtype_to_json(dt: np.dtype) -> Any:
    descr = np.lib.format.dtype_to_descr(dt)

    def conv(x: Any) -> Any:
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


def attach(target: Union[str, os.PathLike[str], Descriptor], *, writable: bool = False) -> np.ndarray:
    """A zero-copy numpy view of the array in a segment or a .npy file.

    target is a segment name ("psm_1a2b3c4d" or "/psm_1a2b3c4d"), a path to
    a .npy file (a pathlib.Path, or a str ending in ".npy" with a '/' after
    its first character: "/data/x.npy", "./x.npy"), a descriptor dict, or a
    descriptor as a JSON line (what Go's Descriptor.String() and `npshm put`
    print). The view is read-only unless writable=True; writes through a
    writable view are seen by every process attached. A file on disk is
    mapped, not read: pages come in as they are touched (out of core), and
    writes reach the file as the kernel writes back (Shared.close flushes).

    The view keeps its mapping alive as long as it (or anything derived from
    it) exists, so it can never point at unmapped memory. Attaching does not
    register the segment with multiprocessing's resource tracker: the segment
    survives this process, and only an explicit unlink removes it.

    Raises FileNotFoundError if there is no such segment, SegmentError (a
    ValueError) if it does not hold a usable .npy image, and DescriptorError
    (a SegmentError) if the descriptor is malformed (not JSON, not an object,
    a field of the wrong type) or does not match the segment's header: the
    message names each field that differs, with both values.

    A name that is a symbolic link (never followed), a FIFO, a directory or
    a device raises SegmentError at once; a descriptor's "path" is followed,
    as np.load follows it.
    """
    if isinstance(target, os.PathLike) or (type(target) is str and "/" in target[1:]
                                           and target.endswith(".npy") and not target.lstrip().startswith("{")):
        fpath = os.fspath(target)
        mm, head = open_map(fpath, repr(fpath), writable, follow=True)
        return _view(mm, _header_of(mm, repr(fpath), head), writable)
    if type(target) is str and target[:1] not in ("{", " ", ""):  # the common case: a name
        name = clean_name(target)
        path, label, desc = shm_dir() + "/" + name, repr(name), None
    else:
        path, label, desc = _resolve(target)
        label = repr(label) if desc is None else label
    mm, head = open_map(path, label, writable, follow=desc is not None and bool(desc.get("path")))
    hdr = _header_of(mm, label, head)  # on error the unreferenced mapping is freed
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

    Pickling a Shared with pickle sends only its descriptor; the receiving
    process attaches to the same memory, and does not own (unlink) it.

    Through multiprocessing (Process arguments, Queue, Pipe, Pool,
    ProcessPoolExecutor) a Shared travels by reference. Sent by the main
    process to workers, it stays the sender's: workers attach and do not
    unlink. Sent by a process multiprocessing started (a worker returning
    it, or putting it on a Queue), it hands over ownership:
    the receiving process unlinks the segment when it is done with it
    (leaving its with-block, unlink(), or when the received Shared is
    garbage collected; arrays taken from it stay valid), and the sender no
    longer unlinks it, even on leaving its own with-block. A Shared whose
    name is already gone (a worker's `with npshm.share(x) as s: return s`
    leaves the block, unlinking the name, before its result is pickled)
    travels by file descriptor: the receiver gets the memory with no name
    at all, freed when its last view goes. So a worker that returns a
    Shared, inside a with-block or not, leaves nothing in /dev/shm once the
    parent is done; only a worker killed mid-task leaves a segment, which
    `npshm gc` reclaims once its creator is gone.
    """

    def __init__(self, name: str, path: Optional[str], mm: SegmentMap, hdr: Any, created: bool,
                 fd: Optional[int] = None):
        self._name, self._path, self._hdr = name, path, hdr
        self._mm: Optional[SegmentMap] = mm
        self._created = created
        self._fd = fd  # anonymous (memfd) segments keep their descriptor for send()
        self._array: Optional[np.ndarray] = _view(mm, hdr, True)
        self._lock = threading.Lock()  # ownership: with-exit against a pickle in a Queue's feeder thread
        self._kept: Optional[SegmentMap] = None  # the mapping, after a worker's with-exit (see __exit__)
        self._finalizer: Optional[weakref.finalize[Any, Any]] = None  # unlinks a segment received with ownership

    @property
    def name(self) -> str:
        """The segment name, without a leading slash."""
        return self._name

    @property
    def path(self) -> Optional[str]:
        """The file's path: /dev/shm/NAME, a .npy path, or None for an anonymous array."""
        return self._path

    @property
    def array(self) -> np.ndarray:
        """The writable zero-copy view of the whole array."""
        if self._array is None:
            raise ValueError(f"segment {self._name!r} is closed")
        return self._array

    @property
    def readonly(self) -> np.ndarray:
        """A read-only view of the array: hand it to workers (Process args,
        Pool.map, a Queue) and each gets a read-only view of the same
        memory, mapped read-only, so no worker can write by mistake."""
        v = self.array.view()
        v.flags.writeable = False
        return v

    @property
    def anonymous(self) -> bool:
        """True for a memfd-backed array (share_anonymous): no name, sent with send()."""
        return self._path is None

    @property
    def descriptor(self) -> Dict[str, Any]:
        """The JSON-able descriptor: name, dtype, shape, fortran_order, offset, nbytes, size."""
        h = self._hdr
        d = {"name": self._name, "anonymous": True} if self.anonymous else {"name": self._name}
        return {
            **d,
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
        mm, self._array, self._mm, self._kept = self._mm, None, None, None
        if mm is not None and mm.on_disk and not mm.closed:
            mm.flush()  # a .npy file on disk: written back now, as np.save would have
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def unlink(self) -> None:
        """Remove the segment's name (or the .npy file). Attached processes keep their views."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._path is not None:
            unlink_path(self._path)

    def publish(self, name: str, *, exclusive: bool = False) -> None:
        """Make this segment visible as `name`, atomically, replacing any array
        published there (or, with exclusive=True, raising FileExistsError).

        Readers of `name` get the previous complete array or this complete
        one, never a partial one; processes attached to the old one keep it.
        A published segment is persistent: leaving the with-block no longer
        unlinks it, and gc never removes it; `npshm rm NAME` does.
        """
        if self._path is None:
            raise ValueError("an anonymous array has no name to publish; use npshm.publish(name, array)")
        clean = check_new_name(name)
        if backend() == "shm_open":  # no rename
            if clean == self._name:
                return
            raise io.UnsupportedOperation(f"cannot publish {self._name!r} as {clean!r}: the shm_open backend cannot "
                                          "rename a segment; use npshm.publish(name, array), which creates it under its name")
        dest = os.path.join(shm_dir(), clean)
        set_xattr(self._path, XATTR_PERSISTENT, b"1")
        if dest != self._path:
            if exclusive:
                try:
                    os.link(self._path, dest)  # atomic, and fails if dest exists
                except FileExistsError:
                    raise FileExistsError(errno.EEXIST, f"an array is already published as {clean!r}", dest) from None
                os.unlink(self._path)
            else:
                os.rename(self._path, dest)
        self._name, self._path, self._created = clean, dest, False

    def __enter__(self) -> Shared:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close, and unlink if this object owns the segment. In a process
        multiprocessing started (a Pool or executor worker), the mapping is
        kept while this object lives, so `return s` inside the with-block
        still hands the memory (by descriptor) to whoever unpickles it."""
        with self._lock:
            kept = self._mm if _reduce.in_child() else None
            self.close()
            self._kept = kept
            if self._created:
                try:
                    self.unlink()
                except FileNotFoundError:
                    pass
                self._created = False

    def __reduce__(self) -> Tuple[Any, ...]:
        if self._path is None:
            raise TypeError("an anonymous array cannot be pickled by name; hand it over with npshm.send")
        return (_reopen, (self.descriptor, self._path))

    def __repr__(self) -> str:
        h = self._hdr
        state = "closed" if self._array is None else "open"
        return f"<npshm.Shared {self._name!r} {h.dtype} {h.shape} {state}>"


def _reduce_shared(s: Shared) -> Tuple[Any, ...]:
    """multiprocessing's reducer for Shared: the memory by reference, and
    ownership (the duty to unlink) to the receiver when the sender had it."""
    with s._lock:
        mm = s._mm if s._mm is not None else s._kept
        if mm is None:
            raise ValueError(f"cannot send segment {s._name!r}: it is closed")
        ref = _reduce.segment_ref(mm, True)
        owner = s._created and ref[0] == "path" and not mm.on_disk and _reduce.in_child()
        if owner:
            s._created = False  # the receiver unlinks it now
    return (_rebuild_shared, (ref, s._name, owner))


def _rebuild_shared(ref: Tuple[Any, ...], name: str, owner: bool) -> Any:
    """The receiving end of _reduce_shared (never raises: see Unattached)."""
    try:
        mm = _reduce.map_ref(ref, True)
        path = ref[1] if ref[0] == "path" else None
        label = repr(name) if name else "received array"
        s = Shared(name if path is not None else "", path, mm, _header_of(mm, label), created=owner)
    except Exception as e:  # noqa: BLE001
        return _reduce._failed(ref, e)
    if owner and path is not None:
        s._finalizer = weakref.finalize(s, _unlink_if_same, path, mm.dev, mm.ino)
    return s


def _unlink_if_same(path: str, dev: int, ino: int) -> None:
    """Unlink path if it still names the file (dev, ino): a received
    Shared dropped without unlink, or left at exit."""
    try:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) == (dev, ino):
            os.unlink(path)
    except OSError:
        pass


def _reopen(descriptor: Dict[str, Any], path: str) -> Shared:
    mm, head = open_map(path, repr(descriptor["name"]), True)
    hdr = _header_of(mm, repr(descriptor["name"]), head)
    _check_descriptor(_descriptor(descriptor, repr(descriptor["name"])), hdr, repr(descriptor["name"]))
    return Shared(descriptor["name"], path, mm, hdr, created=False)


def _new(shape: Any, dtype: Any, fortran_order: bool, name: Optional[str], path: Optional[str] = None) -> Shared:
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
    if path is not None:
        mm = create_file_map(path, len(header) + nbytes)
        mm[: len(header)] = header
        hdr = parse_header(header, len(header) + nbytes, repr(path))
        return Shared(os.path.basename(path), path, mm, hdr, created=False)
    name, spath, mm = create_map(name, len(header) + nbytes)
    mm[: len(header)] = header
    hdr = parse_header(header, len(header) + nbytes, repr(name))
    return Shared(name, spath, mm, hdr, created=True)


def _copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """dst[...] = src, in parallel chunks when both are contiguous in the same
    order (numpy releases the GIL while it copies)."""
    order: Literal["C", "F"] = "F" if dst.flags.f_contiguous and not dst.flags.c_contiguous else "C"
    same = src.dtype == dst.dtype and (src.flags.c_contiguous if order == "C" else src.flags.f_contiguous)
    if not same or dst.nbytes < (16 << 20) or (os.cpu_count() or 1) < 2:
        dst[...] = src
        return
    from concurrent.futures import ThreadPoolExecutor

    d = dst.reshape(-1, order=order).view(np.uint8)
    s = src.reshape(-1, order=order).view(np.uint8)
    chunk = 16 << 20
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as ex:
        list(ex.map(lambda lo: np.copyto(d[lo : lo + chunk], s[lo : lo + chunk]), range(0, d.size, chunk)))


PathArg = Union[str, "os.PathLike[str]"]


def create(shape: Union[int, Tuple[int, ...], List[int]], dtype: Any, *, order: str = "C",
           name: Optional[str] = None, path: Optional[PathArg] = None) -> Shared:
    """A new zero-filled array in a new segment, to fill in place.

    order is 'C' or 'F'. name defaults to a fresh 'psm_' name; an existing
    name raises FileExistsError, one beginning with '.npshm-tmp-' (reserved
    for npshm's temporaries) ValueError. An array larger than /dev/shm's free
    space, or than the memory the machine or this container can give, raises
    OSError(ENOSPC) here, naming the fix, before anything is allocated.

    path= makes a .npy file on disk instead (created exclusively, 0600; the
    same file Go's bridge.CreateFile makes and np.load reads): for arrays
    kept on disk or larger than memory. Its blocks are reserved (a full disk
    fails here) but its pages are not touched: they come into memory as the
    array is written, and go back to disk as the kernel writes back;
    close() (and leaving the with-block) flushes. The file is the caller's:
    leaving the with-block does not remove it.
    """
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', not {order!r}")
    if name is not None and path is not None:
        raise TypeError("create() takes name= or path=, not both")
    if isinstance(shape, int):
        shape = (shape,)
    return _new(shape, dtype, order == "F", check_new_name(name) if name is not None else None,
                os.fspath(path) if path is not None else None)


def share(array: Any, name: Optional[str] = None, *, path: Optional[PathArg] = None) -> Shared:
    """Copy an array (once) into a new segment and return it.

    Fortran-ordered arrays stay Fortran-ordered; other non-contiguous arrays
    become C-contiguous. The segment is a .npy image, so other processes
    attach with npshm.attach(name) or np.load('/dev/shm/NAME', mmap_mode='r').
    Names and sizes are checked as by create(); path= writes a .npy file on
    disk instead, as create(path=) does.
    """
    if name is not None and path is not None:
        raise TypeError("share() takes name= or path=, not both")
    return _share(array, check_new_name(name) if name is not None else None,
                  os.fspath(path) if path is not None else None)


def _share(array: Any, name: Optional[str], path: Optional[str] = None) -> Shared:
    """share() under any name, npshm's temporaries included."""
    arr = np.asarray(array)
    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    s = _new(arr.shape, arr.dtype, fortran, name, path)
    try:
        _copy_into(s.array, arr)
    except BaseException:
        s.close()
        if path is not None or s._created:
            s.unlink()
        raise
    return s


def publish(name: str, array: Any, *, exclusive: bool = False) -> Dict[str, Any]:
    """Copy `array` into shared memory as `name`, atomically, and return its
    descriptor. Any process can then `npshm.get(name)` it, from any shell.

    The copy is written under a temporary name and renamed into place, so
    readers never see a partial array; republishing replaces the array for
    new readers while processes attached to the old one keep it intact.
    The segment is persistent (it outlives this process) until `npshm rm NAME`.
    exclusive=True raises FileExistsError (naming `name`) instead of
    replacing, before anything is copied when the name is taken already.
    """
    clean = check_new_name(name)
    if exclusive and os.path.lexists(segment_path(clean)):  # before anything is copied
        raise FileExistsError(errno.EEXIST, f"an array is already published as {clean!r}", segment_path(clean))
    if backend() == "shm_open":
        return _publish_in_place(clean, array, exclusive)
    s = _share(array, temp_name())
    try:
        s.publish(name, exclusive=exclusive)
        return s.descriptor
    except BaseException:
        s.close()
        s.unlink()
        raise
    finally:
        s.close()


def unlink(name: str) -> None:
    """Remove segment `name` (or a published array) from the segment
    directory, as `npshm rm NAME` does. Processes attached keep their views;
    the memory is freed when the last one goes. A missing name raises
    FileNotFoundError."""
    path = segment_path(name)
    try:
        unlink_path(path)
    except FileNotFoundError:
        raise missing_dir(shm_dir()) or FileNotFoundError(
            errno.ENOENT, f"no segment {clean_name(name)!r} in {shm_dir()}", path) from None


def _publish_in_place(name: str, array: Any, exclusive: bool) -> Dict[str, Any]:
    """publish() for the shm_open backend, which cannot rename: the array is
    created under `name` (replacing an older one unless exclusive) and the
    first byte of its header is written last, so a reader attaching meanwhile
    gets SegmentError (not an npy image), never a partial array."""
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise ValueError(f"cannot share an object array ({arr.dtype})")
    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    header = encode_header(arr.dtype, fortran, arr.shape)
    size = len(header) + arr.nbytes
    for attempt in range(100):
        try:
            n, path, mm = create_map(name, size)
            break
        except FileExistsError:
            if exclusive:
                raise FileExistsError(errno.EEXIST, f"an array is already published as {name!r}",
                                      segment_path(name)) from None
            if attempt == 99:
                raise
            try:
                unlink_path(segment_path(name))
            except FileNotFoundError:
                pass
    mm[1 : len(header)] = header[1:]
    s = Shared(n, path, mm, parse_header(header, size, repr(n)), created=False)
    try:
        _copy_into(s.array, arr)
        mm[0] = header[0]
        return s.descriptor
    except BaseException:
        s.unlink()
        raise
    finally:
        s.close()


def get(name: str, *, writable: bool = False) -> np.ndarray:
    """The array published as `name`: a zero-copy view, read-only by default.
    A missing name raises FileNotFoundError listing the names that exist."""
    try:
        return attach(name, writable=writable)
    except FileNotFoundError as e:
        if missing_dir(shm_dir()) or backend() == "shm_open":  # shm_open objects cannot be listed
            raise
        existing = [n if n.isprintable() else repr(n) for n in names()]  # no control characters in the message
        have = ", ".join(existing[:10]) + (" ..." if len(existing) > 10 else "") if existing else "none"
        raise FileNotFoundError(errno.ENOENT, f"no array published as {name!r} in {shm_dir()} (have: {have})") from e


def names() -> List[str]:
    """Names of the npy segments in the segment directory (not temporaries).
    The shm_open backend cannot list (macOS has no directory of shm objects):
    io.UnsupportedOperation."""
    if backend() == "shm_open":
        raise io.UnsupportedOperation("the shm_open backend cannot list segments (macOS has no directory of POSIX shared "
                                      "memory objects); set NPSHM_BACKEND=dir to list them")
    out = []
    d = shm_dir()
    try:
        listing = os.listdir(d)
    except FileNotFoundError:
        raise missing_dir(d) or FileNotFoundError(errno.ENOENT, f"no directory {d}", d) from None
    for n in sorted(listing):
        if n.startswith(TEMP_PREFIX):
            continue
        try:
            fd, _ = open_file(os.path.join(d, n), repr(n))  # never blocks on a FIFO, never follows a link
        except (OSError, SegmentError):
            continue
        try:
            if os.pread(fd, 6, 0) == b"\x93NUMPY":
                out.append(n)
        except OSError:
            pass
        finally:
            os.close(fd)
    return out


def attach_lines(stream: Optional[IO[str]] = None, *, writable: bool = False) -> Iterator[np.ndarray]:
    """Attach each descriptor JSON line read from `stream` (default stdin):
    the receiving end of a Go producer writing one line per array to a
    child's stdin. Blank lines are skipped."""
    for line in stream if stream is not None else sys.stdin:
        if line.strip():
            yield attach(line, writable=writable)


def share_anonymous(array: Any = None, *, shape: Union[int, Tuple[int, ...], List[int], None] = None,
                    dtype: Any = None, order: str = "C") -> Shared:
    """Like share() (or create() when given shape and dtype) but in a memfd:
    no name in /dev/shm, nothing to leak. Hand it over with send(); the
    memory is freed when the last process holding it closes or exits. Its
    size is sealed, so no peer can truncate it under another's mapping.
    An array larger than the memory the machine or this container can give
    raises OSError(ENOSPC) before anything is allocated."""
    if array is not None:
        arr = np.asarray(array)
        shape, dtype = arr.shape, arr.dtype
        fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    else:
        if shape is None or dtype is None:
            raise TypeError("share_anonymous() takes an array, or shape= and dtype=")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        fortran = order == "F"
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise ValueError(f"cannot share an object array ({dtype})")
    header = encode_header(dtype, fortran, shape)
    count = 1
    for x in shape:
        count *= int(x)
    size = len(header) + count * dtype.itemsize
    if backend() == "shm_open":  # no memfd (macOS): an shm object unlinked once made
        fd, mm = create_unlinked(size)
    elif not hasattr(os, "memfd_create"):
        raise io.UnsupportedOperation("share_anonymous needs a memfd (Linux) or the shm_open backend (macOS's default): "
                                      "unset NPSHM_BACKEND or set it to shm_open")
    else:
        check_fits("", size, "anonymous array")
        fd = os.memfd_create("npshm", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
            mm = reserve_map(fd, size, "anonymous array")
        except BaseException:
            os.close(fd)
            raise
    mm[: len(header)] = header
    hdr = parse_header(header, size, "anonymous array")
    s = Shared("", None, mm, hdr, created=True, fd=fd)
    if array is not None:
        _copy_into(s.array, arr)
    return s


def send(sock: socket.socket, obj: Union[Shared, np.ndarray, Any]) -> None:
    """Send an array to the process at the other end of a Unix socket: one
    message with the descriptor as a JSON line and the file descriptor
    (SCM_RIGHTS). obj is a Shared (anonymous or named) or an array, which is
    first copied into an anonymous segment. The receiver (npshm.recv, or Go's
    bridge.Receive) maps the same memory."""
    if isinstance(obj, Shared):
        if obj._fd is not None:
            fd, owned = obj._fd, False
        elif obj._path is not None:
            fd, owned = open_file(obj._path, repr(obj._name))[0], True
        elif obj._mm is not None:  # a Shared received through multiprocessing with no name
            fd, owned = _reduce.fd_of(obj._mm, False), False
        else:
            raise ValueError("cannot send a closed array")
        line = json.dumps(obj.descriptor, separators=(",", ":")) + "\n"
        try:
            socket.send_fds(sock, [line.encode()], [fd])
        finally:
            if owned:
                os.close(fd)
        return
    s = share_anonymous(obj)
    try:
        send(sock, s)
    finally:
        s.close()


_MAX_LINE = 1 << 16  # a received descriptor line, as Go's Receive bounds it


def recv(sock: socket.socket, *, writable: bool = False) -> np.ndarray:
    """Receive one array sent with send() (or Go's bridge.Send): a zero-copy
    view of the sender's memory, read-only unless writable=True. Raises
    EOFError when the peer closed the socket.

    The sender keeps the file, so only a file it cannot shrink under the
    mapping (which would kill this process with SIGBUS) is mapped: a memfd
    sealed against shrinking (share_anonymous, Go's CreateAnonymous), or the
    very file the descriptor names (a named segment, or a .npy file by
    path), the same exposure as attaching by name. Anything else (an
    unsealed memfd, an O_TMPFILE or unlinked file, a file passed off under
    another's name, a pipe, socket, directory or device) raises
    UnsafeFDError before mapping; every descriptor received is closed.
    A named file is held as attach holds it (so gc cannot take its name);
    a sealed memfd with missing pages (sparse) that memory cannot hold
    raises OSError(ENOSPC), naming the size its sender declared."""
    msg, fds, flags, _ = socket.recv_fds(sock, _MAX_LINE, 4)
    if not fds:
        if not msg:
            raise EOFError("peer closed the socket")
        raise ValueError("message carries no file descriptor")
    fd = fds[0]
    try:
        if len(fds) > 1 or flags & socket.MSG_CTRUNC:
            or_more = " or more" if flags & socket.MSG_CTRUNC else ""
            raise ValueError(f"want one file descriptor in the message, got {len(fds)}{or_more}")
        while not msg.endswith(b"\n"):  # a stream socket may split the line
            if len(msg) >= _MAX_LINE:
                raise DescriptorError(f"received array: descriptor line longer than {_MAX_LINE >> 10} KiB")
            more = sock.recv(_MAX_LINE - len(msg))
            if not more:
                raise DescriptorError("received array: descriptor line cut short")
            msg += more
        desc = _descriptor(_load_json(msg), "received array")
        size = check_received(fd, desc)
        if size == 0:
            raise SegmentError("received segment is empty")
        mm = new_map(fd, size, writable, None)
    finally:
        for f in fds:
            os.close(f)
    label = "received array" if not desc["name"] else repr(desc["name"])
    hdr = _header_of(mm, label)
    _check_descriptor(desc, hdr, label)
    return _view(mm, hdr, writable)


from ._loadtxt import LoadError, loadtxt  # noqa: E402

_reduce.register(Shared, _reduce_shared)
