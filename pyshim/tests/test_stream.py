"""Streams from Python: npshm.stream_writer / stream_reader (docs/STREAMS.md).
Go's side, and Go <-> Python, are in stream/ and tests/stream_test.go."""
import os
import signal
import subprocess
import sys
import threading
import time

import npshm
import numpy as np
import pytest
from conftest import _tracked


def frame(seq, n=6):
    return np.arange(n, dtype=np.int64) + seq * 1000


READER = """
import sys, numpy as np, npshm
with npshm.stream_reader(sys.argv[1], timeout=60) as r:
    print("ready", flush=True)
    got = []
    try:
        for a in r:
            assert not a.flags.writeable
            assert np.array_equal(a, np.arange(a.shape[0]) + r.seq * 1000), (r.seq, a)
            got.append(r.seq)
    except npshm.StreamError:
        print("died", got[-1] if got else 0, flush=True)
        sys.exit(0)
    assert got == list(range(1, len(got) + 1)), got
    print("ok", len(got), r.dropped, flush=True)
"""


def spawn(code, *args):
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _tracked.add(p.pid)
    assert p.stdout.readline() == "ready\n", p.stderr.read()
    return p


def wait_readers(w, n):
    deadline = time.monotonic() + 30
    while w.readers < n:
        assert time.monotonic() < deadline, w.readers
        time.sleep(0.001)


def test_numpy_to_numpy_blocking(name):
    with npshm.stream_writer(name, (6,), np.int64, slots=3) as w:
        readers = [spawn(READER, name) for _ in range(2)]
        wait_readers(w, 2)
        for seq in range(1, 1001):
            if seq % 2:
                w.send(frame(seq))
            else:
                with w.slot() as f:
                    f[...] = frame(seq)
    for p in readers:
        out, err = p.communicate(timeout=60)
        assert out == "ok 1000 0\n", err
    assert not os.path.exists(os.path.join(npshm.shm_dir(), name))


def test_lossy_skips_and_counts(name):
    with npshm.stream_writer(name, (2, 3), "f4", slots=4, lossy=True) as w, npshm.stream_reader(name) as r:
        for k in range(1, 101):
            w.send(np.full((2, 3), k, "f4"))  # never waits
        it = iter(r)
        a = next(it)
        assert a[0, 0] == 100 and r.seq == 100 and r.dropped == 99 and r.valid()
        for k in range(101, 105):
            w.send(np.full((2, 3), k, "f4"))
        assert not r.valid()  # the held slot was rewritten
        assert next(it)[0, 0] == 104 and r.dropped == 102
        for k in range(105, 108):
            w.send(np.full((2, 3), k, "f4"))
        assert [int(next(it)[0, 0]) for _ in range(3)] == [105, 106, 107] and r.dropped == 102
        assert r.timestamp_ns > 0 and r.lossy and r.shape == (2, 3) and r.dtype == np.float32


def test_late_joiner_and_np_load(name):
    with npshm.stream_writer(name, (), np.float64, slots=4) as w:
        for k in range(1, 11):
            w.send(np.float64(k))
        with npshm.stream_reader(name, timeout=5) as r:
            it = iter(r)
            assert next(it)[()] == 10.0
            w.send(np.float64(11))
            assert next(it)[()] == 11.0
        # the segment is an .npy image of the ring: the last N frames
        ring = np.load(os.path.join(npshm.shm_dir(), name), mmap_mode="r")
        assert ring.shape == (4,) and ring.dtype.names == ("seq", "ts_ns", "frame")
        order = np.argsort(ring["seq"])
        assert list(ring["seq"][order]) == [8, 9, 10, 11] and list(ring["frame"][order]) == [8.0, 9.0, 10.0, 11.0]
        assert w.sent == 11 and w.slots == 4
        del ring, order


def test_timeout_and_errors(name, tmp_path):
    with npshm.stream_writer(name, (3,), np.uint8) as w:
        with npshm.stream_reader(name, timeout=0.05) as r:
            with pytest.raises(TimeoutError):
                next(iter(r))
        with pytest.raises(ValueError, match="shape"):
            w.send(np.zeros(4, np.uint8))
        with pytest.raises(TypeError):
            w.send(np.zeros(3, np.float64))  # not same_kind
    with pytest.raises(ValueError, match="closed"):
        w.send(np.zeros(3, np.uint8))
    w.close()
    with pytest.raises(FileNotFoundError):
        npshm.stream_reader(name)
    with pytest.raises(ValueError, match="2"):
        npshm.stream_writer(name, (3,), np.uint8, slots=1)
    with pytest.raises(ValueError):
        npshm.stream_writer(name, (3,), object)
    with pytest.raises(ValueError):
        npshm.stream_writer(name, (0,), np.uint8)
    with npshm.share(np.zeros(8), name=name) as s:
        with pytest.raises(npshm.StreamError, match="not a stream"):
            npshm.stream_reader(s.name)
    assert issubclass(npshm.StreamError, OSError)


def test_producer_killed(name):
    code = """
import sys, time, numpy as np, npshm
w = npshm.stream_writer(sys.argv[1], (6,), np.int64, slots=4)
for s in (1, 2, 3):
    w.send(np.arange(6) + s * 1000)
print("ready", flush=True)
time.sleep(120)
"""
    prod = spawn(code, name)
    reader = spawn(READER, name)
    with npshm.stream_reader(name) as r:
        it = iter(r)
        assert next(it)[0] == 3000
        prod.send_signal(signal.SIGKILL)
        prod.wait()
        with pytest.raises(npshm.StreamError, match="died"):
            next(it)
    out, err = reader.communicate(timeout=60)
    assert out == "died 3\n", err
    os.unlink(os.path.join(npshm.shm_dir(), name))


def test_reader_killed_releases_producer(name):
    code = """
import sys, time, npshm
r = npshm.stream_reader(sys.argv[1])
print("ready", flush=True)
time.sleep(120)
"""
    with npshm.stream_writer(name, (1,), np.int64, slots=2) as w:
        p = spawn(code, name)
        wait_readers(w, 1)
        w.send([1])
        w.send([2])
        done = threading.Event()
        t = threading.Thread(target=lambda: (w.send([3]), done.set()))
        t.start()
        assert not done.wait(0.3)  # the ring is full and the reader does not read
        p.send_signal(signal.SIGKILL)
        p.wait()
        t.join(30)
        assert done.is_set() and w.readers == 0
