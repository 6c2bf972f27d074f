"""Segments: files in /dev/shm (or $NPSHM_DIR), opened with os.open and mmap.

Nothing here goes through multiprocessing.shared_memory, so no segment is
ever registered with multiprocessing's resource tracker: attaching never
unlinks at exit and never prints "leaked shared_memory" warnings.

Two backends, chosen by $NPSHM_BACKEND as in Go (default: dir on Linux,
shm_open on macOS): "dir", files in shm_dir() with every feature; and
"shm_open", POSIX shm_open/shm_unlink through the stdlib's _posixshmem (on
Linux a file in /dev/shm, NPSHM_DIR ignored), with macOS's limits kept on
Linux too: names of at most 30 bytes, no flock or xattr records, no
listing or rename, the header (not fstat, page-rounded on macOS) giving the
array's size, and anonymous arrays as shm objects unlinked once made.
"""
from __future__ import annotations

import errno
import fcntl
import mmap
import os
import secrets
import stat
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from ._format import SegmentError

DEFAULT_DIR = "/dev/shm"
MAX_NAME_LEN = 255
BACKEND_ENV = "NPSHM_BACKEND"
MAX_SHM_NAME = 30  # macOS's PSHMNAMLEN is 31 with the leading slash shm_open is given


def backend() -> str:
    """'dir' or 'shm_open', as $NPSHM_BACKEND says (unset: shm_open on macOS,
    dir elsewhere); any other value raises ValueError naming the variable."""
    v = os.environ.get(BACKEND_ENV, "")
    if v in ("dir", "shm_open"):
        return v
    if v:
        raise ValueError(f"{BACKEND_ENV}={v!r}: unknown backend; set it to 'dir' or 'shm_open' (or unset it)")
    return "shm_open" if sys.platform == "darwin" else "dir"


def _is_shm(path: str) -> bool:
    """Whether path names a segment of the shm_open backend (not a file)."""
    return backend() == "shm_open" and os.path.dirname(path) == (shm_dir() or "/")


def _shm_open(path: str, flags: int, mode: int = 0) -> int:
    import _posixshmem  # type: ignore[import-not-found]  # CPython's, as SharedMemory uses; no stubs

    if sys.platform == "darwin":  # only the flags macOS's shm_open documents; no FIFO can hide there
        flags &= os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_EXCL
    fd: int = _posixshmem.shm_open("/" + os.path.basename(path), flags, mode)
    os.set_inheritable(fd, False)
    return fd


def unlink_path(path: str) -> None:
    """Remove a segment (shm_unlink with the shm_open backend) or file."""
    if _is_shm(path):
        import _posixshmem

        _posixshmem.shm_unlink("/" + os.path.basename(path))
    else:
        os.unlink(path)

# Lifecycle records, shared with the Go side (docs/LIFECYCLE.md): a shared
# flock held as long as the mapping lives (the mmap object keeps a dup of the
# locked descriptor), the creator as "PID STARTTIME PIDNS" in an xattr (PIDNS
# is the inode of /proc/self/ns/pid: containers sharing /dev/shm each have
# their own PID namespace, so a PID alone is ambiguous), and "persistent" on
# published arrays.
XATTR_CREATOR = "user.npshm.creator"
XATTR_PERSISTENT = "user.npshm.persistent"
TEMP_PREFIX = ".npshm-tmp-"


class SegmentMap(mmap.mmap):
    """A mapping this package made: the mmap, plus what identifies the file
    behind it, so an array over it can be handed to another process by
    reference (_reduce). path is the name it was opened or created by
    (None for a memfd); dev and ino identify the file itself, which may
    have lost that name since; on_disk marks a .npy file outside the
    segment directory, flushed when its Shared closes."""

    path: Optional[str]
    dev: int
    ino: int
    writable: bool
    on_disk: bool


def new_map(fd: int, size: int, writable: bool, path: Optional[str], on_disk: bool = False) -> SegmentMap:
    """Map size bytes of fd, shared, as a SegmentMap."""
    mm = SegmentMap(fd, size, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
    st = os.fstat(fd)
    mm.path, mm.dev, mm.ino, mm.writable, mm.on_disk = path, st.st_dev, st.st_ino, writable, on_disk
    return mm


def _start_time(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 1 :].split()[19])


def _creator_record() -> bytes:
    # /proc/self is this process even when /proc belongs to another PID
    # namespace (where os.getpid() would name someone else)
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return f"{os.getpid()} {_start_time('self')}".encode()
    return f"{os.getpid()} {_start_time('self')} {ns}".encode()


def set_xattr(fd_or_path: Union[int, str], key: str, value: bytes) -> None:
    if not hasattr(os, "setxattr"):  # macOS: Python has no xattr calls; no records, as without xattrs
        return
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
    """'' for a regular file, else what the file is, for messages. macOS's
    fstat of a POSIX shm object gives no file type: mapped as a file is."""
    if stat.S_IFMT(mode) == 0 and sys.platform == "darwin":
        return ""
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
    fd = _open_fd(path, what, writable, follow)
    try:
        st = os.fstat(fd)
        _check_regular(st, what)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _open_fd(path: str, what: str, writable: bool, follow: bool) -> int:
    """open_file's open, before the fstat that checks what was opened."""
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        # shm_open: glibc adds O_NOFOLLOW and O_CLOEXEC itself
        return _shm_open(path, flags & ~os.O_NOFOLLOW) if _is_shm(path) else os.open(path, flags)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
            try:
                kind = _kind(os.lstat(path).st_mode)
            except OSError:
                kind = ""
            if kind:
                raise SegmentError(f"{what}: is {kind}, not a regular file") from None
        raise


def _check_regular(st: os.stat_result, what: str) -> None:
    """SegmentError unless st is a regular file's (or macOS's shm object's)."""
    kind = _kind(st.st_mode)
    if kind:
        raise SegmentError(f"{what}: is {kind}, not a regular file")


def check_received(fd: int, desc: Any) -> int:
    """The size of a file received from a peer with descriptor `desc`, if it
    is safe to map: a memfd sealed against shrinking, or the very file the
    descriptor names (a segment by name, or a .npy file by path), which
    exposes us to no one but those who may write that name, as attaching by
    name does. Otherwise UnsafeFDError, raised before anything is mapped.

    A named file is held as an attach holds it (a shared flock on fd, kept
    by the mmap's dup of it; see lock_shared), so gc cannot take its name.
    A memfd whose missing pages memory cannot hold (sparse) raises
    OSError(ENOSPC) (see _check_allocated)."""
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
    if named and st.st_nlink > 0 and _is_named(named, st):
        if not _is_shm(named):  # held as an attach holds it, so gc sees it in use; shm objects take no flock
            lock_shared(fd, repr(named), named)
            if os.fstat(fd).st_nlink == 0 or not _is_named(named, st):
                raise FileNotFoundError(errno.ENOENT, f"received segment {named!r} lost its name while it was "
                                        "received (gc removed it, or it was republished); send it again", named)
        return st.st_size
    try:
        sealed = bool(fcntl.fcntl(fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_SHRINK)
    except (OSError, AttributeError):  # a file that takes no seals; no seals at all on macOS
        sealed = False
    if sealed:
        _check_allocated(st)
        return st.st_size
    if backend() == "shm_open" and (sys.platform == "darwin" or not named and st.st_nlink == 0):
        # an shm object: unlinked once made (share_anonymous, no memfd), or
        # any on macOS, where its size, once set, cannot change. On Linux the
        # unlinked file could still be shrunk: the backend is for testing.
        if not named:
            _check_allocated(st)
        return st.st_size
    why = "its sender could shrink it under the mapping"
    if named:
        raise UnsafeFDError(f"unsafe file descriptor: it is not the segment {named!r} its descriptor names, "
                            f"nor sealed against shrinking: {why}")
    if st.st_nlink == 0:
        raise UnsafeFDError("unsafe file descriptor: it is not sealed against shrinking and has no name "
                            f"(an unsealed memfd, an O_TMPFILE or an unlinked file): {why}")
    raise UnsafeFDError(f"unsafe file descriptor: it is not sealed against shrinking and its descriptor names "
                        f"no segment: {why}")


def _is_named(named: str, st: os.stat_result) -> bool:
    """Whether the file at named (a link not followed) is the one st is of."""
    try:
        at = os.lstat(named)
    except OSError:
        return False
    return (at.st_dev, at.st_ino) == (st.st_dev, st.st_ino)


def _check_allocated(st: os.stat_result) -> None:
    """Refuse a received memory file (a memfd, an anonymous shm object) whose
    pages are not all there (a sparse file: a header and a hole, say) when
    memory cannot hold what is missing: reading it would allocate those pages
    until the OOM killer came. What is missing is checked as a new memfd is
    (check_fits): OSError(ENOSPC) naming the size its sender declared."""
    hole = st.st_size - st.st_blocks * 512
    if hole <= 0:
        return
    try:
        check_fits("", hole, "received")
    except OSError as e:
        raise OSError(errno.ENOSPC, f"received array: its sender declared {size_text(st.st_size)}, of which "
                      f"{size_text(hole)} has no pages yet (a sparse file), which reading it would allocate: "
                      f"{e.strerror}") from None


def shm_dir() -> str:
    """Where segments live: $NPSHM_DIR if set (normalized: '/mnt/shm/' is
    '/mnt/shm'), else /dev/shm. With the shm_open backend, where shm_open's
    objects are: /dev/shm on Linux, '' on macOS (they are in no directory)."""
    if backend() == "shm_open":
        return "" if sys.platform == "darwin" else DEFAULT_DIR
    d = os.environ.get("NPSHM_DIR")
    return os.path.normpath(d) if d else DEFAULT_DIR


def clean_name(name: str) -> str:
    """Validate a segment name as SharedMemory takes it; drop a leading '/'."""
    if type(name) is str and 0 < len(name) <= MAX_SHM_NAME and name.isascii() and name[0] not in "/." \
            and "/" not in name and "\0" not in name and ".." not in name:
        return name  # the common case, checked in a few string scans
    if not isinstance(name, str):
        raise TypeError(f"segment name must be a str, not {type(name).__name__}")
    n = name[1:] if name.startswith("/") else name
    if not n:
        raise ValueError(f"invalid segment name {name!r}: empty")
    if len(n.encode()) > MAX_SHM_NAME and backend() == "shm_open":
        raise ValueError(f"invalid segment name {name!r}: longer than {MAX_SHM_NAME} bytes "
                         f"({MAX_SHM_NAME + 1} with the leading slash, macOS's limit; {BACKEND_ENV}=shm_open)")
    if len(n.encode()) > MAX_NAME_LEN:
        raise ValueError(f"invalid segment name {name!r}: longer than {MAX_NAME_LEN} bytes")
    if "/" in n or "\0" in n:
        raise ValueError(f"invalid segment name {name!r}: contains '/' or NUL")
    if ".." in n or n == ".":
        raise ValueError(f"invalid segment name {name!r}: contains '..'")
    return n


def check_new_name(name: str) -> str:
    """clean_name for a name the caller chose for a new or published segment:
    names beginning with TEMP_PREFIX are npshm's temporaries, which gc removes
    once the process in their name is gone, so they are refused."""
    n = clean_name(name)
    if n.startswith(TEMP_PREFIX):
        raise ValueError(f"invalid segment name {name!r}: "
                         f"names beginning with {TEMP_PREFIX!r} are reserved for npshm's temporaries")
    return n


def missing_dir(d: str) -> Optional[FileNotFoundError]:
    """A FileNotFoundError saying that the segment directory d does not exist
    (naming NPSHM_DIR), or None if it exists or is not the segment directory."""
    if d != shm_dir() or os.path.isdir(d):
        return None
    if os.environ.get("NPSHM_DIR"):
        return FileNotFoundError(errno.ENOENT, f"segment directory {d} does not exist (set by NPSHM_DIR)", d)
    return FileNotFoundError(errno.ENOENT, f"segment directory {d} does not exist "
                             "(no POSIX shared memory here; set NPSHM_DIR to a directory)", d)


def _not_found(what: str, path: str) -> FileNotFoundError:
    d = os.path.dirname(path)
    return missing_dir(d) or FileNotFoundError(errno.ENOENT, f"no segment {what} in {d}", path)


def new_name() -> str:
    """A fresh name as SharedMemory makes them: 'psm_' and 8 hex digits."""
    return "psm_" + secrets.token_hex(4)


def segment_path(name: str) -> str:
    return shm_dir() + "/" + clean_name(name)


REPLACED_WAIT = 2.0  # seconds an open keeps following a name republished at every look
LOCK_WAIT = 2.0  # seconds an open waits for a file another process holds exclusively
_on_lock_wait: Optional[Callable[[], None]] = None  # called when an open starts to wait (tests)


def lock_shared(fd: int, what: str, path: str) -> None:
    """Take a shared flock on fd (held as long as the descriptor, or the
    mmap's dup of it, lives): at once if no one holds the file exclusively,
    else polling with growing pauses for at most LOCK_WAIT seconds (gc holds
    it so only for a moment), then TimeoutError naming the holder's PID
    where /proc/locks tells it. What is not a regular file is refused, never
    waited on."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    _check_regular(os.fstat(fd), what)
    if _on_lock_wait is not None:
        _on_lock_wait()
    deadline = time.monotonic() + LOCK_WAIT
    pause = 0.001
    while True:
        time.sleep(max(min(pause, deadline - time.monotonic()), 0))
        pause = min(2 * pause, 0.05)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                break
    pids = _exclusive_holders(os.fstat(fd).st_ino)
    who = f"another process (PID {pids[0]})" if pids else "another process"
    raise TimeoutError(errno.ETIMEDOUT, f"segment {what}: {who} has held it under an exclusive flock for over "
                       f"{LOCK_WAIT:g} s (gc holds the lock only for a moment); "
                       "find and stop that process, or remove the name", path)


def _exclusive_holders(ino: int) -> List[int]:
    """PIDs holding an exclusive flock on inode ino (/proc/locks)."""
    out = []
    try:
        with open("/proc/locks") as f:
            for line in f:
                p = line.split()  # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters have "->"
                if len(p) >= 6 and p[1] == "FLOCK" and p[3] == "WRITE" and p[4].isdigit() \
                        and p[5].rsplit(":", 1)[-1] == str(ino):
                    out.append(int(p[4]))
    except OSError:
        pass
    return out


def open_map(path: str, what: str, writable: bool, follow: bool = False) -> Tuple[SegmentMap, bytes]:
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
    as missing. A file another process holds under an exclusive flock for
    over LOCK_WAIT seconds raises TimeoutError (see lock_shared). follow:
    see open_file.
    """
    replaced_since = None
    shm = _is_shm(path)  # no flock, no rename, no pread: the header is read from the mapping
    while True:
        try:
            fd = _open_fd(path, what, writable, follow)
        except FileNotFoundError:
            raise _not_found(what, path) from None
        try:
            # One fstat checks both what was opened and that it still has its
            # name. The usual case: no one holds the file exclusively, so the
            # lock is taken at once. Else (gc, for a moment) the type is
            # checked first: a FIFO or device someone holds is refused, never
            # waited on. shm_open objects take no flock (as on macOS).
            if not shm:
                lock_shared(fd, what, path)
            st = os.fstat(fd)
            _check_regular(st, what)
            if st.st_nlink == 0 and not shm:
                now = time.monotonic()
                if replaced_since is None:
                    replaced_since = now
                elif now - replaced_since > REPLACED_WAIT:
                    raise TimeoutError(errno.ETIMEDOUT, f"segment {what} was replaced by a new file at every open "
                                       f"for {REPLACED_WAIT:g} s (republished without pause); try again", path)
                continue  # look again
            if st.st_size == 0:
                raise SegmentError(f"{what}: segment is empty")
            head = b"" if shm else os.pread(fd, 4096, 0)  # shm: the header is read from the mapping
            return new_map(fd, st.st_size, writable, path, on_disk=follow), head
        finally:
            os.close(fd)


_POPULATE_MIN = 16 << 20  # below this, posix_fallocate is as fast
_MADV_POPULATE_WRITE = 23
_libc: Any = None


def reserve_map(fd: int, size: int, what: str, path: str = "", *, populate: bool = True,
                on_disk: bool = False) -> SegmentMap:
    """Size a new file, map it read-write, and allocate every page, so a full
    filesystem is OSError(ENOSPC) now, never SIGBUS later.

    Large segments are populated with MADV_POPULATE_WRITE on 32 MiB chunks
    across cores (called through ctypes, which releases the GIL): page
    allocation dominates making a fresh segment, and the copy that follows
    then takes no page faults. Small ones use posix_fallocate. A file on
    disk (populate=False: a .npy path, or a segment directory that is not
    memory-backed) only has its blocks reserved with posix_fallocate: its
    pages are read in as they are touched, as np.load(mmap_mode) does.
    on_disk marks a .npy file outside the segment directory. macOS has
    neither fallocate nor MADV_POPULATE_WRITE: the file is sized and its
    pages come on first touch (its VM system backs shared memory; no tmpfs
    to run out of).
    """
    mpath = path or None
    if sys.platform == "darwin":
        os.ftruncate(fd, size)
        return new_map(fd, size, True, mpath, on_disk)
    if size < _POPULATE_MIN or not populate:
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                why = f"cannot reserve {size_text(size)} for segment {what}: {e.strerror}"
                raise _no_space(e.errno or errno.EIO, why, path) from None
            os.ftruncate(fd, size)
        return new_map(fd, size, True, mpath, on_disk)
    os.ftruncate(fd, size)
    mm = new_map(fd, size, True, mpath)
    err = _populate(mm, size)
    if err == errno.EINVAL:  # kernel before 5.14: reserve with fallocate instead
        os.posix_fallocate(fd, 0, size)
    elif err:
        mm.close()
        raise _no_space(errno.ENOSPC, f"cannot allocate {size_text(size)} for segment {what}: no space left on device", path)
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


def create_file_map(path: str, size: int) -> SegmentMap:
    """Create a .npy file on disk exclusively (0600), reserve its blocks
    (not its memory), map it. A size the filesystem cannot hold raises
    OSError(ENOSPC) and leaves nothing behind."""
    path = os.fspath(path)
    check_fits(os.path.dirname(os.path.abspath(path)), size, repr(path))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return reserve_map(fd, size, repr(path), path, populate=False, on_disk=True)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)


def create_map(name: Optional[str], size: int) -> Tuple[str, str, SegmentMap]:
    """Create a segment exclusively (0600), reserve its memory, map it.

    A size that cannot fit (see check_fits) or a full filesystem raises
    OSError(ENOSPC) here, never SIGBUS later, naming the fix, and leaves
    nothing behind. Returns (name, path, mapping).
    """
    n, path, fd, mm = create_fd(name, size)
    os.close(fd)  # the mapping keeps its own descriptor, and the flock with it
    return n, path, mm


def create_fd(name: Optional[str], size: int) -> Tuple[str, str, int, SegmentMap]:
    """create_map, keeping the segment's descriptor open for the caller,
    who closes it (streams take byte locks on it). Returns (name, path, fd,
    mapping)."""
    if size <= 0:
        raise ValueError(f"segment size must be positive, not {size}")
    check_fits(shm_dir(), size, repr(name) if name is not None else "(new name)")
    if backend() == "shm_open":
        return _create_shm(name, size)
    for _ in range(100):
        n = clean_name(name) if name is not None else new_name()
        path = os.path.join(shm_dir(), n)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            raise missing_dir(os.path.dirname(path)) or FileNotFoundError(errno.ENOENT, f"cannot create {path}", path) from None
        except FileExistsError:
            if name is not None:
                raise FileExistsError(errno.EEXIST, f"segment {n!r} already exists", path) from None
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if os.path.isdir("/proc/self"):  # the start time comes from /proc (Linux)
                set_xattr(fd, XATTR_CREATOR, _creator_record())
            memory = _fs_type(os.path.dirname(path)) in _MEMORY_FS
            return n, path, fd, reserve_map(fd, size, repr(n), path, populate=memory)
        except BaseException:
            os.unlink(path)
            os.close(fd)
            raise
    raise FileExistsError(errno.EEXIST, "could not find a free segment name")


def _create_shm(name: Optional[str], size: int) -> Tuple[str, str, int, SegmentMap]:
    """create_map for the shm_open backend: shm_open(O_CREAT|O_EXCL, 0600),
    sized once (macOS allows no more), no flock or xattr. Returns (name,
    path, fd, mapping)."""
    for _ in range(100):
        n = clean_name(name) if name is not None else new_name()
        path = shm_dir() + "/" + n
        try:
            fd = _shm_open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if name is not None:
                raise FileExistsError(errno.EEXIST, f"segment {n!r} already exists", path) from None
            continue
        try:
            mm = reserve_map(fd, size, repr(n), path)
        except BaseException:
            os.close(fd)
            unlink_path(path)
            raise
        return n, path, fd, mm
    raise FileExistsError(errno.EEXIST, "could not find a free segment name")


def create_unlinked(size: int) -> Tuple[int, SegmentMap]:
    """An anonymous segment for the shm_open backend (macOS has no memfd): an
    shm object unlinked right after it is made. Returns (fd, mapping)."""
    check_fits(shm_dir(), size, "anonymous array")
    _, path, fd, mm = _create_shm(None, size)
    unlink_path(path)
    return fd, mm


# Room for a new segment: the twin of Go's bridge/capacity.go. A segment's
# pages are allocated at create, so a full filesystem is an error then, not
# SIGBUS later; but on a tmpfs as large as RAM (a container's /dev/shm often
# is) a request larger than memory would be populated until the OOM killer
# kills the process. check_fits refuses it first, from what the kernel says:
# the filesystem's free space (statvfs), and for a memory-backed one (tmpfs,
# ramfs; a memfd always) the memory the machine can give (MemAvailable +
# SwapFree) and the room under this process's cgroup memory limits. These
# are upper bounds: only requests that cannot succeed are refused.

_SHM_FIX = ("give the container more shared memory (docker run --shm-size=..., "
            "Kubernetes emptyDir {medium: Memory, sizeLimit: ...}) or set NPSHM_DIR to a larger tmpfs or a disk directory")
_MEMORY_FIX = "free memory or raise the memory limit (docker run --memory=..., Kubernetes resources.limits.memory)"
_MEMORY_FS = {"tmpfs", "ramfs"}
_UNLIMITED = 1 << 63


def size_text(n: int) -> str:
    """n bytes for people: '512 B', '64.0 MiB', '8.0 TiB'."""
    if n >= _UNLIMITED:
        return "unlimited"
    if n < 1024:
        return f"{n} B"
    v, unit = float(n), ""
    for unit in "KMGTPE":  # noqa: B007 - the unit reached is the one printed
        v /= 1024
        if v < 1024:
            break
    return f"{v:.1f} {unit}iB"


def _fix(d: str, short: bool) -> str:
    if d == "":
        return _MEMORY_FIX
    if d != shm_dir():
        return "free space there"
    if short:
        return _MEMORY_FIX + ", or set NPSHM_DIR to a disk directory"
    if _fs_type(d) not in _MEMORY_FS:
        return "free space there or set NPSHM_DIR to a directory with room"
    return _SHM_FIX


def _no_space(err: int, msg: str, path: str = "") -> OSError:
    """OSError(ENOSPC) from an allocation in the segment directory, with the fix."""
    if err not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
        return OSError(err, msg, path) if path else OSError(err, msg)
    d = os.path.dirname(path) if path else ""
    return OSError(errno.ENOSPC, f"{msg}; {_fix(d, False)}", *([path] if path else []))


def check_fits(d: str, size: int, what: str) -> None:
    """Raise OSError(ENOSPC) naming the fix if size bytes cannot be held in
    directory d ("" for a memfd)."""
    free, memory = _UNLIMITED, True
    if d:
        try:
            st = os.statvfs(d)
        except OSError:
            return  # the create that follows reports what is wrong with d
        if st.f_blocks:
            free = st.f_bavail * st.f_frsize
        memory = _fs_type(d) in _MEMORY_FS
    if size > free:
        raise OSError(errno.ENOSPC, f"no space for segment {what}: {size_text(size)} asked, "
                      f"{d} has {size_text(free)} free; {_fix(d, False)}")
    if not memory:
        return
    short = _memory_short(size)
    if short:
        room, bound = short
        asked = f"{size_text(size)} asked for a memfd" if not d else f"{size_text(size)} asked, {d} has {size_text(free)} free"
        raise OSError(errno.ENOSPC, f"no space for segment {what}: {asked}, but {bound} leaves only "
                      f"{size_text(room)} of memory; {_fix(d, True)}")


_fs_types: Dict[int, str] = {}


def _fs_type(d: str) -> str:
    """The type of the filesystem holding d, from /proc/self/mountinfo by
    device number (statvfs does not say)."""
    try:
        dev = os.stat(d).st_dev
    except OSError:
        return ""
    if dev not in _fs_types:
        want = f"{os.major(dev)}:{os.minor(dev)}"
        _fs_types[dev] = ""
        for m in _mounts():
            if m[0] == want:
                _fs_types[dev] = m[3]
                break
    return _fs_types[dev]


Mount = Tuple[str, str, str, str, str]


def _mounts() -> List[Mount]:
    """(maj:min, root, mount point, fstype, super options) per mountinfo line."""
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out: List[Mount] = []

    def unesc(s: str) -> str:
        return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")

    for line in lines:
        pre, sep, post = line.partition(" - ")
        head, g = pre.split(), post.split()
        if sep and len(head) >= 5 and len(g) >= 3:
            out.append((head[2], unesc(head[3]), unesc(head[4]), g[0], g[2]))
    return out


def _read_kv(path: str, unit: int = 1) -> Dict[str, int]:
    out = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 2 and p[1].isdigit():
                    out[p[0].rstrip(":")] = int(p[1]) * unit
    except OSError:
        pass
    return out


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            s = f.read().strip()
    except OSError:
        return None
    if s == "max":
        return _UNLIMITED
    try:
        return int(s)
    except ValueError:
        return None


def _memory_short(size: int) -> Optional[Tuple[int, str]]:
    """(room, what bounds it) if size bytes of shared memory cannot be had,
    else None. Cheap bounds first: memory free outright, then /proc/meminfo."""
    try:
        free_now = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        free_now = 0
    if size > free_now:
        mi = _read_kv("/proc/meminfo", 1024)
        if "MemAvailable" in mi and size > mi["MemAvailable"] + mi.get("SwapFree", 0):
            return mi["MemAvailable"] + mi.get("SwapFree", 0), "the machine"
    for cg in _limited_cgroups():
        room = _cgroup_room(cg, size)
        if room is not None and size > room:
            return room, "the cgroup memory limit"
    return None


def _cgroup_room(cg: Tuple[str, bool], size: int) -> Optional[int]:
    """Room under the memory limit of cgroup (dir, v2): limit - charged +
    swap, plus the file cache reclaim could drop when that is not enough.
    None if it has no limit."""
    d, v2 = cg
    if v2:
        limit_f, usage_f, lru = "memory.max", "memory.current", ("active_file", "inactive_file")
    else:
        limit_f, usage_f, lru = "memory.limit_in_bytes", "memory.usage_in_bytes", ("total_active_file", "total_inactive_file")
    limit = _read_int(os.path.join(d, limit_f))
    if limit is None or limit >= _UNLIMITED // 2:
        return None
    usage = _read_int(os.path.join(d, usage_f)) or 0
    swap = 0
    if v2:
        smax = _read_int(os.path.join(d, "memory.swap.max"))
        if smax is not None:
            swap = max(smax - (_read_int(os.path.join(d, "memory.swap.current")) or 0), 0)
    else:
        sw = _read_int(os.path.join(d, "memory.memsw.limit_in_bytes"))
        if sw is not None and sw < _UNLIMITED // 2:
            swap = max(sw - limit, 0)
    if swap:
        swap = min(swap, _read_kv("/proc/meminfo", 1024).get("SwapFree", 0))
    room = max(limit - usage, 0) + swap
    if size > room:
        st = _read_kv(os.path.join(d, "memory.stat"))
        room += st.get(lru[0], 0) + st.get(lru[1], 0)
    return room


_cgroups: Optional[List[Tuple[str, bool]]] = None


def _limited_cgroups() -> List[Tuple[str, bool]]:
    """This process's memory cgroup and its ancestors that have a limit,
    innermost first, as (dir, v2). Read once per process."""
    global _cgroups
    if _cgroups is not None:
        return _cgroups
    _cgroups = []
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return _cgroups
    v1path = v2path = None
    for line in lines:
        p = line.split(":", 2)
        if len(p) != 3:
            continue
        if p[0] == "0" and p[1] == "":
            v2path = p[2]
        elif "memory" in p[1].split(","):
            v1path = p[2]
    mount = None
    for _, root, point, fstype, opts in _mounts():
        if fstype == "cgroup" and v1path is not None and "memory" in opts.split(","):
            mount = (point, root, v1path, False)
        elif fstype == "cgroup2" and v2path is not None and mount is None:
            mount = (point, root, v2path, True)
    if mount is None:
        return _cgroups
    point, root, path, v2 = mount
    rel = path[len(root):] if path.startswith(root) else path
    while True:
        cg = (os.path.join(point, rel.lstrip("/")), v2)
        if _cgroup_room(cg, 0) is not None:
            _cgroups.append(cg)
        if rel in ("/", "", "."):
            break
        rel = os.path.dirname(rel)
    return _cgroups
