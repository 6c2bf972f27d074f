"""Hostile peers and odd files (Python side): what another process or local
user can put in the segment directory or send over a socket ends in a clear
error, never a hang, a SIGBUS or a file opened that is not a segment."""
import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import npshm
from conftest import _tracked, run_python
from npshm._format import encode_header

N = 100_000
HEADER = encode_header(np.dtype("<f8"), False, (N,))
IMAGE = HEADER + np.arange(N, dtype="<f8").tobytes()
ANON = {"name": "", "anonymous": True, "dtype": "<f8", "shape": [N], "fortran_order": False,
        "offset": len(HEADER), "nbytes": 8 * N, "size": len(IMAGE)}


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def private_dir(tmp_path, monkeypatch):
    """A segment directory of this test's own, so no other run lists its FIFOs."""
    d = tmp_path / "shm"
    d.mkdir()
    monkeypatch.setenv("NPSHM_DIR", str(d))
    return d


@pytest.mark.dir_only
def test_open_refuses_links_and_directories(private_dir, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"root:secret-hash:19000::::::\n")
    npshm.publish("real", np.arange(3.0))
    os.symlink(secret, private_dir / "link-to-file")
    os.symlink(private_dir / "real", private_dir / "link-to-segment")
    os.mkdir(private_dir / "dir")
    for name, kind in [("link-to-file", "is a symbolic link"), ("link-to-segment", "is a symbolic link"),
                       ("dir", "is a directory")]:
        for writable in (False, True):
            with pytest.raises(npshm.SegmentError, match=kind) as e:
                npshm.attach(name, writable=writable)
            assert "secret" not in str(e.value)
    assert npshm.names() == ["real"]
    # A .npy path from a descriptor is followed, as np.load follows it.
    os.symlink(private_dir / "real", tmp_path / "data.npy")
    by_path = {"name": "real", "path": str(tmp_path / "data.npy"), "dtype": "<f8", "shape": [3]}
    assert npshm.attach(by_path).tolist() == [0, 1, 2]
    assert secret.read_bytes() == b"root:secret-hash:19000::::::\n"


@pytest.mark.dir_only
def test_fifo_never_hangs(private_dir):
    """A FIFO under a segment's name: attach, get and names return at once
    (run in a child, killed if it hangs)."""
    os.mkfifo(private_dir / "fifo")
    code = """
import npshm, numpy as np
npshm.publish("real", np.zeros(1))
for w in (False, True):
    try:
        npshm.attach("fifo", writable=w)
    except npshm.SegmentError as e:
        print("attach:", e)
print("names:", npshm.names())
try:
    npshm.get("typo")
except FileNotFoundError as e:
    print("get:", e.strerror)
"""
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO in the segment directory hung attach, names or get")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.splitlines() == [
        "attach: 'fifo': is a FIFO, not a regular file",
        "attach: 'fifo': is a FIFO, not a regular file",
        "names: ['real']",
        f"get: no array published as 'typo' in {private_dir} (have: real)",
    ]


def test_locked_fifo_refused_at_once_locked_segment_waited_for(private_dir):
    """attach takes its shared flock without waiting when it can, and checks
    what it opened in the same fstat; when someone holds the file
    exclusively it checks first: a FIFO held so is refused at once, a
    segment (gc holds one for a moment) is waited for."""
    os.mkfifo(private_dir / "fifo")
    npshm.publish("held", np.arange(3.0))
    code = f"""
import fcntl, os, time, npshm
fd = os.open({str(private_dir / "fifo")!r}, os.O_RDONLY | os.O_NONBLOCK)
fcntl.flock(fd, fcntl.LOCK_EX)
try:
    npshm.attach("fifo")
except npshm.SegmentError as e:
    print("attach:", e)
seg = os.open({str(private_dir / "held")!r}, os.O_RDONLY)
fcntl.flock(seg, fcntl.LOCK_EX)
import threading
threading.Timer(0.3, fcntl.flock, (seg, fcntl.LOCK_UN)).start()
t = time.monotonic()
print("held:", npshm.attach("held").tolist(), time.monotonic() - t >= 0.25)
"""
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("an exclusively locked FIFO in the segment directory hung attach")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.splitlines() == ["attach: 'fifo': is a FIFO, not a regular file", "held: [0.0, 1.0, 2.0] True"]


def _filled(fd):
    os.pwrite(fd, IMAGE, 0)
    return fd


def _memfd(seals):
    fd = _filled(os.memfd_create("x", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING))
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


def _claiming(name):
    return {**ANON, "name": name, "anonymous": False}


def _pipe():
    r, w = os.pipe()
    os.close(w)
    return r


def _socket():
    a, b = socket.socketpair()
    b.close()
    return a.detach()


# Each kind: (make fd and descriptor, what the refusal says or None if mapped).
def _kinds(named, tmp):
    seg = os.path.join(npshm.shm_dir(), named)
    return {
        "sealed memfd": (lambda: (_memfd(fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW), ANON), None),
        "named segment": (lambda: (os.open(seg, os.O_RDWR), _claiming(named)), None),
        ".npy file its descriptor names by path": (
            lambda: (_filled(os.open(os.path.join(tmp, "array.npy"), os.O_RDWR | os.O_CREAT, 0o600)),
                     {**ANON, "name": "array", "anonymous": False, "path": os.path.join(tmp, "array.npy")}),
            None),
        "unsealed memfd": (lambda: (_memfd(0), ANON), "not sealed"),
        "memfd sealed against growing only": (lambda: (_memfd(fcntl.F_SEAL_GROW), ANON), "not sealed"),
        "O_TMPFILE": (lambda: (_tmpfile(), ANON), "has no name"),
        "O_TMPFILE claiming a segment's name": (
            lambda: (_tmpfile(), _claiming(named)),
            "is not the segment"),
        "unlinked file": (lambda: (_unlinked(tmp), ANON), "has no name"),
        "file elsewhere claiming a segment's name": (
            lambda: (_filled(os.open(os.path.join(tmp, "elsewhere"), os.O_RDWR | os.O_CREAT, 0o600)), _claiming(named)),
            "is not the segment"),
        "pipe": (lambda: (_pipe(), ANON), "is a pipe or FIFO"),
        "socket": (lambda: (_socket(), ANON), "is a socket"),
        "directory": (lambda: (os.open(tmp, os.O_RDONLY | os.O_DIRECTORY), ANON), "is a directory"),
        "device": (lambda: (os.open("/dev/zero", os.O_RDWR), ANON), "is a character device"),
    }


def _tmpfile():
    return _filled(os.open(npshm.shm_dir(), os.O_TMPFILE | os.O_RDWR, 0o600))


def _unlinked(tmp):
    p = os.path.join(tmp, "unlinked")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.unlink(p)
    return _filled(fd)


KINDS = list(_kinds("", "/"))


@pytest.mark.dir_only
@pytest.mark.parametrize("kind", KINDS)
def test_recv_hostile_fds(kind, name, tmp_path):
    """Only a memfd sealed against shrinking and the very file a descriptor
    names are mapped; anything else is refused with UnsafeFDError before
    mapping, and every descriptor received is closed."""
    with open(os.path.join(npshm.shm_dir(), name), "wb") as f:
        f.write(IMAGE)
    make, refusal = _kinds(name, str(tmp_path))[kind]
    fd, desc = make()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        before = open_fds()
        socket.send_fds(a, [json.dumps(desc).encode() + b"\n"], [fd])
        if refusal is None:
            got = npshm.recv(b)
            assert got.sum() == N * (N - 1) / 2
        else:
            with pytest.raises(npshm.UnsafeFDError, match=refusal):
                npshm.recv(b)
            assert open_fds() == before, "recv left a received descriptor open"
    finally:
        os.close(fd)
        a.close()
        b.close()


def test_recv_closes_extra_fds():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    r, w = os.pipe()
    try:
        before = open_fds()
        socket.send_fds(a, [json.dumps(ANON).encode() + b"\n"], [r, w])
        with pytest.raises(ValueError, match="got 2"):
            npshm.recv(b)
        assert open_fds() == before
    finally:
        for x in (r, w):
            os.close(x)
        a.close()
        b.close()


@pytest.mark.dir_only
def test_sender_truncating_never_crashes_receiver():
    """A sender that shrinks what it sent to one page after recv: the
    receiver either refused it (unsealed) or holds a sealed memfd that
    cannot shrink. Run in a child: a SIGBUS would kill it (rc -7)."""
    code = """
import fcntl, json, os, socket, sys
import numpy as np, npshm
from npshm._format import encode_header
N = 1 << 20
hdr = encode_header(np.dtype("<f8"), False, (N,))
desc = {"name": "", "anonymous": True, "dtype": "<f8", "shape": [N], "fortran_order": False,
        "offset": len(hdr), "nbytes": 8 * N, "size": len(hdr) + 8 * N}
def memfd(seals):
    fd = os.memfd_create("x", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, desc["size"]); os.pwrite(fd, hdr, 0)
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd
def tmpfile():
    fd = os.open(npshm.shm_dir(), os.O_TMPFILE | os.O_RDWR, 0o600)
    os.ftruncate(fd, desc["size"]); os.pwrite(fd, hdr, 0)
    return fd
for kind, make in [("sealed", lambda: memfd(fcntl.F_SEAL_SHRINK)), ("unsealed", lambda: memfd(0)),
                   ("tmpfile", tmpfile)]:
    a, b = socket.socketpair()
    fd = make()
    socket.send_fds(a, [json.dumps(desc).encode() + b"\\n"], [fd])
    try:
        arr = npshm.recv(b)
    except ValueError:  # npshm.UnsafeFDError
        print(kind, "refused")
        continue
    try:
        os.ftruncate(fd, 4096)
    except PermissionError:
        pass
    print(kind, "mapped, sum", float(arr.sum()))
"""
    p = run_python(code, check=False)
    assert p.returncode == 0, f"receiver died ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    assert p.stdout.splitlines() == ["sealed mapped, sum 0.0", "unsealed refused", "tmpfile refused"]


def _replaced_while_attaching(name, replacements):
    """Publish arrays 0, 1, ... replacements as `name`, each while an attach
    waits for the lock on the one before (held as gc holds it); return what
    the attach returned or raised."""
    path = os.path.join(npshm.shm_dir(), name)

    def publish(v):
        npshm.publish(name, np.array([v]))
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd

    waiting = threading.Semaphore(0)
    npshm._segment._on_lock_wait = waiting.release
    held = publish(0)
    result = {}

    def attach():
        try:
            result["array"] = npshm.attach(name)
        except Exception as e:  # returned to the test
            result["error"] = e

    t = threading.Thread(target=attach)
    t.start()

    def opener_waits():
        """Whether the attach came to wait for the lock (on held) before it returned."""
        while t.is_alive():
            if waiting.acquire(timeout=0.01):
                return True
        return waiting.acquire(blocking=False)

    try:
        for v in range(1, replacements + 1):
            if not opener_waits():
                break
            nxt = publish(v)
            os.close(held)  # releases the lock: the opener finds its file replaced
            held = nxt
        opener_waits()
    finally:
        os.close(held)
        t.join()
        npshm._segment._on_lock_wait = None
        os.unlink(path)
    return result.get("array"), result.get("error")


@pytest.mark.dir_only
def test_attach_locked_gives_up(name, monkeypatch):
    """A file another process holds under an exclusive flock (a planted file;
    gc holds it so only for a moment) makes attach wait a bounded time, then
    raise TimeoutError naming the holder's PID, never hang."""
    npshm.publish(name, np.arange(4))
    path = os.path.join(npshm.shm_dir(), name)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        monkeypatch.setattr(npshm._segment, "LOCK_WAIT", 0.05)
        with pytest.raises(TimeoutError, match=f"PID {os.getpid()}"):
            npshm.attach(name)
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert npshm.attach(name).tolist() == [0, 1, 2, 3]
    finally:
        os.close(fd)
        os.unlink(path)


@pytest.mark.dir_only
def test_open_follows_replacements(name, monkeypatch):
    """An attach that finds, each time it has its lock, that the name was
    republished meanwhile keeps following it (6 times in a row) and opens
    the newest array; past its bound it raises TimeoutError, not
    FileNotFoundError."""
    got, err = _replaced_while_attaching(name, 6)
    assert err is None, err
    assert got.tolist() == [6]
    monkeypatch.setattr(npshm._segment, "REPLACED_WAIT", 0.0)  # give up at the second replacement
    got, err = _replaced_while_attaching(name, 2)
    assert isinstance(err, TimeoutError) and "replaced" in str(err), err


@pytest.mark.dir_only
def test_republish_under_load(name):
    """While another process republishes a name as fast as it can, attaching
    it never raises FileNotFoundError: the name exists at every moment.
    Counts are bounded; nothing is timed."""
    npshm.publish(name, np.zeros(4))
    code = f"""
import sys, numpy as np, npshm
a = np.zeros(4)
print("ready", flush=True)
for i in range(10000):
    npshm.publish({name!r}, a)
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _tracked.add(p.pid)
    try:
        assert p.stdout.readline() == "ready\n"
        missing, opens = [], 0
        while p.poll() is None and opens < 200000:
            try:
                npshm.attach(name)
            except FileNotFoundError as e:
                missing.append(str(e))
            opens += 1
    finally:
        _, err = p.communicate(timeout=120)  # the publisher stops by itself
    assert not missing, f"{len(missing)} of {opens} attaches said not found: {missing[0]}"
    assert err == "", err


def test_get_escapes_names_it_lists(private_dir):
    """A name holding control characters, listed in get's not-found error,
    cannot forge lines or colour the terminal: it is shown as its repr."""
    npshm.publish("evil\nTraceback: forged\x1b[31m", np.zeros(1))
    npshm.publish("real", np.zeros(1))
    with pytest.raises(FileNotFoundError) as e:
        npshm.get("typo")
    assert e.value.strerror.endswith("(have: 'evil\\nTraceback: forged\\x1b[31m', real)"), e.value.strerror
    for n in os.listdir(private_dir):
        os.unlink(private_dir / n)


def test_recv_bounds_the_descriptor_line():
    """A peer that streams bytes without ever ending the descriptor line is
    refused once the line passes 64 KiB (as Go's Receive bounds it), not
    read without bound or waited on for its end (the peer keeps the socket
    open: recv would wait until the timeout)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = _memfd(fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    b.settimeout(5)

    def stream():
        try:
            socket.send_fds(a, [b"{" + b" " * 1000], [fd])
            a.sendall(b" " * (1 << 20))
        except OSError:
            pass  # the receiver gave up and closed its end

    t = threading.Thread(target=stream)
    t.start()
    try:
        before = open_fds()
        with pytest.raises(npshm.DescriptorError, match="longer than 64 KiB"):
            npshm.recv(b)
        assert open_fds() == before
    finally:
        b.close()
        t.join()
        a.close()
        os.close(fd)


@pytest.mark.dir_only
def test_recv_named_is_held(name):
    """A named segment received through a descriptor that holds no lock (what
    send makes of a named Shared) is held by the receiver as an attach holds
    it: gc cannot lock it exclusively, so cannot take its name, while the
    received array lives."""
    path = os.path.join(npshm.shm_dir(), name)
    with open(path, "wb") as f:
        f.write(IMAGE)
    fd = os.open(path, os.O_RDONLY)  # fresh, unlocked
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    probe = os.open(path, os.O_RDONLY)
    try:
        socket.send_fds(a, [json.dumps(_claiming(name)).encode() + b"\n"], [fd])
        os.close(fd)
        got = npshm.recv(b)
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what gc tries
        del got
        import gc
        gc.collect()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the mapping
    finally:
        os.close(probe)
        a.close()
        b.close()
        os.unlink(path)


@pytest.mark.dir_only
def test_recv_sparse_memfd():
    """A sealed memfd declaring more than memory can hold with no pages
    behind it (1 TiB: a header and a hole) is refused with OSError(ENOSPC)
    naming the declared size, before mapping: reading it would allocate
    until the OOM killer came."""
    n = 1 << 37  # float64s: 1 TiB
    hdr = encode_header(np.dtype("<f8"), False, (n,))
    fd = os.memfd_create("sparse", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.pwrite(fd, hdr, 0)
        os.ftruncate(fd, len(hdr) + 8 * n)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        desc = {**ANON, "shape": [n], "offset": len(hdr), "nbytes": 8 * n, "size": len(hdr) + 8 * n}
        socket.send_fds(a, [json.dumps(desc).encode() + b"\n"], [fd])
        with pytest.raises(OSError, match="1.0 TiB") as e:
            npshm.recv(b)
        assert e.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
        a.close()
        b.close()
