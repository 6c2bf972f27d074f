"""Named arrays, descriptor handoff and lifecycle records (Python side)."""
import fcntl
import io
import json
import os
import socket
import subprocess

import numpy as np
import pytest

import npshm
from conftest import ours, run_python


def path(name):
    return os.path.join(npshm.shm_dir(), name)


@pytest.mark.dir_only
def test_publish_get_republish(name):
    d = npshm.publish(name, np.arange(5.0))
    assert d["name"] == name and d["shape"] == [5]
    old = npshm.get(name)
    npshm.publish(name, np.full(7, 2.0))
    new = npshm.get(name)
    assert old.tolist() == [0, 1, 2, 3, 4]  # readers of the old array keep it intact
    assert new.tolist() == [2.0] * 7
    assert not old.flags.writeable and not new.flags.writeable
    assert os.getxattr(path(name), "user.npshm.persistent") == b"1"
    assert not [n for n in ours() if n.startswith(".npshm-tmp-")]
    os.unlink(path(name))


def test_publish_exclusive(name):
    npshm.publish(name, np.zeros(2))
    with pytest.raises(FileExistsError) as e:
        npshm.publish(name, np.ones(2), exclusive=True)
    assert e.value.strerror == f"an array is already published as {name!r}", e.value  # not the temporary's name
    assert npshm.get(name).sum() == 0
    assert not [n for n in ours() if n.startswith(".npshm-tmp-")]
    os.unlink(path(name))


def test_published_array_outlives_its_publisher(name):
    run_python(f"import numpy as np, npshm; npshm.publish({name!r}, np.arange(4))")
    p = run_python(f"import npshm; print(npshm.get({name!r}).tolist())")
    assert p.stdout.strip() == "[0, 1, 2, 3]" and p.stderr == ""
    os.unlink(path(name))


@pytest.mark.dir_only
def test_get_missing_lists_names(name):
    npshm.publish(name, np.zeros(1))
    with pytest.raises(FileNotFoundError, match=name):
        npshm.get("npshm_not_published_anywhere")
    assert name in npshm.names()
    os.unlink(path(name))


@pytest.mark.dir_only
def test_shared_publish_in_place(name):
    with npshm.create((3,), "i4") as s:
        s.array[:] = [7, 8, 9]
        s.publish(name)
        assert s.name == name
    assert npshm.get(name).tolist() == [7, 8, 9]  # leaving the block did not unlink it
    os.unlink(path(name))


@pytest.mark.dir_only
def test_creator_and_holder_records():
    with npshm.share(np.zeros(10)) as s:
        pid, start, pidns = os.getxattr(s.path, "user.npshm.creator").split()
        assert int(pid) == os.getpid() and int(start) > 0
        assert int(pidns) == os.stat("/proc/self/ns/pid").st_ino  # which PID namespace pid is in
        fd = os.open(s.path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):  # the creator holds it
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            s.close()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # closed: nobody holds it
            fcntl.flock(fd, fcntl.LOCK_UN)
            a = npshm.attach(s.name)
            with pytest.raises(BlockingIOError):  # an attached view holds it
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            del a
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_attach_lines():
    arrays = [npshm.share(np.arange(n, dtype=np.int16)) for n in (3, 4)]
    try:
        stream = io.StringIO("".join(json.dumps(s.descriptor) + "\n\n" for s in arrays))
        got = [a.tolist() for a in npshm.attach_lines(stream)]
        assert got == [[0, 1, 2], [0, 1, 2, 3]]
    finally:
        for s in arrays:
            s.__exit__(None, None, None)


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET])
def test_send_recv_anonymous(kind):
    before = ours()
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    with a, b:
        rec = np.zeros(3, dtype=[("chr", "S10"), ("pos", "<i4")])
        rec["pos"] = [1, 2, 3]
        npshm.send(a, rec)
        got = npshm.recv(b)
        assert got.dtype == rec.dtype and got["pos"].tolist() == [1, 2, 3] and not got.flags.writeable
        s = npshm.share_anonymous(shape=(2, 2), dtype="f4", order="F")
        assert s.anonymous and s.descriptor["anonymous"] is True
        npshm.send(a, s)
        w = npshm.recv(b, writable=True)
        w[1, 0] = 5  # the same memory: the sender sees it
        assert s.array[1, 0] == 5 and s.array.flags.f_contiguous
        s.close()
        a.close()
        with pytest.raises(EOFError):
            npshm.recv(b)
    assert ours() == before


def test_send_named_segment():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b, npshm.share(np.arange(3)) as s:
        npshm.send(a, s)
        assert npshm.recv(b).tolist() == [0, 1, 2]


@pytest.mark.dir_only
def test_recv_refuses_unsealed_memfd():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = os.memfd_create("x")
    try:
        from npshm._format import encode_header

        hdr = encode_header(np.dtype("f8"), False, (1,))
        os.write(fd, hdr + b"\0" * 8)
        desc = {"name": "", "anonymous": True, "dtype": "<f8", "shape": [1], "fortran_order": False,
                "offset": len(hdr), "nbytes": 8, "size": len(hdr) + 8}
        socket.send_fds(a, [json.dumps(desc).encode() + b"\n"], [fd])
        with pytest.raises(ValueError, match="not sealed"):
            npshm.recv(b)
    finally:
        os.close(fd)
        a.close()
        b.close()


def test_anonymous_cannot_be_attached_by_descriptor():
    s = npshm.share_anonymous(np.zeros(2))
    with pytest.raises(ValueError, match="recv"):
        npshm.attach(s.descriptor)
    s.close()


@pytest.mark.dir_only
def test_publish_on_full_filesystem(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tmp_path)]).returncode != 0:
        pytest.skip("cannot mount tmpfs")
    try:
        monkeypatch.setenv("NPSHM_DIR", str(tmp_path))
        with pytest.raises(OSError) as e:
            npshm.publish("big", np.zeros(1 << 20))
        assert e.value.errno == 28
        assert os.listdir(tmp_path) == []  # no temporary, no name
    finally:
        subprocess.run(["umount", str(tmp_path)])
