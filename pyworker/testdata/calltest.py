"""Functions the pyworker and pyembed tests call."""
import os
import signal
import time

import numpy as np

import npshm


def add(a, b):
    return a + b


def echo(*args):
    return args[0] if len(args) == 1 else list(args)


def types(*args):
    """The Python type name of each argument (and of list/dict members)."""
    def name(v):
        if isinstance(v, list):
            return [name(x) for x in v]
        if isinstance(v, dict):
            return {k: name(x) for k, x in v.items()}
        return type(v).__name__
    return [name(a) for a in args]


def describe(a):
    """What the worker sees of an array argument."""
    return {
        "dtype": a.dtype.str if a.dtype.names is None else str(a.dtype.descr),
        "shape": list(a.shape),
        "writeable": bool(a.flags.writeable),
        "fortran": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
        "owndata": bool(a.flags.owndata),
    }


def total(a):
    return float(a.sum(dtype=np.float64))


def checksum(a):
    """A byte-level checksum of the array's data (works for every dtype)."""
    b = np.ascontiguousarray(a).view(np.uint8).ravel()
    return int(b.astype(np.uint64).sum()) + 31 * int(b[::4097].astype(np.uint64).sum())


def fill(a, value):
    a[...] = value
    return None


def fill_range(a):
    a[...] = np.arange(a.size, dtype=a.dtype).reshape(a.shape)


def arange(n, dtype="f8"):
    return np.arange(n, dtype=dtype)


def same(a):
    return a


def first_row(a):
    return a[0]


def records(n):
    r = np.zeros(n, dtype=[("id", "<i4"), ("pos", "<f8", (2,)), ("tag", "S4")])
    r["id"] = np.arange(n)
    r["pos"][:, 0] = np.arange(n) * 0.5
    r["tag"] = b"ab"
    return r


def shared_named(name, n):
    s = npshm.create((n,), "i8", name=name)
    s.array[:] = np.arange(n)
    return s


def objects():
    return np.array([object(), 1], dtype=object)


def unconvertible():
    return {1, 2}


def boom(msg):
    def inner():
        raise ValueError(msg)
    try:
        inner()
    except ValueError as e:
        raise RuntimeError("wrapped") from e


def exit_call():
    raise SystemExit(3)


def sleep(seconds):
    time.sleep(seconds)
    return os.getpid()


def spin(seconds):
    """Busy numpy work for about `seconds` (the GIL released in numpy)."""
    end = time.time() + seconds
    x = np.random.rand(1 << 16)
    n = 0
    while time.time() < end:
        x = np.sqrt(x * x + 1.0)
        n += 1
    return n


def work(n):
    """A fixed amount of CPU-bound numpy work."""
    x = np.random.rand(1 << 18)
    for _ in range(n):
        x = np.sin(x) * np.cos(x) + 0.5
    return float(x.sum())


def pid():
    return os.getpid()


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def nothing():
    return None


_kept = None


def keep(a):
    """Hold an array argument past the call (None lets go)."""
    global _kept
    _kept = a


def kept_sum():
    return int(_kept.sum())


def nbytes(a):
    """Touches only the header: the cost of handing an array over."""
    return a.nbytes
