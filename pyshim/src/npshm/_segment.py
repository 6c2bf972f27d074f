"""Segments: files in /dev/shm (or $NPSHM_DIR), opened with os.open and mmap.

Nothing here goes through multiprocessing.shared_memory, so no segment is
ever registered with multiprocessing's resource tracker: attaching never
unlinks at exit and never prints "leaked shared_memory" warnings.
"""
from __future__ import annotations

import errno
import fcntl
import mmap
import os
import secrets
import stat
import time
from typing import Any, Mapping, Tuple

from ._format import SegmentError

DEFAULT_DIR = "/dev/shm"
MAX_NAME_LEN = 255

# Lifecycle records, shared with the Go side (docs/LIFECYCLE.md): a shared
# flock held as long as the mapping lives (the mmap object keeps a dup of the
# locked descriptor), the creator as "PID STARTTIME" in an xattr, and
# "persistent" on published arrays.
XATTR_CREATOR = "user.npshm.creator"
XATTR_PERSISTENT = "user.npshm.persistent"
TEMP_PREFIX = ".npshm-tmp-"


def _start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 1 :].split()[19])


def _creator_record() -> bytes:
    return f"{os.getpid()} {_start_time(os.getpid())}".encode()


def set_xattr(fd_or_path, key: str, value: bytes) -> None:
    try:
        os.setxattr(fd_or_path, key, value)
    except OSError as e:
        if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


def temp_name() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"


class UnsafeFDError(SegmentError):
    """A file descriptor received from a peer (recv) that is unsafe to map:
    not a regular file, or one whose sender could shrink it under the
    mapping (SIGBUS), being neither sealed against shrinking (a memfd from
    share_anonymous or Go's CreateAnonymous) nor the very file its
    descriptor names. It is refused before mapping."""


def _kind(mode: int) -> str:
    """'' for a regular file, else what the file is, for messages."""
    for test, kind in ((stat.S_ISREG, ""), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return f"of unknown type {stat.S_IFMT(mode):#o}"


def open_file(path: str, what: str, writable: bool = False, follow: bool = False) -> Tuple[int, os.stat_result]:
    """Open an existing segment (or .npy) file: the one way this package opens
    a file that may already exist. Returns (fd, its fstat).

    Refuses what is not a regular file with SegmentError naming what it is
    ("is a FIFO, not a regular file"), and never blocks to do so (O_NONBLOCK:
    opening a FIFO returns at once; on a regular file it does nothing). A
    segment is opened with follow=False (O_NOFOLLOW): a symbolic link as the
    last component, the segment name, which anyone who may write the
    directory controls, is refused (the directories above are trusted, as
    $NPSHM_DIR is). A .npy path from a descriptor is followed, as np.load
    follows it. A missing file raises FileNotFoundError.
    """
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
            try:
                kind = _kind(os.lstat(path).st_mode)
            except OSError:
                kind = ""
            if kind:
                raise SegmentError(f"{what}: is {kind}, not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind:
            raise SegmentError(f"{what}: is {kind}, not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def check_received(fd: int, desc: Any) -> int:
    """The size of a file received from a peer with descriptor `desc`, if it
    is safe to map: a memfd sealed against shrinking, or the very file the
    descriptor names (a segment by name, or a .npy file by path), which
    exposes us to no one but those who may write that name, as attaching by
    name does. Otherwise UnsafeFDError, raised before anything is mapped."""
    st = os.fstat(fd)
    kind = _kind(st.st_mode)
    if kind:
        raise UnsafeFDError(f"unsafe file descriptor: it is {'a pipe or FIFO' if kind == 'a FIFO' else kind}, "
                            "not a regular file")
    named = ""
    if isinstance(desc, Mapping):
        try:
            if desc.get("path"):
                named = str(desc["path"])
            elif desc.get("name") and not desc.get("anonymous"):
                named = segment_path(desc["name"])
        except (TypeError, ValueError):
            named = ""
    if named and st.st_nlink > 0:
        try:
            at = os.lstat(named)
            if (at.st_dev, at.st_ino) == (st.st_dev, st.st_ino):
                return st.st_size
        except OSError:
            pass
    try:
        if fcntl.fcntl(fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_SHRINK:
            return st.st_size
    except OSError:
        pass  # a file that takes no seals
    why = "its sender could shrink it under the mapping"
    if named:
        raise UnsafeFDError(f"unsafe file descriptor: it is not the segment {named!r} its descriptor names, "
                            f"nor sealed against shrinking: {why}")
    if st.st_nlink == 0:
        raise UnsafeFDError("unsafe file descriptor: it is not sealed against shrinking and has no name "
                            f"(an unsealed memfd, an O_TMPFILE or an unlinked file): {why}")
    raise UnsafeFDError(f"unsafe file descriptor: it is not sealed against shrinking and its descriptor names "
                        f"no segment: {why}")


def shm_dir() -> str:
    """Where segments live: $NPSHM_DIR if set, else /dev/shm."""
    return os.environ.get("NPSHM_DIR") or DEFAULT_DIR


def clean_name(name: str) -> str:
    """Validate a segment name as SharedMemory takes it; drop a leading '/'."""
    if type(name) is str and 0 < len(name) <= 64 and name.isascii() and name[0] not in "/." \
            and "/" not in name and "\0" not in name and ".." not in name:
        return name  # the common case, checked in a few string scans
    if not isinstance(name, str):
        raise TypeError(f"segment name must be a str, not {type(name).__name__}")
    n = name[1:] if name.startswith("/") else name
    if not n:
        raise ValueError(f"invalid segment name {name!r}: empty")
    if len(n.encode()) > MAX_NAME_LEN:
        raise ValueError(f"invalid segment name {name!r}: longer than {MAX_NAME_LEN} bytes")
    if "/" in n or "\0" in n:
        raise ValueError(f"invalid segment name {name!r}: contains '/' or NUL")
    if ".." in n or n == ".":
        raise ValueError(f"invalid segment name {name!r}: contains '..'")
    return n


def new_name() -> str:
    """A fresh name as SharedMemory makes them: 'psm_' and 8 hex digits."""
    return "psm_" + secrets.token_hex(4)


def segment_path(name: str) -> str:
    return os.path.join(shm_dir(), clean_name(name))


REPLACED_WAIT = 2.0  # seconds an open keeps following a name republished at every look


def open_map(path: str, what: str, writable: bool, follow: bool = False):
    """Map a whole existing file, shared; read-only unless writable.

    Returns (mapping, first bytes): the header is read with pread before
    mapping, so attaching takes no page fault. The mapping holds a shared
    flock (through the mmap's own dup of the descriptor) for as long as it
    lives: that is how gc knows the segment is in use.

    If the file opened lost its name before it was locked (gc removed it, or
    a republish renamed a new array over it), the name is looked up again:
    it holds the new array, or is gone (FileNotFoundError). A name
    republished without pause may replace every file opened; that is
    followed for REPLACED_WAIT seconds, then TimeoutError, never reported
    as missing. follow: see open_file.
    """
    replaced_since = None
    while True:
        try:
            fd, _ = open_file(path, what, writable, follow)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"no segment {what} in {os.path.dirname(path)}", path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            st = os.fstat(fd)
            if st.st_nlink == 0:
                now = time.monotonic()
                if replaced_since is None:
                    replaced_since = now
                elif now - replaced_since > REPLACED_WAIT:
                    raise TimeoutError(errno.ETIMEDOUT, f"segment {what} was replaced by a new file at every open "
                                       f"for {REPLACED_WAIT:g} s (republished without pause); try again", path)
                continue  # look again
            if st.st_size == 0:
                raise SegmentError(f"{what}: segment is empty")
            head = os.pread(fd, 4096, 0)
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            return mmap.mmap(fd, st.st_size, access=access), head
        finally:
            os.close(fd)


_POPULATE_MIN = 16 << 20  # below this, posix_fallocate is as fast
_MADV_POPULATE_WRITE = 23
_libc = None


def reserve_map(fd: int, size: int, what: str, path: str = "") -> mmap.mmap:
    """Size a new file, map it read-write, and allocate every page, so a full
    filesystem is OSError(ENOSPC) now, never SIGBUS later.

    Large segments are populated with MADV_POPULATE_WRITE on 32 MiB chunks
    across cores (called through ctypes, which releases the GIL): page
    allocation dominates making a fresh segment, and the copy that follows
    then takes no page faults. Small ones use posix_fallocate.
    """
    if size < _POPULATE_MIN:
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise OSError(e.errno, f"cannot reserve {size} bytes for segment {what}: {e.strerror}", path) from None
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size, access=mmap.ACCESS_WRITE)
    os.ftruncate(fd, size)
    mm = mmap.mmap(fd, size, access=mmap.ACCESS_WRITE)
    err = _populate(mm, size)
    if err == errno.EINVAL:  # kernel before 5.14: reserve with fallocate instead
        os.posix_fallocate(fd, 0, size)
    elif err:
        mm.close()
        raise OSError(errno.ENOSPC, f"cannot allocate {size} bytes for segment {what}: no space left on device", path)
    return mm


def _populate(mm: mmap.mmap, size: int) -> int:
    """MADV_POPULATE_WRITE over the mapping on all cores; 0 or an errno."""
    import ctypes
    from concurrent.futures import ThreadPoolExecutor

    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    anchor = ctypes.c_char.from_buffer(mm)  # holds a buffer export while we use the address
    base = ctypes.addressof(anchor)
    chunk = 32 << 20

    def one(lo: int) -> int:
        if _libc.madvise(base + lo, min(chunk, size - lo), _MADV_POPULATE_WRITE) != 0:
            return ctypes.get_errno()
        return 0

    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
            errs = [e for e in ex.map(one, range(0, size, chunk)) if e]
    finally:
        del anchor
    return errs[0] if errs else 0


def create_map(name: str | None, size: int) -> tuple[str, str, mmap.mmap]:
    """Create a segment exclusively (0600), reserve its memory, map it.

    A full filesystem raises OSError(ENOSPC) here, never SIGBUS later, and
    leaves nothing behind. Returns (name, path, mapping).
    """
    if size <= 0:
        raise ValueError(f"segment size must be positive, not {size}")
    for _ in range(100):
        n = clean_name(name) if name is not None else new_name()
        path = os.path.join(shm_dir(), n)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if name is not None:
                raise FileExistsError(errno.EEXIST, f"segment {n!r} already exists", path) from None
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            set_xattr(fd, XATTR_CREATOR, _creator_record())
            return n, path, reserve_map(fd, size, repr(n), path)
        except BaseException:
            os.unlink(path)
            raise
        finally:
            os.close(fd)
    raise FileExistsError(errno.EEXIST, "could not find a free segment name")
