"""Arrays by reference through multiprocessing.

`import npshm` registers two reducers with multiprocessing's pickler
(ForkingPickler, which Process arguments under spawn and forkserver, Queue,
Pipe, Pool and concurrent.futures.ProcessPoolExecutor all use), the way
torch.multiprocessing does for tensors:

- an ndarray whose memory lies in an npshm mapping (an attached, shared,
  created, received or loaded array, or any slice, transpose or field view
  of one) travels as (segment, byte offset, shape, strides, dtype,
  writeable) and arrives as a zero-copy view of the same memory, read-only
  if it was read-only. Every other ndarray keeps numpy's own pickling (a
  copy). Plain pickle.dumps is untouched: it still copies.
- a Shared travels the same way and hands over ownership (see Shared).

The segment is named by its path while that name still holds the same
file; otherwise (an anonymous memfd array, or a segment whose name is
gone) the file descriptor itself travels, duplicated by multiprocessing
(DupFd: inherited by a spawned child, or fetched from the sender's
resource sharer, which needs the sender alive until the receiver unpickles).

An array that cannot be attached on arrival never raises during
unpickling, where an exception would kill Pool's result thread (and hang
Pool.map) or the worker reading its task: it arrives as an Unattached,
whose every use raises the error that prevented attaching.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import threading
import weakref
from multiprocessing import parent_process, reduction, resource_sharer
from typing import Any, Callable, Optional, Tuple

import numpy as np

from ._format import SegmentError
from ._segment import SegmentMap, new_map, open_map

# ("path", path, dev, ino, follow) or ("fd", DupFd, dev, ino)
Ref = Tuple[Any, ...]


class Unattached:
    """Stands in for an array or Shared that arrived through multiprocessing
    but could not be attached in this process (its segment was removed, or
    its sender died before handing over the memory). Unpickling never
    raises, so neither Pool's result thread nor a worker reading its task
    dies of it; instead every use of this object raises `error`, a
    SegmentError naming the segment and the cause."""

    def __init__(self, error: SegmentError) -> None:
        object.__setattr__(self, "error", error)

    def __getattr__(self, attr: str) -> Any:
        raise object.__getattribute__(self, "error")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise object.__getattribute__(self, "error")

    def __getitem__(self, key: Any) -> Any:
        raise object.__getattribute__(self, "error")

    def __len__(self) -> int:
        raise object.__getattribute__(self, "error")

    def __iter__(self) -> Any:
        raise object.__getattribute__(self, "error")

    def __bool__(self) -> bool:
        raise object.__getattribute__(self, "error")

    def __repr__(self) -> str:
        return f"<npshm.Unattached: {object.__getattribute__(self, 'error')}>"


def mapping_of(arr: np.ndarray) -> Optional[SegmentMap]:
    """The npshm mapping arr's memory lies in, or None."""
    b: Any = arr
    while isinstance(b, np.ndarray):
        b = b.base
    if isinstance(b, memoryview):
        b = b.obj
    return b if isinstance(b, SegmentMap) else None


def _address(mm: SegmentMap) -> int:
    addr = getattr(mm, "_npshm_addr", None)
    if addr is None:
        addr = int(np.frombuffer(mm, dtype=np.uint8).__array_interface__["data"][0])
        mm._npshm_addr = addr  # type: ignore[attr-defined]
    return int(addr)


def _linked(mm: SegmentMap) -> bool:
    """Whether mm's path still names the file mm maps."""
    if mm.path is None:
        return False
    try:
        st = os.stat(mm.path) if mm.on_disk else os.lstat(mm.path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (mm.dev, mm.ino)


def fd_of(mm: SegmentMap, need_write: bool) -> int:
    """A descriptor of the file mm maps, open in this process (the mmap
    object keeps its own duplicate), found by identity in /proc/self/fd."""
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (mm.dev, mm.ino):
                continue
            if need_write and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDWR:
                continue
        except OSError:
            continue
        return fd
    raise SegmentError("no open descriptor of the array's memory to hand over (its mapping was made without one)")


def segment_ref(mm: SegmentMap, need_write: bool) -> Ref:
    """How a receiver finds mm's file: by path while the name holds it, else
    by descriptor duplication (multiprocessing's DupFd)."""
    if _linked(mm):
        return ("path", mm.path, mm.dev, mm.ino, mm.on_disk)
    return ("fd", reduction.DupFd(fd_of(mm, need_write)), mm.dev, mm.ino)


# Mappings made here for arrays that arrived, by file and access: many
# arrays sent from one segment share one mapping.
_maps: weakref.WeakValueDictionary[Tuple[int, int, bool], SegmentMap] = weakref.WeakValueDictionary()
_maps_lock = threading.Lock()


def map_ref(ref: Ref, writable: bool) -> SegmentMap:
    """Map the file a Ref names (raises on failure)."""
    if ref[0] == "path":
        _, path, dev, ino, follow = ref
        with _maps_lock:
            hit = _maps.get((dev, ino, writable))
        if hit is not None:
            return hit
        mm, _ = open_map(path, repr(path), writable, follow=follow)
        if (mm.dev, mm.ino) != (dev, ino):
            raise SegmentError(f"segment {path!r} was replaced by another array after this one was sent")
    else:
        _, dup, dev, ino = ref
        fd = dup.detach()  # always: it releases the sender's duplicate
        try:
            with _maps_lock:
                hit = _maps.get((dev, ino, writable))
            if hit is not None:
                return hit
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (dev, ino):
                raise SegmentError("the descriptor received is not the array's segment")
            fcntl.flock(fd, fcntl.LOCK_SH)
            mm = new_map(fd, st.st_size, writable, None)
        finally:
            # a spawned or forkserver child inherits the descriptor, and one
            # inherited descriptor may stand for several arrays: keep it
            if isinstance(dup, resource_sharer.DupFd):
                os.close(fd)
    with _maps_lock:
        return _maps.setdefault((dev, ino, writable), mm)


def _describe(ref: Ref) -> str:
    return f"segment {ref[1]!r}" if ref[0] == "path" else "an anonymous or unlinked segment"


def _failed(ref: Ref, e: BaseException) -> Unattached:
    err = SegmentError(f"array sent by reference could not be attached: {_describe(ref)}: {e}")
    err.__cause__ = e
    return Unattached(err)


def rebuild_array(ref: Ref, offset: int, shape: Tuple[int, ...], strides: Tuple[int, ...],
                  dtype: np.dtype, writeable: bool) -> Any:
    """The receiving end of reduce_array: a view of the same memory, or an
    Unattached if it cannot be had."""
    try:
        mm = map_ref(ref, writeable)
        arr = np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset, strides=strides)
        if not writeable and arr.flags.writeable:
            arr.flags.writeable = False
        return arr
    except Exception as e:  # noqa: BLE001 - see Unattached
        return _failed(ref, e)


def reduce_array(arr: np.ndarray) -> Tuple[Callable[..., Any], Tuple[Any, ...]]:
    """ForkingPickler's reducer for ndarray: by reference when arr lies in an
    npshm mapping, numpy's own pickling (by value) otherwise."""
    mm = mapping_of(arr) if arr.size else None
    if mm is not None:
        writeable = bool(arr.flags.writeable)
        try:
            ref = segment_ref(mm, writeable)
        except (OSError, SegmentError):
            ref = None  # no way to name it: a copy, as before
        if ref is not None:
            offset = int(arr.__array_interface__["data"][0]) - _address(mm)
            return rebuild_array, (ref, offset, arr.shape, arr.strides, arr.dtype, writeable)
    return arr.__reduce_ex__(pickle.DEFAULT_PROTOCOL)  # type: ignore[return-value]


def register(shared_type: type, reduce_shared: Callable[[Any], Any]) -> None:
    """Register the reducers with multiprocessing's pickler (once)."""
    reduction.ForkingPickler.register(np.ndarray, reduce_array)
    reduction.ForkingPickler.register(shared_type, reduce_shared)


def in_child() -> bool:
    """Whether this process was started by multiprocessing (a Pool or
    executor worker, a Process)."""
    return parent_process() is not None
