import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import npshm
from npshm._format import encode_header, parse_header

from conftest import run_python

SEED_DTYPE = np.dtype([("chr", "S10"), ("pos", "<i4"), ("pct", "<f4"), ("c", "<i4"), ("t", "<i4")])
GOLDENS = os.path.join(os.path.dirname(__file__), "..", "..", "npy", "testdata", "golden_headers.json")


def npsave_bytes(arr):
    b = io.BytesIO()
    np.save(b, arr)
    return b.getvalue()


def sample_arrays():
    rng = np.random.default_rng(7)
    seed = np.zeros(5, SEED_DTYPE)
    seed["chr"] = [b"chr1", b"chr2", b"chrX", b"chrM", b"chr22"]
    seed["pos"] = rng.integers(0, 10**9, 5)
    seed["pct"] = rng.random(5, dtype=np.float32)
    return {
        "f8 2-d": rng.random((30, 7)),
        "f4 fortran": np.asfortranarray(rng.random((6, 5), dtype=np.float32)),
        "i8 0-d": np.array(-42, dtype=np.int64),
        "u1 empty": np.zeros((0, 3), np.uint8),
        ">i4 big-endian": np.arange(10, dtype=">i4"),
        "bool": rng.random(9) > 0.5,
        "c16": rng.random(4) + 1j * rng.random(4),
        "U5": np.array(["a", "bcde", "éü"], dtype="U5"),
        "M8[ns]": np.array(["2024-01-01T00:00:00.5", "1970-01-01"], dtype="M8[ns]"),
        "seed record": seed,
        "non-contiguous": rng.random((8, 8))[::2, ::3],
    }


@pytest.mark.parametrize("case", list(sample_arrays()))
def test_share_attach_roundtrip(case):
    arr = sample_arrays()[case]
    with npshm.share(arr) as s:
        got = npshm.attach(s.name)
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)
        assert not got.flags.writeable
        # the segment is byte for byte what np.save writes
        with open(os.path.join(npshm.shm_dir(), s.name), "rb") as f:
            assert f.read() == npsave_bytes(arr)
        if case == "f4 fortran":
            assert got.flags.f_contiguous and not got.flags.c_contiguous
        if case == "non-contiguous":
            assert got.flags.c_contiguous
        # numpy's own loader maps it in place
        mm = np.load(os.path.join(npshm.shm_dir(), s.name), mmap_mode="r")
        np.testing.assert_array_equal(mm, arr)
        del mm


def test_golden_headers_encode_like_numpy():
    """Our Python writer reproduces every numpy-made golden header."""
    with open(GOLDENS) as f:
        cases = json.load(f)["cases"]
    for c in cases:
        raw = bytes.fromhex(c["header_hex"])
        h = parse_header(raw, len(raw) + 10**30, c["case"], max_header_size=1 << 20)
        assert encode_header(h.dtype, h.fortran_order, h.shape) == raw, c["case"]
        assert h.offset == len(raw) and list(h.shape) == c["shape"]


def test_create_fill_in_place_and_live_writes(name):
    with npshm.create((4, 3), "<f8", name=name) as s:
        assert s.name == name and s.array.sum() == 0
        w = npshm.attach(name, writable=True)
        r = npshm.attach(name)
        w[1, 2] = 7.5
        s.array[0, 0] = -1
        assert r[1, 2] == 7.5 and r[0, 0] == -1 and w[0, 0] == -1
    assert not os.path.exists(os.path.join(npshm.shm_dir(), name))
    assert r[1, 2] == 7.5  # views outlive unlink and close


def test_create_fortran(name):
    with npshm.create((2, 3), np.int16, order="F", name=name) as s:
        assert s.array.flags.f_contiguous and s.descriptor["fortran_order"] is True


def test_read_only_attach_rejects_writes():
    with npshm.share(np.arange(5.0)) as s:
        a = npshm.attach(s.name)
        with pytest.raises(ValueError):
            a[0] = 1


def test_descriptor_dict_and_json():
    arr = sample_arrays()["seed record"]
    with npshm.share(arr) as s:
        d = s.descriptor
        assert d["dtype"] == [["chr", "|S10"], ["pos", "<i4"], ["pct", "<f4"], ["c", "<i4"], ["t", "<i4"]]
        assert d["offset"] % 64 == 0 and d["nbytes"] == arr.nbytes and d["size"] == d["offset"] + arr.nbytes
        np.testing.assert_array_equal(npshm.attach(d), arr)
        np.testing.assert_array_equal(npshm.attach(json.dumps(d)), arr)
        stale = dict(d, shape=[6])
        with pytest.raises(ValueError, match="descriptor says"):
            npshm.attach(stale)
        with pytest.raises(ValueError):
            npshm.attach("{not json")


def test_missing_and_invalid_names():
    with pytest.raises(FileNotFoundError, match="no segment"):
        npshm.attach("npshm_no_such_segment")
    for bad in ["", "/", "../etc/passwd", "a/b", "a..b", "x\0y", "n" * 256]:
        with pytest.raises(ValueError):
            npshm.attach(bad)
        with pytest.raises(ValueError):
            npshm.create(3, "f8", name=bad)
    assert not os.path.exists("/dev/etc")


def test_existing_name(name):
    with npshm.create(3, "f8", name=name):
        with pytest.raises(FileExistsError):
            npshm.create(3, "f8", name=name)


def test_object_arrays_refused():
    with pytest.raises(ValueError, match="object"):
        npshm.share(np.array([{}, None], dtype=object))


def _hdr(text):
    body = text.encode()
    pad = 64 - (10 + len(body) + 1) % 64
    return b"\x93NUMPY\x01\x00" + (len(body) + 1 + pad).to_bytes(2, "little") + body + b" " * pad + b"\n"


BAD_SEGMENTS = {
    "garbage": b"this is not a numpy array at all",
    "truncated header": _hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }")[:40],
    "truncated data": _hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }") + b"\0" * 8,
    "huge shape": _hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }".replace("10**12", str(10**12))),
    "negative shape": _hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }"),
    "bad descr": _hdr("{'descr': '<q7', 'fortran_order': False, 'shape': (1,), }") + b"\0" * 8,
    "object": _hdr("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }") + b"\0" * 8,
    "code": _hdr("__import__('os').system('touch /tmp/npshm_pwned')"),
    "missing key": _hdr("{'descr': '<f8', 'shape': (1,), }") + b"\0" * 8,
    "version 9": b"\x93NUMPY\x09\x00" + _hdr("{}")[8:],
    "bad utf8 v3": b"\x93NUMPY\x03\x00\x36\x00\x00\x00" + b"{'\xff': 1}" + b" " * 44 + b"\n",
}


@pytest.mark.parametrize("case", list(BAD_SEGMENTS))
def test_bad_segments_are_clean_errors(case, name):
    with open(os.path.join(npshm.shm_dir(), name), "wb") as f:
        f.write(BAD_SEGMENTS[case])
    with pytest.raises(npshm.SegmentError) as e:
        npshm.attach(name)
    assert name in str(e.value)
    assert isinstance(e.value, ValueError)
    assert not os.path.exists("/tmp/npshm_pwned")


def test_empty_segment_is_an_error(name):
    open(os.path.join(npshm.shm_dir(), name), "wb").close()
    with pytest.raises(npshm.SegmentError, match="empty"):
        npshm.attach(name)


def test_no_use_after_close():
    s = npshm.share(np.arange(1000.0))
    a = npshm.attach(s.name)
    v = s.array[10:20]
    s.close()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.array
    assert v.sum() == sum(range(10, 20)) and a[999] == 999.0  # still mapped, no segfault
    s.unlink()
    with pytest.raises(FileNotFoundError):
        s.unlink()


CHILD = """
import sys, npshm
a = npshm.attach(sys.argv[1])
print(a.sum())
"""


def test_child_attach_leaves_segment_and_quiet_stderr():
    with npshm.share(np.arange(100.0)) as s:
        for _ in range(2):
            p = run_python(CHILD, s.name)
            assert p.stdout.strip() == "4950.0"
            assert p.stderr == ""
        assert os.path.exists(os.path.join(npshm.shm_dir(), s.name))


MP_CHILD = """
import multiprocessing as mp, sys, numpy as np, npshm

def work(shared):
    return float(shared.array.sum())

def attach_only(name):
    return float(npshm.attach(name).sum())

if __name__ == "__main__":
    mp.set_start_method(sys.argv[1])
    with npshm.share(np.arange(10.0)) as s:
        with mp.Pool(2) as pool:
            print(pool.map(work, [s, s]), pool.map(attach_only, [s.name]))
        import os
        print(os.path.exists(s.path))
"""


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_pickles_by_name(method, tmp_path):
    script = tmp_path / "mp_child.py"
    script.write_text(MP_CHILD)
    p = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["[45.0, 45.0] [45.0]", "True"]
    assert "leaked" not in p.stderr and "resource_tracker" not in p.stderr, p.stderr


def test_stdlib_sharedmemory_reads_our_segment():
    arr = np.arange(24, dtype="<i4").reshape(4, 6)
    with npshm.share(arr) as s:
        code = """
import sys, numpy as np
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1])
import io
f = io.BytesIO(bytes(shm.buf[:256]))
version = np.lib.format.read_magic(f)
shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
a = np.ndarray(shape, dtype, buffer=shm.buf, offset=f.tell())
print(int(a.sum()), shape)
del a
shm.close()
"""
        p = run_python(code, s.name)
        assert p.stdout.strip() == f"{arr.sum()} (4, 6)"


@pytest.mark.dir_only
def test_full_filesystem_is_enospc(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tmp_path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {r.stderr!r}")
    try:
        monkeypatch.setenv("NPSHM_DIR", str(tmp_path))
        for n in (1 << 20, 4 << 20):  # 8 MiB (fallocate path), 32 MiB (parallel populate path)
            with pytest.raises(OSError) as e:
                npshm.create((n,), "f8")
            assert e.value.errno == 28  # ENOSPC
            assert os.listdir(tmp_path) == []
        with npshm.create((1000,), "f8") as s:
            s.array[:] = 1
    finally:
        subprocess.run(["umount", str(tmp_path)])
