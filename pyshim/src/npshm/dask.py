"""Dask workers share one copy per host (optional: ``pip install 'npshm[dask]'``).

``scatter(client, array)`` puts `array` in shared memory on the client's
host and returns a small handle. Passed as a task argument (client.submit,
client.map, dask.delayed, dask.array graphs) the handle travels as a few
hundred bytes (segment name, token, dtype, shape, the client's address) and
arrives in the task as a read-only ndarray attached to its host's copy:

- a worker whose segment directory ($NPSHM_DIR, default /dev/shm) already
  holds the copy attaches it by name (the client's own host needs no
  transfer at all);
- otherwise the first worker of that host to need it takes a per-array lock
  (flock on ``.npshm-dask-TOKEN.lock`` in the directory), fetches the bytes
  from the client once, writes them into a temporary segment and links it
  under the array's name; the other workers of the host wait for the lock,
  then attach. So the data crosses the network once per host and is in each
  host's memory once, however many workers the host runs, including
  workers that join later.

Hosts are told apart by their segment directory, not their hostname: two
containers on one machine with separate /dev/shm are two hosts here.

Who frees what: ``release()`` (or leaving the handle's with-block) stops
serving the array, removes each host's copy (through client.run on every
worker) and the client's own. Every copy carries npshm's creator record
(the client's, or the worker's that fetched it) and is never marked
persistent, and each worker keeps the copy mapped (flock held) until
release, so ``npshm gc`` reclaims a copy exactly when its creator has exited
and no process holds it: after a client or worker died without release.
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import socket
import struct
import threading
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

try:
    import dask.array as da
    from dask._task_spec import Task
    from dask.delayed import delayed
except ImportError as e:  # pragma: no cover - the optional dependency
    raise ImportError("npshm.dask needs dask and distributed: pip install 'npshm[dask]'") from e

from . import SegmentError, _share, attach
from ._segment import XATTR_CREATOR, _creator_record, backend, check_new_name, create_map, set_xattr, shm_dir, temp_name

__all__ = ["scatter", "ScatteredArray", "from_segments"]

XATTR_TOKEN = "user.npshm.dask"  # the scatter's token, on each host's copy
_LOCK_PREFIX = ".npshm-dask-"
_FETCH_TIMEOUT = 60.0  # seconds without progress before a fetch fails


class _Ref(NamedTuple):
    """What travels in the graph: enough to find or fetch the host copy."""

    name: str
    token: str
    dtype: np.dtype
    shape: Tuple[int, ...]
    fortran_order: bool
    size: int  # the segment's bytes (header and data)
    addr: Tuple[str, int]  # the client's server


# The client side: a small TCP server (one per bound address, a daemon thread)
# that sends a scattered array's segment to the first worker of each host.


class _Served:
    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size, self.fetches = fd, size, 0


class _Server:
    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.addr: Tuple[str, int] = self.sock.getsockname()[:2]
        self.arrays: Dict[str, _Served] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name="npshm-dask-server", daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), name="npshm-dask-send", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(_FETCH_TIMEOUT)
            try:
                line = b""
                while not line.endswith(b"\n") and len(line) < 64:
                    more = conn.recv(64 - len(line))
                    if not more:
                        return
                    line += more
                with self.lock:
                    served = self.arrays.get(line.strip().decode("ascii", "replace"))
                    if served is not None:
                        served.fetches += 1
                        fd = os.dup(served.fd)  # a release meanwhile closes the original
                if served is None:
                    conn.sendall(struct.pack(">Q", 0))  # released, or never scattered here
                    return
                with open(fd, "rb") as f:  # closes the duplicate
                    conn.sendall(struct.pack(">Q", served.size))
                    conn.sendfile(f, 0, served.size)  # os.sendfile, waiting out a slow reader (the timeout)
            except OSError:
                return  # the worker went away: it raises on its side


_servers: Dict[str, _Server] = {}
_servers_lock = threading.Lock()


def _client_host(client: Any) -> str:
    """This machine's address on the route to the scheduler (127.0.0.1 for
    an in-process scheduler)."""
    addr = str(client.scheduler.address)
    if "://" not in addr or addr.startswith("inproc"):
        return "127.0.0.1"
    from distributed.comm.addressing import get_address_host

    host = get_address_host(addr)
    if host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1" if host == "localhost" else host
    family, _, _, _, sa = socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(sa)  # no packet is sent: this only picks the route
        return str(s.getsockname()[0])


def _server_for(client: Any) -> _Server:
    host = _client_host(client)
    with _servers_lock:
        if host not in _servers:
            _servers[host] = _Server(host)
        return _servers[host]


class ScatteredArray(Task):
    """The handle scatter() returns. Pass it as a task argument; the task
    receives a read-only ndarray attached to its host's copy.

    It is a dask task node (an argument dask evaluates on the worker, in the
    task's thread, just before calling the function), so it works wherever
    dask evaluates arguments: client.submit, client.map, dask.delayed and
    dask.array graphs. Pickled (into the graph) it is a plain task node
    holding a _Ref: no array bytes.

    release() (idempotent; also leaving the with-block) removes the copies
    on every host. `fetches` counts the transfers the client has served:
    one per host that did not share the client's segment directory.
    """

    __slots__ = ("_client", "_server", "_served", "_shared", "_released")

    def __init__(self, key: Any, func: Any, /, *args: Any, **kwargs: Any) -> None:
        super().__init__(key, func, *args, **kwargs)
        self._client: Any = None
        self._server: Optional[_Server] = None
        self._served: Optional[_Served] = None
        self._shared: Any = None
        self._released = True  # only scatter()'s own handle owns copies

    @property
    def _ref(self) -> _Ref:
        ref: _Ref = self.args[0]
        return ref

    @property
    def name(self) -> str:
        """The segment name of the copy on each host."""
        return self._ref.name

    @property
    def shape(self) -> Tuple[int, ...]:
        return self._ref.shape

    @property
    def dtype(self) -> np.dtype:
        return self._ref.dtype

    @property
    def nbytes(self) -> int:
        n = self._ref.dtype.itemsize
        for x in self._ref.shape:
            n *= x
        return n

    @property
    def fetches(self) -> int:
        """How many times a worker fetched the array from the client (once
        per host that does not see the client's segment directory)."""
        if self._server is None or self._served is None:
            return 0
        with self._server.lock:
            return self._served.fetches

    def release(self) -> None:
        """Remove the copies on every host (running on every worker of the
        client's cluster) and the client's own; stop serving the array.
        Tasks still running keep their views; new tasks with this handle
        fail. Idempotent."""
        if self._released:
            return
        self._released = True
        ref = self._ref
        if self._server is not None:
            with self._server.lock:
                served = self._server.arrays.pop(ref.token, None)
            if served is not None:
                os.close(served.fd)
        errors: List[BaseException] = []
        try:
            if self._client is not None and self._client.status == "running":
                self._client.run(_forget, ref.name, ref.token)
        except Exception as e:  # noqa: BLE001 - the client's copy goes regardless
            errors.append(e)
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        _forget(ref.name, ref.token)
        if errors:
            raise errors[0]

    def __enter__(self) -> ScatteredArray:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_node, (self._ref,))

    def __repr__(self) -> str:
        r = self._ref
        return f"<npshm.dask.ScatteredArray {r.name!r} {r.dtype} {r.shape}>"


def _node(ref: _Ref) -> Task:
    """A ScatteredArray once pickled: a plain task node (the scheduler and
    workers need no handle state)."""
    return Task(None, _materialize, ref)


def scatter(client: Any, array: Any, *, name: Optional[str] = None) -> ScatteredArray:
    """Put `array` in shared memory once per host for the workers of
    `client` (a distributed.Client), and return a handle to pass as a task
    argument; each task receives a read-only ndarray attached to its host's
    copy, zero-copy.

    The array is copied once into a segment on the client's host (its
    workers attach it without any transfer); other hosts fetch it from the
    client once each, on first use. `name` is the segment name on every
    host (default: a fresh "npshm_dask_" name); a name already taken on the
    client's host raises FileExistsError. Call release() (or use the handle
    as a context manager) to remove every copy.
    """
    if backend() != "dir":
        raise OSError(errno.EOPNOTSUPP, "npshm.dask needs the dir backend (NPSHM_BACKEND=dir, Linux): hosts are told "
                      "apart by their segment directory, and copies carry tokens in xattrs")
    if getattr(client, "asynchronous", False):
        raise TypeError("npshm.dask.scatter needs a synchronous distributed.Client (release() runs on every worker "
                        "through client.run); an asynchronous Client is not supported yet")
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise ValueError(f"cannot scatter an object array ({arr.dtype}) through shared memory")
    token = secrets.token_hex(16)
    seg = check_new_name(name) if name is not None else f"npshm_dask_{token}"
    path = os.path.join(shm_dir(), seg)
    shared = _share(arr, temp_name())
    tmp = shared.path
    assert tmp is not None
    try:
        set_xattr(tmp, XATTR_TOKEN, token.encode())
        try:
            os.link(tmp, path)  # atomic, and never over another array
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, f"segment {seg!r} already exists in {shm_dir()}", path) from None
    except BaseException:
        shared.close()
        raise
    finally:
        os.unlink(tmp)
    shared._name, shared._path, shared._created = seg, path, False
    hdr = shared._hdr
    size = hdr.offset + hdr.nbytes
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            server = _server_for(client)
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        shared.close()
        _unlink_if_token(path, token)
        raise
    ref = _Ref(seg, token, hdr.dtype, tuple(hdr.shape), bool(hdr.fortran_order), size, server.addr)
    served = _Served(fd, size)
    with server.lock:
        server.arrays[token] = served
    h = ScatteredArray(None, _materialize, ref)
    h._client, h._server, h._served, h._shared, h._released = client, server, served, shared, False
    return h


# The worker side.

_local: Dict[str, np.ndarray] = {}  # token -> this process's view of its host's copy
_local_lock = threading.Lock()


def _materialize(ref: _Ref) -> np.ndarray:
    """The read-only array for a _Ref, in this process: attached to this
    host's copy, which the first worker of the host fetches."""
    with _local_lock:
        arr = _local.get(ref.token)
        if arr is None:
            arr = _host_copy(ref)
            _local[ref.token] = arr
        return arr


def _attach_copy(ref: _Ref) -> Optional[np.ndarray]:
    """This host's copy, or None if the directory has none."""
    try:
        arr = attach(ref.name)
    except FileNotFoundError:
        return None
    path = os.path.join(shm_dir(), ref.name)
    try:
        mark: Optional[bytes] = os.getxattr(path, XATTR_TOKEN)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            mark = None  # no xattrs here: the header check below must do
        elif e.errno == errno.ENOENT:
            return None
        else:
            mark = b""
    if (mark is not None and mark != ref.token.encode()) or arr.dtype != ref.dtype or arr.shape != ref.shape:
        raise SegmentError(f"segment {ref.name!r} in {shm_dir()} holds another array, not the one scattered "
                           f"under that name ({arr.dtype} {arr.shape}): remove it, or scatter under another name")
    return arr


def _host_copy(ref: _Ref) -> np.ndarray:
    arr = _attach_copy(ref)
    if arr is not None:
        return arr
    lock = os.path.join(shm_dir(), f"{_LOCK_PREFIX}{ref.token}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        set_xattr(fd, XATTR_CREATOR, _creator_record())  # so gc reclaims it if this worker dies
    except FileExistsError:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the other workers of this host wait here
        arr = _attach_copy(ref)
        if arr is None:
            try:
                _fetch(ref)
            except BaseException:
                _unlink_same(lock, fd)  # a failed fetch (a released array) leaves nothing
                raise
            arr = _attach_copy(ref)
        if arr is None:
            raise SegmentError(f"segment {ref.name!r} vanished from {shm_dir()} right after it was fetched")
        return arr
    finally:
        os.close(fd)


def _unlink_same(path: str, fd: int) -> None:
    try:
        st, fst = os.lstat(path), os.fstat(fd)
        if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
            os.unlink(path)
    except OSError:
        pass


def _fetch(ref: _Ref) -> None:
    """Fetch the segment from the client into a temporary segment, then link
    it under its name (readers never see a partial array)."""
    try:
        sock = socket.create_connection(ref.addr, timeout=_FETCH_TIMEOUT)
    except OSError as e:
        raise SegmentError(f"cannot fetch array {ref.name!r} from the client at {ref.addr[0]}:{ref.addr[1]}: {e} "
                           "(has the client exited?)") from None
    with sock:
        sock.sendall(ref.token.encode() + b"\n")
        head = _recv_exactly(sock, 8, ref)
        (size,) = struct.unpack(">Q", head)
        if size == 0:
            raise SegmentError(f"array {ref.name!r} was released by the client")
        if size != ref.size:
            raise SegmentError(f"the client sent {size} bytes for array {ref.name!r}, want {ref.size}")
        tmp, tmp_path, mm = create_map(temp_name(), size)
        try:
            view = memoryview(mm)
            try:
                got = 0
                while got < size:
                    n = sock.recv_into(view[got:], min(size - got, 1 << 24))
                    if n == 0:
                        raise SegmentError(f"the client closed the connection after {got} of {size} bytes of {ref.name!r}")
                    got += n
            finally:
                view.release()
            set_xattr(tmp_path, XATTR_TOKEN, ref.token.encode())
            os.link(tmp_path, os.path.join(shm_dir(), ref.name))
        finally:
            os.unlink(tmp_path)


def _recv_exactly(sock: socket.socket, n: int, ref: _Ref) -> bytes:
    buf = b""
    while len(buf) < n:
        more = sock.recv(n - len(buf))
        if not more:
            raise SegmentError(f"the client closed the connection while sending {ref.name!r}")
        buf += more
    return buf


def _unlink_if_token(path: str, token: str) -> None:
    try:
        if os.getxattr(path, XATTR_TOKEN) != token.encode():
            return
    except OSError as e:
        if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _forget(name: str, token: str) -> None:
    """On each worker (and the client) at release: drop this process's
    view, remove this host's copy (if it is this scatter's) and its lock."""
    with _local_lock:
        _local.pop(token, None)
    _unlink_if_token(os.path.join(shm_dir(), name), token)
    try:
        os.unlink(os.path.join(shm_dir(), f"{_LOCK_PREFIX}{token}.lock"))
    except FileNotFoundError:
        pass


# A dask.array over segments already in shared memory.


def _segment_block(name: str, dtype: np.dtype, shape: Tuple[int, ...], axis: int, lo: int, hi: int) -> np.ndarray:
    arr = attach(name)
    if arr.dtype != dtype or arr.shape != shape:
        raise SegmentError(f"segment {name!r} in {shm_dir()} holds {arr.dtype} {arr.shape}, "
                           f"want {dtype} {shape} (replaced since the dask array was made?)")
    index: List[Any] = [slice(None)] * arr.ndim
    index[axis] = slice(lo, hi)
    view: np.ndarray = arr[tuple(index)]
    return view


def from_segments(names: Union[str, Sequence[str]], *, axis: int = 0, chunks: Optional[int] = None) -> Any:
    """One dask array from npshm segments (e.g. what `npshm load` published),
    joined along `axis`, with no copies: each block is a read-only view of a
    segment attached by name wherever the block is computed (the local
    process, or a worker whose segment directory holds the same names).

    Each segment is one block along `axis`, or blocks of at most `chunks`
    items along it. The segments must agree in dtype and in every other
    dimension. Missing names raise FileNotFoundError here.
    """
    seq = [names] if isinstance(names, str) else list(names)
    if not seq:
        raise ValueError("from_segments() needs at least one segment name")
    if chunks is not None and chunks < 1:
        raise ValueError(f"chunks must be a positive number of items, not {chunks}")
    blocks = []
    first: Optional[np.ndarray] = None
    for n in seq:
        a = attach(n)
        if a.ndim == 0:
            raise ValueError(f"segment {n!r} holds a 0-d array: nothing to join along axis {axis}")
        ax = axis % a.ndim
        if first is None:
            first = a
        elif a.dtype != first.dtype or a.ndim != first.ndim or \
                a.shape[:ax] + a.shape[ax + 1:] != first.shape[:ax] + first.shape[ax + 1:]:
            raise ValueError(f"segment {n!r} holds {a.dtype} {a.shape}, which does not join {first.dtype} "
                             f"{first.shape} (segment {seq[0]!r}) along axis {axis}")
        length = a.shape[ax]
        step = chunks or max(length, 1)
        for lo in range(0, max(length, 1), step):
            hi = min(lo + step, length)
            shape = a.shape[:ax] + (hi - lo,) + a.shape[ax + 1:]
            part = delayed(_segment_block, pure=True)(n, a.dtype, a.shape, ax, lo, hi)
            blocks.append(da.from_delayed(part, shape, dtype=a.dtype))  # type: ignore[no-untyped-call]
        del a
    return blocks[0] if len(blocks) == 1 else da.concatenate(blocks, axis=axis)  # type: ignore[no-untyped-call]
