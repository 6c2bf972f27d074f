"""NPSHM_BACKEND: the dir and shm_open backends (the latter as on macOS)."""
import io
import os
import socket
import sys

import numpy as np
import pytest

import npshm
from npshm._segment import segment_path, unlink_path


@pytest.fixture
def shm_open(monkeypatch):
    if sys.platform != "darwin" and not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    monkeypatch.setenv("NPSHM_BACKEND", "shm_open")


def test_unknown_backend_names_the_variable(monkeypatch):
    monkeypatch.setenv("NPSHM_BACKEND", "posix")
    with pytest.raises(ValueError, match=r"NPSHM_BACKEND='posix'.*'dir' or 'shm_open'"):
        npshm.share(np.arange(3))


def test_shm_open_names_are_31_bytes_with_the_slash(shm_open):
    with pytest.raises(ValueError, match="longer than 30 bytes"):
        npshm.create(3, "f8", name="x" * 31)


def test_shm_open_share_attach_unlink(shm_open, name):
    with npshm.share(np.arange(6.0).reshape(2, 3), name=name) as s:
        assert s.path == segment_path(name)
        if sys.platform != "darwin":
            assert s.path == f"/dev/shm/{name}" and not os.listxattr(s.path)  # no records
        a = npshm.attach(name)
        assert a.sum() == 15.0 and a.shape == (2, 3)
    with pytest.raises(FileNotFoundError):
        npshm.attach(name)


def test_shm_open_publish_in_place(shm_open, name):
    npshm.publish(name, np.arange(3))
    assert list(npshm.get(name)) == [0, 1, 2]
    npshm.publish(name, np.arange(4))  # republish: replaces it
    assert list(npshm.get(name)) == [0, 1, 2, 3]
    with pytest.raises(FileExistsError):
        npshm.publish(name, np.arange(4), exclusive=True)
    unlink_path(segment_path(name))


def test_shm_open_half_published_is_refused(shm_open, name):
    """A publish fills the array before writing its header's first byte: a
    reader meanwhile is refused, never handed a partial array."""
    with npshm.create(3, "f8", name=name) as s:
        s._mm[0] = 0  # as a publish does until it is filled
        with pytest.raises(npshm.SegmentError):
            npshm.attach(name)


def test_shm_open_cannot_rename_or_list(shm_open, name):
    with npshm.share(np.arange(3), name=name) as s:
        s.publish(name)  # under its own name: nothing to do
        with pytest.raises(io.UnsupportedOperation, match="cannot rename"):
            s.publish(name + "b")
    with pytest.raises(io.UnsupportedOperation, match="cannot list"):
        npshm.names()


def test_shm_open_anonymous_handoff(shm_open):
    a, b = socket.socketpair()
    with a, b:
        s = npshm.share_anonymous(np.arange(5))
        assert s.anonymous
        npshm.send(a, s)
        s.close()
        assert list(npshm.recv(b)) == [0, 1, 2, 3, 4]
