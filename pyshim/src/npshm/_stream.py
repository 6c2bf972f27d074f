"""Streams: a named ring of slots, one producer, any number of readers.

The Python twin of Go's github.com/npshm/npshm/stream; the byte layout, the
protocol and the guarantees are in docs/STREAMS.md. Both languages read and
write the same segments.

Memory ordering on the Python side. Python has no atomics and no barriers:
the control words are read and written through memoryview casts ('Q', 'I'),
each one naturally aligned 8- or 4-byte load or store (CPython's
memoryview packs a single item with a fixed-size memcpy, one mov on
x86-64). On x86-64 (TSO) every load is an acquire and every store a
release, in program order, which is all the seqlock and the head/cursor
protocol need. The places that need a store to be seen before a later
load (a reader about to sleep; the producer waking readers) go through the
futex system call, which is a full barrier in the kernel (smp_mb in
futex_wait and futex_wake). On arm64 the Python side has no such ordering
for plain loads and stores: a Python reader there may, rarely, see a frame
torn by a concurrent write in lossy mode; Go is correct on both (see
docs/STREAMS.md, "arm64").
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import math
import mmap
import os
import platform
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from typing_extensions import Self

import numpy as np
import numpy.typing as npt

from ._format import Header, encode_header, parse_header
from ._segment import (
    _not_found,
    check_new_name,
    create_fd,
    open_file,
    segment_path,
)

__all__ = ["StreamError", "StreamReader", "StreamWriter", "stream_reader", "stream_writer"]


class StreamError(OSError):
    """A stream failed: its producer died without closing it, or (blocking
    mode) a frame was overwritten, which only a second producer can cause."""


# The layout (docs/STREAMS.md); the same constants as Go's stream/layout.go.
MAGIC = b"NPSTRM01"
VERSION = 1
SLOT_HEADER = 64
MAX_READERS = 64
READER_SIZE = 64
CTRL_ALIGN = 4096
CTRL_READERS = 256
CTRL_SIZE = CTRL_READERS + MAX_READERS * READER_SIZE
C_VERSION, C_FLAGS, C_SLOTS, C_SLOT_SIZE, C_FRAME_BYTES, C_DATA_OFFSET, C_MAX_READERS = 8, 12, 16, 24, 32, 40, 48
C_HEAD, C_SLEEPERS, C_STATE, C_PWAITING, C_PRODUCER = 64, 72, 76, 128, 136
R_CURSOR, R_ACTIVE, R_PID = 0, 8, 16
FLAG_LOSSY = 1
STATE_CLOSED = 1

READER_WAIT = 0.1  # seconds a reader sleeps at most before it looks at the producer
PRODUCER_WAIT = 0.01  # seconds the producer sleeps at most on a reader's cursor
LIVENESS_EVERY = 0.25  # seconds between the producer's checks of the readers it waits for
OPEN_WAIT = 1.0  # seconds an open waits for a stream still being made

# --- system calls: futex and OFD byte locks ---------------------------------

_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine().lower())
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1
_F_OFD_GETLK, _F_OFD_SETLK = 36, 37
_FLOCK = "hhqqi4x"  # struct flock on 64-bit Linux: type, whence, start, len, pid


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc: Any = None


def _sys() -> Any:
    global _libc
    if _libc is None:
        if _SYS_FUTEX is None or not os.uname().sysname == "Linux":
            raise OSError(errno.ENOSYS, "streams need Linux on x86-64 or arm64 (futex, OFD locks)")
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.syscall.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32,
                                  ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
    return _libc


def _futex_wait(addr: int, val: int, timeout: float) -> None:
    """Sleep while the u32 at addr equals val, at most timeout seconds (the
    GIL is released). Returns on a wake, a changed value, a signal or the
    timeout alike: the caller looks again."""
    if timeout <= 0:
        return
    ts = _Timespec(int(timeout), int((timeout % 1) * 1e9))
    _libc.syscall(_SYS_FUTEX, addr, _FUTEX_WAIT, val & 0xFFFFFFFF, ctypes.byref(ts), None, 0)


def _futex_wake(addr: int) -> None:
    """Wake every sleeper on addr; a full memory barrier too."""
    _libc.syscall(_SYS_FUTEX, addr, _FUTEX_WAKE, 0x7FFFFFFF, None, None, 0)


def _try_lock(fd: int, off: int) -> bool:
    """Take the OFD write lock on byte off; False if another open file has it."""
    try:
        fcntl.fcntl(fd, _F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_WRLCK, 0, off, 1, 0))
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def _unlock(fd: int, off: int) -> None:
    fcntl.fcntl(fd, _F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_UNLCK, 0, off, 1, 0))


def _locked_by_other(fd: int, off: int) -> bool:
    r = fcntl.fcntl(fd, _F_OFD_GETLK, struct.pack(_FLOCK, fcntl.F_WRLCK, 0, off, 1, 0))
    return bool(struct.unpack(_FLOCK, r)[0] != fcntl.F_UNLCK)


# --- layout -------------------------------------------------------------------


def _slot_dtype(dtype: np.dtype, shape: tuple[int, ...], slot_size: int) -> np.dtype:
    return np.dtype({"names": ["seq", "ts_ns", "frame"], "formats": ["<u8", "<u8", (dtype, shape)],
                     "offsets": [0, 8, SLOT_HEADER], "itemsize": slot_size})


class _Geometry:
    def __init__(self, slots: int, frame_bytes: int, data_off: int):
        self.slots, self.frame_bytes, self.data_off = slots, frame_bytes, data_off
        self.slot_size = (SLOT_HEADER + frame_bytes + 63) & ~63
        self.ctrl = (data_off + slots * self.slot_size + CTRL_ALIGN - 1) & ~(CTRL_ALIGN - 1)
        self.size = self.ctrl + CTRL_SIZE


Shape = Union[int, Sequence[int]]  # noqa: UP007 (a runtime alias; Python 3.9 has no int | ...)


def _frame_spec(shape: Shape, dtype: npt.DTypeLike) -> tuple[tuple[int, ...], np.dtype, int]:
    dt = np.dtype(dtype)
    shp = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if dt.hasobject:
        raise ValueError("a stream cannot carry object dtypes")
    if any(d < 0 for d in shp):
        raise ValueError(f"invalid frame shape {shp}")
    nbytes = dt.itemsize * math.prod(shp)
    if nbytes <= 0 or nbytes > 2**31 - 1:
        raise ValueError(f"a frame of {dt.str} {shp} is {nbytes} bytes; it must be 1 byte to 2 GiB")
    return shp, dt, nbytes


# --- the shared part of both ends ----------------------------------------------


class _End:
    """A mapped stream: its words, its slots, and views of its frames."""

    _mm: mmap.mmap | None = None

    def _attach(self, fd: int, mm: mmap.mmap, g: _Geometry, shape: tuple[int, ...], dtype: np.dtype, lossy: bool,
                writable: bool) -> None:
        self._fd, self._mm, self._g = fd, mm, g
        self._shape, self._dtype, self._lossy = shape, dtype, lossy
        self._q = memoryview(mm).cast("Q")  # aligned u64 words
        self._i = memoryview(mm).cast("I")  # aligned u32 words
        self._anchor = ctypes.c_char.from_buffer(mm)
        self._base = ctypes.addressof(self._anchor)
        c = g.ctrl
        self._head = (c + C_HEAD) // 8
        self._head_addr = self._base + c + C_HEAD  # futex: the low half, little-endian
        self._sleepers, self._state, self._pwaiting = (c + C_SLEEPERS) // 4, (c + C_STATE) // 4, (c + C_PWAITING) // 4
        self._seq = [(g.data_off + i * g.slot_size) // 8 for i in range(g.slots)]
        self._frames = []
        for i in range(g.slots):
            v = np.ndarray(shape, dtype=dtype, buffer=mm, offset=g.data_off + i * g.slot_size + SLOT_HEADER)
            if not writable:
                v.flags.writeable = False
            self._frames.append(v)

    def _entry(self, i: int) -> int:
        return self._g.ctrl + CTRL_READERS + i * READER_SIZE

    @property
    def shape(self) -> tuple[int, ...]:
        """The frames' shape."""
        return tuple(self._shape)

    @property
    def dtype(self) -> np.dtype:
        """The frames' dtype."""
        return np.dtype(self._dtype)

    @property
    def lossy(self) -> bool:
        return self._lossy

    @property
    def slots(self) -> int:
        return self._g.slots

    def _release(self) -> None:
        """Drop this end's hold on the mapping; frames already handed out keep
        it alive (numpy views reference the mmap) until they go."""
        self._frames = []
        self._q.release()
        self._i.release()
        del self._anchor
        os.close(self._fd)
        try:
            if self._mm is not None:
                self._mm.close()
        except BufferError:
            pass  # views still exported: the mapping goes with the last of them
        self._mm = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _create(name: str | None, size: int) -> tuple[str, str, int, mmap.mmap]:
    """Create a segment as create_map does (exclusive, 0600, creator record,
    shared flock, memory reserved), keeping the descriptor for the stream's
    byte locks."""
    return create_fd(check_new_name(name) if name is not None else None, size)


class StreamWriter(_End):
    """The producer end of a stream (see stream_writer)."""

    def __init__(self, name: str | None, shape: Shape, dtype: npt.DTypeLike, *, slots: int = 8, lossy: bool = False):
        _sys()
        shp, dt, nbytes = _frame_spec(shape, dtype)
        if slots < 2:
            raise ValueError(f"{slots} slots: a ring needs at least 2")
        probe = _Geometry(slots, nbytes, 0)
        hdr = encode_header(_slot_dtype(dt, shp, probe.slot_size), False, (slots,))
        g = _Geometry(slots, nbytes, len(hdr))
        self._name, self._path, fd, mm = _create(name, g.size)
        try:
            # the liveness lock first, then everything, then the magic last
            if not _try_lock(fd, g.ctrl):
                raise OSError(errno.EAGAIN, "cannot take the producer lock of a new stream")
            mm[: len(hdr)] = hdr
            self._attach(fd, mm, g, shp, dt, lossy, True)
            q, i, c = self._q, self._i, g.ctrl
            i[(c + C_VERSION) // 4] = VERSION
            i[(c + C_FLAGS) // 4] = FLAG_LOSSY if lossy else 0
            q[(c + C_SLOTS) // 8] = slots
            q[(c + C_SLOT_SIZE) // 8] = g.slot_size
            q[(c + C_FRAME_BYTES) // 8] = nbytes
            q[(c + C_DATA_OFFSET) // 8] = g.data_off
            i[(c + C_MAX_READERS) // 4] = MAX_READERS
            q[(c + C_PRODUCER) // 8] = os.getpid()
            mm[c : c + 8] = MAGIC  # x86-64: stores are seen in program order
        except BaseException:
            os.unlink(self._path)
            if self._mm is None:
                mm.close()
                os.close(fd)
            else:
                self._release()
            raise
        self._pending = 0
        self._closed = False
        # the readers' active words (one numpy call finds them) and cursor indices
        self._active = np.ndarray((MAX_READERS,), dtype="<u4", buffer=mm, offset=c + CTRL_READERS + R_ACTIVE,
                                  strides=(READER_SIZE,))
        self._cursors = [(self._entry(k) + R_CURSOR) // 8 for k in range(MAX_READERS)]

    @property
    def name(self) -> str:
        """The stream's segment name."""
        return self._name

    @property
    def sent(self) -> int:
        """Frames published so far (the newest one's sequence number)."""
        return self._q[self._head] if not self._closed else 0

    @property
    def readers(self) -> int:
        """Readers attached now (live ones: a reader that died is not counted)."""
        if self._closed:
            return 0
        return sum(_locked_by_other(self._fd, self._entry(k)) for k in np.flatnonzero(self._active == 1).tolist())

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"stream {self._name!r} is closed")

    def _acquire(self) -> np.ndarray:
        self._check_open()
        seq = self._q[self._head] + 1
        s = (seq - 1) % self._g.slots
        if self._pending != seq:
            if not self._lossy and seq > self._g.slots:
                self._wait_readers(seq - self._g.slots)
            self._q[self._seq[s]] = 0  # seqlock: 0 while the slot is written
            self._pending = seq
        return self._frames[s]

    def _commit(self) -> None:
        seq = self._pending
        s = (seq - 1) % self._g.slots
        self._q[self._seq[s] + 1] = time.monotonic_ns()
        self._q[self._seq[s]] = seq  # release (x86-64: stores in program order)
        self._q[self._head] = seq
        self._pending = 0
        # Python cannot order this store before a load of the sleepers flag;
        # futex_wake is a full barrier and finds whoever sleeps: wake always.
        _futex_wake(self._head_addr)

    def _slowest(self, need: int) -> int:
        """The entry of the active reader with the lowest cursor below need; -1 if none."""
        q, slow, low = self._q, -1, need
        for k in np.flatnonzero(self._active).tolist():
            c = q[self._cursors[k]]
            if c < low:
                slow, low = k, c
        return slow

    def _wait_readers(self, need: int) -> None:
        last_check = time.monotonic()
        while True:
            k = self._slowest(need)
            if k < 0:
                self._i[self._pwaiting] = 0
                return
            if time.monotonic() - last_check >= LIVENESS_EVERY:
                self._release_dead()
                last_check = time.monotonic()
                continue
            cur = self._q[self._cursors[k]]
            self._i[self._pwaiting] = 1
            # futex_wait reads the cursor after a full barrier
            _futex_wait(self._base + self._entry(k) + R_CURSOR, cur, PRODUCER_WAIT)

    def _release_dead(self) -> None:
        for k in np.flatnonzero(self._active).tolist():
            off = self._entry(k)
            if _try_lock(self._fd, off):  # nobody holds it: the reader is gone
                self._i[(off + R_ACTIVE) // 4] = 0
                _unlock(self._fd, off)

    def send(self, array: npt.ArrayLike) -> None:
        """Copy one frame (an array of the stream's shape; its dtype cast as
        numpy's same_kind rule allows) into the next slot and publish it. In
        blocking mode this waits for the slowest live reader."""
        a = np.asarray(array)
        if a.shape != self._shape:
            raise ValueError(f"send: frame shape {a.shape} is not the stream's {self._shape}")
        view = self._acquire()
        np.copyto(view, a, casting="same_kind")
        self._commit()

    @contextmanager
    def slot(self) -> Iterator[np.ndarray]:
        """The next slot as a writable ndarray, to fill in place; leaving the
        block publishes it (an exception leaves it unpublished, and the next
        slot() or send() reuses it). In blocking mode entering waits for the
        slowest live reader."""
        view = self._acquire()
        yield view
        self._check_open()
        self._commit()

    def close(self) -> None:
        """End the stream: readers get every frame published, then stop. The
        name is unlinked; readers attached keep their mapping. Idempotent."""
        if self._closed or self._mm is None:
            return
        self._closed = True
        self._i[self._state] = STATE_CLOSED
        _futex_wake(self._head_addr)
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass
        _unlock(self._fd, self._g.ctrl)
        del self._active  # a view of the mapping
        self._release()


class StreamReader(_End):
    """One reader of a stream (see stream_reader)."""

    def __init__(self, name: str, *, timeout: float | None = None):
        _sys()
        self._name = name
        self._timeout = timeout
        self._closed = True
        path = segment_path(name)
        deadline = time.monotonic() + OPEN_WAIT
        while True:
            try:
                self._open(path, repr(name))
                break
            except _NotReady:
                if time.monotonic() > deadline:
                    raise StreamError(errno.EINVAL,
                                      f"stream {name!r}: no control block (not a stream, or still being made)") from None
                time.sleep(0.005)
        self._closed = False

    def _open(self, path: str, what: str) -> None:
        try:
            fd, st = open_file(path, what, writable=True)
        except FileNotFoundError:
            raise _not_found(what, path) from None
        mm = None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # a holder, for gc
            st = os.fstat(fd)
            if st.st_nlink == 0:
                raise _not_found(what, path)  # closed or removed as we opened it
            head = os.pread(fd, 1 << 16, 0)
            hdr = parse_header(head, st.st_size, what)
            g, shape, dtype, lossy = self._check(hdr, head, st.st_size, fd, what)
            mm = mmap.mmap(fd, st.st_size, access=mmap.ACCESS_WRITE)
            self._attach(fd, mm, g, shape, dtype, lossy, False)
        except BaseException:
            if mm is not None:
                mm.close()
            os.close(fd)
            raise
        self._join()

    @staticmethod
    def _check(hdr: Header, head: bytes, size: int, fd: int, what: str) -> tuple[_Geometry, tuple[int, ...], np.dtype, bool]:
        dt = hdr.dtype
        f = dt.fields.get("frame") if dt.fields else None
        if len(hdr.shape) != 1 or f is None or f[1] != SLOT_HEADER or hdr.fortran_order or hdr.shape[0] < 2:
            raise StreamError(errno.EINVAL, f"{what} is not a stream: its header is not a ring of slots")
        base, shape = (f[0].subdtype if f[0].subdtype else (f[0], ()))
        shape = tuple(shape)
        nbytes = base.itemsize * math.prod(shape)
        g = _Geometry(hdr.shape[0], nbytes, hdr.offset)
        if g.slot_size != dt.itemsize or g.size > size:
            raise StreamError(errno.EINVAL, f"{what} is not a stream: its slots do not match its size")
        ctrl = os.pread(fd, CTRL_SIZE, g.ctrl)
        if ctrl[:8] != MAGIC:
            raise _NotReady()
        def u32(o: int) -> int:
            return int(struct.unpack_from("<I", ctrl, o)[0])

        def u64(o: int) -> int:
            return int(struct.unpack_from("<Q", ctrl, o)[0])

        if (u32(C_VERSION), u64(C_SLOTS), u64(C_SLOT_SIZE), u64(C_FRAME_BYTES), u64(C_DATA_OFFSET), u32(C_MAX_READERS)) != \
                (VERSION, g.slots, g.slot_size, nbytes, g.data_off, MAX_READERS):
            raise StreamError(errno.EINVAL,
                              f"{what} is not a stream (of this version): its control block does not match its header")
        return g, shape, base, bool(u32(C_FLAGS) & FLAG_LOSSY)

    def _join(self) -> None:
        self._e = -1
        for k in range(MAX_READERS):
            if _try_lock(self._fd, self._entry(k)):
                self._e = self._entry(k)
                break
        if self._e < 0:
            self._release()
            raise StreamError(errno.EBUSY, f"stream {self._name!r}: all {MAX_READERS} reader entries are taken")
        q, i = self._q, self._i
        self._cursor = (self._e + R_CURSOR) // 8
        self._cursor_addr = self._base + self._e + R_CURSOR
        # the newest frame now is our first; the cursor is stored before
        # active (x86-64: stores in order), see Go's stream.Open
        h = q[self._head]
        q[self._cursor] = max(h - 1, 0)
        q[(self._e + R_PID) // 8] = os.getpid()
        i[(self._e + R_ACTIVE) // 4] = 1
        self._next, self._first = max(h, 1), True
        self._held = 0
        #: frames skipped: fallen a ring behind (lossy mode), or overtaken as they were handed out
        self.dropped = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def seq(self) -> int:
        """The sequence number of the frame handed out last (the first frame is 1)."""
        return self._held

    @property
    def timestamp_ns(self) -> int:
        """time.monotonic_ns() when the frame handed out last was published."""
        return self._q[self._seq[(self._held - 1) % self._g.slots] + 1] if self._held and not self._closed else 0

    def valid(self) -> bool:
        """Whether the frame handed out last is still intact. Always so in
        blocking mode until the next frame is asked for; in lossy mode the
        producer may rewrite the slot while the frame is held: check after
        using (or copying) it, and discard what was read if this is False."""
        if not self._held or self._closed:
            return False
        return self._q[self._seq[(self._held - 1) % self._g.slots]] == self._held

    def __iter__(self) -> StreamReader:
        return self

    def __next__(self) -> np.ndarray:
        if self._closed:
            raise ValueError(f"stream {self._name!r} is closed")
        q = self._q
        if self._held:
            q[self._cursor] = self._held  # done with it: the producer may reuse its slot
            if self._i[self._pwaiting]:
                _futex_wake(self._cursor_addr)
            self._held = 0
        n = self._g.slots
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            h = q[self._head]
            nxt = self._next
            if h >= nxt:
                if self._lossy and h + 2 > nxt + n:
                    self.dropped += h - nxt  # the slot of nxt may be being rewritten: go to the newest
                    nxt = h
                s = (nxt - 1) % n
                if q[self._seq[s]] != nxt:
                    if self._first:
                        self._next = q[self._head]
                        continue
                    if not self._lossy:
                        raise StreamError(errno.EIO, f"stream {self._name!r}: frame {nxt} was overwritten "
                                                      "in blocking mode (a second producer?)")
                    self.dropped += 1
                    self._next = nxt + 1
                    continue
                self._held, self._next, self._first = nxt, nxt + 1, False
                return self._frames[s]
            if self._i[self._state] == STATE_CLOSED:
                if q[self._head] < nxt:
                    raise StopIteration
                continue
            wait = READER_WAIT
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(errno.ETIMEDOUT, f"stream {self._name!r}: no frame within {self._timeout:g} s")
                wait = min(wait, left)
            self._i[self._sleepers] = 1
            t0 = time.monotonic()
            _futex_wait(self._head_addr, h, wait)
            if (time.monotonic() - t0 >= wait / 2 and q[self._head] == h
                    and not _locked_by_other(self._fd, self._g.ctrl)
                    and self._i[self._state] != STATE_CLOSED and q[self._head] == h):
                raise StreamError(errno.EPIPE, f"stream {self._name!r}: the producer died without closing the stream")

    def close(self) -> None:
        """Detach: the producer stops waiting for this reader. Frames already
        handed out stay mapped while referenced, but may be overwritten.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._i[(self._e + R_ACTIVE) // 4] = 0
        if self._i[self._pwaiting]:
            _futex_wake(self._cursor_addr)
        _unlock(self._fd, self._e)
        self._release()


class _NotReady(Exception):
    pass


def stream_writer(name: str | None, shape: Shape, dtype: npt.DTypeLike, *, slots: int = 8,
                  lossy: bool = False) -> StreamWriter:
    """Create the stream `name` (None: a fresh name) of frames of this shape
    and dtype, and return its producer: .send(array) copies a frame in,
    `with w.slot() as frame:` fills one in place, .close() ends the stream
    and unlinks it. A context manager (exit closes).

    Blocking mode (default) waits for the slowest live reader, so no frame
    is lost; lossy=True never waits, and readers that fall behind skip."""
    return StreamWriter(name, shape, dtype, slots=slots, lossy=lossy)


def stream_reader(name: str, *, timeout: float | None = None) -> StreamReader:
    """Attach to the stream `name` as a new reader, starting at its newest
    frame. Iterating yields read-only ndarrays, views of the slots, in order;
    each stays intact until the next one is asked for (in lossy mode see
    .valid()). Iteration stops when the producer closes the stream, raises
    StreamError if the producer died, TimeoutError if no frame comes within
    `timeout` seconds (None: wait for ever). .dropped counts frames skipped
    in lossy mode. A context manager (exit closes)."""
    return StreamReader(name, timeout=timeout)
