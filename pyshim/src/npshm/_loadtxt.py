"""npshm.loadtxt: np.loadtxt parsed by the Go loader on every core.

The loader is the `npshm` binary (`npshm load --hold`): pip builds it into
the package when a Go toolchain is present (npshm/bin/npshm). It parses the
files into fresh segments, prints one descriptor line per array and holds
the arrays until its standard input closes; this process attaches each one,
then closes that input, and the binary removes the names. The arrays this
returns so own their memory: nothing is left to unlink, whichever side dies.
"""
from __future__ import annotations

import errno
import locale
import operator
import os
import re
import subprocess
import sys
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

import numpy as np

PathArg = Union[str, "os.PathLike[str]"]

_BIN_ENV = "NPSHM_BIN"
_INSTALL_HINT = ("the npshm binary is not installed: reinstall the package with a Go toolchain on PATH "
                 "(pip install ./pyshim builds it), or `go install github.com/npshm/npshm/cmd/npshm@latest`, "
                 f"or set {_BIN_ENV} to the binary")


class LoadError(ValueError):
    """A file npshm.loadtxt could not parse. path and line (1-based) name
    the offending line when the loader reported one, as the CLI does
    ("data.txt:3: column 2: cannot convert 'x' to f8")."""

    def __init__(self, message: str, path: Optional[str] = None, line: Optional[int] = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


def packaged_binary() -> str:
    """Where pip puts the binary it built: inside the package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "npshm")


def _is_binary(path: str) -> bool:
    """An executable that is not a script (the `npshm` console script that
    execs the binary is one: taking it would loop)."""
    try:
        with open(path, "rb") as f:
            return os.access(path, os.X_OK) and f.read(2) != b"#!"
    except OSError:
        return False


def find_binary() -> str:
    """The npshm binary: $NPSHM_BIN, else the one built into the package,
    else one on PATH. FileNotFoundError saying what to install if none."""
    env = os.environ.get(_BIN_ENV)
    if env:
        if not _is_binary(env):
            raise FileNotFoundError(errno.ENOENT, f"{_BIN_ENV}={env} is not an executable npshm binary", env)
        return env
    cands = [packaged_binary()]
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d:
            cands.append(os.path.join(d, "npshm"))
    for c in cands:
        if _is_binary(c):
            return c
    raise FileNotFoundError(errno.ENOENT, _INSTALL_HINT)


_LINE_ERR = re.compile(r"^(?:npshm: )?(?:load: )?(.+?):(\d+): (.*)$", re.S)


def _error(stderr: str, code: int) -> Exception:
    msg = stderr.strip().splitlines()[0] if stderr.strip() else f"npshm load exited with status {code}"
    msg = msg[len("npshm: "):] if msg.startswith("npshm: ") else msg
    if "no space for segment" in msg or "no space left" in msg:
        return OSError(errno.ENOSPC, msg)
    m = _LINE_ERR.match(msg)
    if m and os.path.exists(m.group(1)):
        return LoadError(msg, m.group(1), int(m.group(2)))
    return LoadError(msg)


def _loader_dtype(dt: np.dtype) -> Optional[str]:
    """The --dtype spec for dt, or None if the loader does not parse it."""

    def plain(d: np.dtype) -> bool:
        if d.byteorder == ">" or d.subdtype is not None:
            return False
        return d.kind in "biuSU" and d.itemsize > 0 or (d.kind == "f" and d.itemsize in (4, 8))

    if dt.names is None:
        return dt.str if plain(dt) else None
    fields = []
    for n in dt.names:
        fd, off = dt.fields[n][:2]  # type: ignore[index]
        if not plain(fd) or not n.isidentifier():
            return None
        fields.append(f"{n}:{fd.str.lstrip('<|=')}")
    if dt != np.dtype([(n, dt.fields[n][0]) for n in dt.names]):  # type: ignore[index]
        return None  # padding or reordered offsets: not what the loader lays out
    return ",".join(fields)


def _utf8(encoding: Optional[str]) -> bool:
    """Whether text is read as UTF-8, as the loader reads it (np.loadtxt's
    default, None, is the locale's encoding)."""
    enc = encoding if encoding is not None else locale.getpreferredencoding(False)
    return enc.lower().replace("-", "").replace("_", "") == "utf8"


def _fallback(fname: Any, dtype: Any, kw: Mapping[str, Any]) -> Any:
    """np.loadtxt itself, for what the loader does not do; the result is
    copied into an anonymous segment so it travels by reference too."""
    from . import share_anonymous

    out = np.loadtxt(fname, dtype=dtype, **kw)
    if isinstance(out, np.ndarray):
        return share_anonymous(out).array if out.size and not out.dtype.hasobject else out
    return [share_anonymous(a).array if a.size else a for a in out]


def loadtxt(fname: Union[PathArg, Sequence[PathArg]], dtype: Any = float, *, delimiter: Optional[str] = None,
            comments: Union[str, Sequence[str], None] = "#", skiprows: int = 0,
            usecols: Union[int, Sequence[int], None] = None, unpack: bool = False, ndmin: int = 0,
            converters: Union[Mapping[int, Callable[[str], Any]], Callable[[str], Any], None] = None,
            encoding: Optional[str] = None, max_rows: Optional[int] = None,
            quotechar: Optional[str] = None) -> Any:
    """np.loadtxt, parsed by the Go loader on every core into shared memory.

    Takes np.loadtxt's arguments and returns what it returns (equal values,
    the same dtype and shape), as an array whose memory is a shared-memory
    segment it owns: nothing to unlink; it is freed with the array, and it
    passes to multiprocessing workers by reference. A list (or tuple) of
    paths gives a list of arrays, one per file, loaded together.

    The loader parses bool, ints, float32, float64, S<n> and U<n> fields,
    one character delimiters, one comment marker, .gz files. Anything else
    (converters, max_rows, quotechar, an encoding other than UTF-8, several
    comment markers, other dtypes, file objects, .bz2/.xz files) is read by
    np.loadtxt itself and copied into shared memory: the same result, at
    np.loadtxt's speed.

    Raises FileNotFoundError for a missing file (or a missing npshm binary,
    saying what to install), LoadError (a ValueError) for a malformed line,
    naming file:line as the CLI does, and OSError(ENOSPC) naming the fix when
    the arrays do not fit in shared memory.
    """
    many = isinstance(fname, (list, tuple))
    paths = list(fname) if isinstance(fname, (list, tuple)) else [fname]
    kw = dict(delimiter=delimiter, comments=comments, skiprows=skiprows, usecols=usecols, unpack=unpack,
              ndmin=ndmin, converters=converters, encoding=encoding, max_rows=max_rows)
    if quotechar is not None:
        kw["quotechar"] = quotechar
    dt = np.dtype(dtype)
    spec = _loader_dtype(dt)
    if isinstance(comments, str) or comments is None:
        marker: Optional[str] = comments or ""
    elif isinstance(comments, Sequence) and len(comments) == 1 and isinstance(comments[0], str):
        marker = comments[0]
    else:
        marker = None
    simple = (spec is not None and marker is not None and converters is None and max_rows is None
              and quotechar is None and _utf8(encoding)
              and (delimiter is None or len(delimiter) == 1) and ndmin in (0, 1, 2)
              and all(isinstance(p, (str, os.PathLike)) for p in paths)
              and not any(os.fspath(p).endswith((".bz2", ".xz")) for p in paths))  # type: ignore[arg-type]
    if not simple or not paths:
        if many:
            return [_fallback(p, dtype, kw) for p in paths]
        return _fallback(fname, dtype, kw)
    files = [os.fspath(p) for p in paths]  # type: ignore[arg-type]
    for f in files:
        if not os.path.exists(f):
            raise FileNotFoundError(errno.ENOENT, f"{f} not found.", f)
    args = [find_binary(), "load", "--hold", "--dtype", spec or "", "--comments", marker or "",
            "--skip-header", str(int(skiprows)), "--ndmin", str(ndmin)]
    if delimiter is not None:
        args += ["--delimiter", delimiter]
    if usecols is not None:
        try:
            cols = [operator.index(usecols)]  # type: ignore[arg-type]
        except TypeError:
            cols = list(usecols)  # type: ignore[arg-type]
        args += ["--usecols", ",".join(str(int(c)) for c in cols)]
    arrays = _run(args + ["--"] + files, len(files))
    if unpack:
        arrays = [(list(a[n] for n in a.dtype.names) if a.dtype.names else a.T) for a in arrays]
    return arrays if many else arrays[0]


def _run(args: List[str], n: int) -> List[Any]:
    """Run `npshm load --hold`, attach the n arrays it holds, let it go."""
    from . import attach

    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out: List[Any] = []
    try:
        for _ in range(n):
            line = proc.stdout.readline()
            if not line:
                break
            out.append(attach(line.decode(), writable=True))
    finally:
        proc.stdin.close()  # the loader removes the names now; our mappings keep the memory
        err = proc.stderr.read().decode(errors="replace")
        proc.stdout.close()
        proc.stderr.close()
        code = proc.wait()
    if code != 0 or len(out) != n:
        raise _error(err, code)
    return out


def main() -> None:
    """The `npshm` console script: exec the binary built into the package."""
    try:
        binary = find_binary()
    except FileNotFoundError as e:
        print(f"npshm: {e.strerror}", file=sys.stderr)
        sys.exit(127)
    os.execv(binary, [binary, *sys.argv[1:]])

