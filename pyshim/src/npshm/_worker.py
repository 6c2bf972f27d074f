"""The Python end of calling numpy from Go (Go packages pyworker and pyembed).

A call is a JSON request {"fn": "module.function", "args": [...], "arrays":
[writable, ...]} and, beside it on a Unix socket, one npshm.send-style
message per array argument (its descriptor line and its file descriptor).
The reply is {"ok": value, "arrays": [writable, ...]} followed by one message
per array in the result, or {"error": {"type", "message", "traceback"}}.
Values JSON cannot say are {"__npshm__": [tag, payload]}: "b" bytes (base64),
"f" a float that is not finite, "a" the index of an array sent beside.

Arrays never travel as bytes: an argument is mapped from its file
descriptor (zero-copy, read-only unless the Go array is read-write); an
ndarray result that is one of the arguments, or an npshm.Shared, goes back
as its file descriptor; any other ndarray is copied once into a new
anonymous (memfd) segment that the Go side then owns. Nothing is created in
/dev/shm, so a crash on either side leaves nothing behind.

As a worker process (`python -m npshm._worker`, what pyworker starts) it
serves requests on the SOCK_SEQPACKET socket at file descriptor 3, one at a
time, until the socket closes. Messages on that socket are frames: one byte,
b"M" (more follows) or b"E" (end), then up to 32 KiB of the JSON.
pyembed calls call_embedded() in its interpreter instead.
"""
from __future__ import annotations

import base64
import functools
import importlib
import json
import math
import mmap
import os
import signal
import socket
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from . import SegmentError, Shared, _check_descriptor, _descriptor, _header_of, _load_json, _view, share_anonymous
from ._format import header_length
from ._segment import check_received

TAG = "__npshm__"
FRAME = 32 << 10

_functions: Dict[str, Callable[..., Any]] = {}


def _resolve(fn: str) -> Callable[..., Any]:
    """The callable named "module.function" (or "package.module.Class.method")."""
    f = _functions.get(fn)
    if f is not None:
        return f
    parts = fn.split(".")
    err: Optional[ImportError] = None
    for i in range(len(parts) - 1, 0, -1):
        modname = ".".join(parts[:i])
        try:
            obj = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name is not None and not modname.startswith(e.name) and e.name != modname:
                raise  # the module exists but imports something missing
            err = err or e
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        if not callable(obj):
            raise TypeError(f"{fn} is not callable ({type(obj).__name__})")
        _functions[fn] = obj
        return obj
    assert err is not None
    raise err


class _Aborted(Exception):
    """The Go side could not send an array argument; it sends no more."""


class _Arg:
    """An array argument: its view, and the file descriptor it came with
    (kept until the call ends, so the same memory can go back as a result)."""

    def __init__(self, array: np.ndarray, fd: int, desc: Dict[str, Any], writable: bool):
        self.array, self.fd, self.desc, self.writable = array, fd, desc, writable

    def same(self, r: np.ndarray) -> bool:
        a = self.array
        return (
            r.__array_interface__["data"][0] == a.__array_interface__["data"][0]
            and r.shape == a.shape
            and r.strides == a.strides
            and r.dtype == a.dtype
        )


# The same arrays are often passed call after call: their descriptor lines
# and headers are parsed and checked once. The keys hold every byte the
# results depend on, so a hit is what parsing again would give.
_descriptors: Dict[bytes, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
_headers: Dict[Tuple[bytes, bytes, int], Any] = {}


def _remember(cache: Dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= 256:
        cache.clear()
    cache[key] = value
    return value


def _parse_descriptor(msg: bytes) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(the descriptor as sent, to send back; its checked fields)."""
    raw = _load_json(msg)
    return raw, _descriptor(raw, "array argument")


def _recv_array(sock: socket.socket, writable: bool) -> _Arg:
    msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
    if not fds:
        if msg.startswith(b"abort"):
            raise _Aborted()
        raise EOFError("array message carries no file descriptor" if msg else "peer closed the socket")
    for extra in fds[1:]:
        os.close(extra)
    fd = fds[0]
    try:
        raw, desc = _descriptors.get(msg) or _remember(_descriptors, msg, _parse_descriptor(msg))
        size = check_received(fd, desc)  # a sealed memfd, or the named file itself: never one its sender can shrink
        if size == 0:
            raise SegmentError("received segment is empty")
        mm = mmap.mmap(fd, size, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
        label = repr(desc["name"]) if desc["name"] else "array argument"
        head = mm[: min(header_length(mm[:12], label), size)]
        key = (msg, head, size)  # all that parsing and checking depend on
        hdr = _headers.get(key)
        if hdr is None:
            hdr = _header_of(mm, label, head)
            _check_descriptor(desc, hdr, label)
            _remember(_headers, key, hdr)
        return _Arg(_view(mm, hdr, writable), fd, raw, writable)
    except BaseException:
        os.close(fd)
        raise


def _send_fd(sock: socket.socket, fd: int, desc: Dict[str, Any]) -> None:
    line = json.dumps(desc, separators=(",", ":")) + "\n"
    socket.send_fds(sock, [line.encode()], [fd])


def _decode(v: Any, arrays: List[np.ndarray]) -> Any:
    if isinstance(v, list):
        return [_decode(x, arrays) for x in v]
    if isinstance(v, dict):
        t = v.get(TAG)
        if t is not None and len(v) == 1:
            kind, payload = t
            if kind == "b":
                return base64.b64decode(payload)
            if kind == "f":
                return float(payload)
            if kind == "a":
                return arrays[payload]
            raise ValueError(f"unknown tag {kind!r}")
        return {k: _decode(x, arrays) for k, x in v.items()}
    return v


class _Result:
    """Encodes a result to JSON-able values, collecting the arrays to send."""

    def __init__(self, args: List[_Arg]):
        self.args = args
        self.sends: List[Callable[[socket.socket], None]] = []
        self.writable: List[bool] = []
        self.made: List[Shared] = []  # anonymous copies of results
        self.opened: List[int] = []  # descriptors opened for named results

    def encode(self, v: Any, depth: int = 0) -> Any:
        if depth > 100:
            raise ValueError("result nested more than 100 deep")
        if v is None or isinstance(v, (bool, str)):
            return str(v) if isinstance(v, str) and type(v) is not str else v
        if isinstance(v, int):
            if not -(1 << 63) <= v < (1 << 63):
                raise OverflowError(f"int {v} does not fit Go's int64")
            return int(v)
        if isinstance(v, float):
            return float(v) if math.isfinite(v) else {TAG: ["f", repr(float(v))]}
        if isinstance(v, (bytes, bytearray, memoryview)):
            return {TAG: ["b", base64.b64encode(bytes(v)).decode()]}
        if isinstance(v, Shared):
            return self.array_shared(v)
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, np.generic):
            return self.encode(v.item(), depth + 1)
        if isinstance(v, (list, tuple)):
            return [self.encode(x, depth + 1) for x in v]
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"dict key {k!r}: Go maps take str keys, not {type(k).__name__}")
                if k == TAG:
                    raise ValueError(f"dict key {TAG!r} is reserved")
                out[k] = self.encode(x, depth + 1)
            return out
        raise TypeError(f"cannot return {type(v).__module__}.{type(v).__qualname__} to Go")

    def _add(self, send: Callable[[socket.socket], None], writable: bool) -> Dict[str, Any]:
        self.sends.append(send)
        self.writable.append(writable)
        return {TAG: ["a", len(self.sends) - 1]}

    def array(self, r: np.ndarray) -> Dict[str, Any]:
        if r.dtype.hasobject:
            raise TypeError(f"cannot return an array of Python objects ({r.dtype}) to Go")
        for a in self.args:
            if a.same(r):  # the argument itself: the same memory goes back
                return self._add(functools.partial(_send_fd, fd=a.fd, desc=a.desc), a.writable)
        s = share_anonymous(r)  # one copy, into memory Go will own
        self.made.append(s)
        sfd = s._fd
        assert sfd is not None  # an anonymous segment keeps its descriptor
        return self._add(lambda sock: _send_fd(sock, sfd, s.descriptor), True)

    def array_shared(self, s: Shared) -> Dict[str, Any]:
        if s._array is None:
            raise ValueError(f"cannot return a closed segment ({s.name!r})")
        if s._fd is not None:
            afd = s._fd
            return self._add(lambda sock: _send_fd(sock, afd, s.descriptor), True)
        path = s.path
        if path is None:
            raise ValueError("cannot return a Shared with neither a descriptor nor a name")
        try:
            fd, writable = os.open(path, os.O_RDWR | os.O_CLOEXEC), True
        except PermissionError:
            fd, writable = os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
        self.opened.append(fd)
        return self._add(lambda sock: _send_fd(sock, fd, s.descriptor), writable)

    def release(self) -> None:
        """Close what was made or opened for the sends (after them, or instead)."""
        for s in self.made:
            s.close()
        for fd in self.opened:
            os.close(fd)
        self.made, self.opened = [], []


def _error(e: BaseException, skip: int) -> bytes:
    t = type(e)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    tb = e.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    try:
        message = str(e)
    except Exception:
        message = repr(e)
    text = "".join(traceback.format_exception(t, e, tb))
    return json.dumps({"error": {"type": name, "message": message, "traceback": text}}).encode()


def _recv_args(sock: socket.socket, writable: List[bool]) -> List[_Arg]:
    """Receive every array message of a request (all of them, so the socket
    stays in step even if one is bad), then raise the first error."""
    args: List[_Arg] = []
    first: Optional[BaseException] = None
    for w in writable:
        try:
            args.append(_recv_array(sock, bool(w)))
        except _Aborted:
            first = first or ValueError("an array argument could not be sent")
            break
        except EOFError:
            raise
        except Exception as e:
            first = first or e
    if first is not None:
        for a in args:
            os.close(a.fd)
        raise first
    return args


_decoder = json.JSONDecoder()


def _loads(b: bytes) -> Any:
    return _decoder.decode(b.decode())


# json.dumps: its cached C encoder; a custom JSONEncoder is rebuilt per call
# (10 us). Non-finite floats are tagged by _Result.encode.
_dumps = json.dumps
_PLAIN = (type(None), bool, int, float, str)


def _handle_plain(req: Dict[str, Any]) -> Tuple[bytes, List[Callable[[socket.socket], None]]]:
    """handle() for a request with no arrays (the common small call)."""
    try:
        argv = req["args"]
        if not all(type(x) in _PLAIN for x in argv):
            argv = _decode(argv, [])
        f = _functions.get(req["fn"]) or _resolve(req["fn"])
    except BaseException as e:
        return _error(e, 0), []
    try:
        value = f(*argv)
    except BaseException as e:
        return _error(e, 1), []
    t = type(value)
    if (t is int and -(1 << 63) <= value < (1 << 63)) or t is str or t is bool or value is None:
        return b'{"ok":' + _dumps(value).encode() + b',"arrays":[]}', []
    result = _Result([])
    try:
        reply = _dumps({"ok": result.encode(value), "arrays": result.writable})
    except BaseException as e:
        result.release()
        return _error(e, 0), []
    if not result.sends:
        return reply.encode(), []
    return reply.encode(), result.sends + [lambda _sock: result.release()]


def handle(sock: socket.socket, request: bytes) -> Tuple[bytes, List[Callable[[socket.socket], None]]]:
    """Run one request: the reply, and the sends to make after it (the
    result's arrays, then freeing what the call held). Receives the
    request's arrays from sock first. Every exception the call raises, even
    SystemExit, becomes an error reply."""
    req = _loads(request)
    if not req["arrays"]:
        return _handle_plain(req)
    try:
        args = _recv_args(sock, req["arrays"])
    except EOFError:
        raise
    except Exception as e:
        return _error(e, 0), []

    def close_args(_sock: Optional[socket.socket] = None) -> None:
        for a in args:
            os.close(a.fd)

    try:
        argv = _decode(req["args"], [a.array for a in args])
        f = _resolve(req["fn"])
    except BaseException as e:
        close_args()
        return _error(e, 0), []
    try:
        value = f(*argv)
    except BaseException as e:
        close_args()
        return _error(e, 1), []  # skip this frame: the traceback starts in fn
    del argv
    result = _Result(args)
    try:
        ok = result.encode(value)
        reply = _dumps({"ok": ok, "arrays": result.writable})
    except BaseException as e:
        result.release()
        close_args()
        return _error(e, 0), []

    def done(_sock: socket.socket) -> None:
        result.release()
        close_args()

    return reply.encode(), result.sends + [done]


_pending: List[Callable[[socket.socket], None]] = []


def call_embedded(sock: socket.socket, request: bytes) -> bytes:
    """pyembed's entry: run a request and return the reply. If the reply
    names arrays, the Go side then calls flush_embedded while it receives
    them (two steps, so neither side blocks on a full socket buffer)."""
    global _pending
    try:
        reply, sends = handle(sock, request)
    except BaseException as e:
        return _error(e, 0)
    if len(sends) > 1:  # arrays to send, then the release
        _pending = sends
    else:
        for send in sends:
            send(sock)
    return reply


def flush_embedded(sock: socket.socket) -> None:
    """Send the last reply's arrays, then free what the call held."""
    global _pending
    sends, _pending = _pending, []
    for send in sends:
        send(sock)


def _read_frame(sock: socket.socket) -> Optional[bytes]:
    parts = []
    while True:
        msg = sock.recv(FRAME + 1)
        if not msg:
            return None
        parts.append(msg[1:])
        if msg[:1] == b"E":
            return b"".join(parts)


def _send_frame(sock: socket.socket, data: bytes) -> None:
    for lo in range(0, max(len(data), 1), FRAME):
        more = lo + FRAME < len(data)
        sock.sendall((b"M" if more else b"E") + data[lo : lo + FRAME])


def serve(fd: int = 3) -> None:
    """Serve requests on the socket at fd until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the Go parent decides when workers stop
    sock = socket.socket(fileno=fd)
    _send_frame(sock, json.dumps({"ready": os.getpid(), "numpy": np.__version__}).encode())
    while True:
        request = _read_frame(sock)
        if request is None:
            return
        reply, sends = handle(sock, request)
        _send_frame(sock, reply)
        for send in sends:
            send(sock)


if __name__ == "__main__":
    _front = [p for p in os.environ.pop("NPSHM_WORKER_PATH", "").split(os.pathsep) if p]
    sys.path[:0] = _front  # Options.Path, before the working directory
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
