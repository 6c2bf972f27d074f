"""The header reader against numpy, and descriptors: every bad input is a
SegmentError/DescriptorError (ValueError) or an OSError, never another type."""
import json
import os
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

import npshm
from npshm._format import MAGIC, parse_header

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _hdr(text: str, version: int = 1) -> bytes:
    body = text.encode("latin1" if version < 3 else "utf8") + b"\n"
    fmt = "<H" if version == 1 else "<I"
    pad = -(8 + struct.calcsize(fmt) + len(body)) % 64
    return MAGIC + bytes([version, 0]) + struct.pack(fmt, len(body) + pad) + body[:-1] + b" " * pad + b"\n"


def _numpy_reads(hdr: bytes):
    import io

    import warnings

    fp = io.BytesIO(hdr)
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about Python 2 headers
        return read(fp)


@pytest.mark.parametrize("shape", ["(3)", "(03,)", "(\u0663,)", "(3l,)", "[3]", "(-1,)", "(True,)"])
def test_shapes_numpy_and_go_refuse(shape):
    """Item 13: the fast path took (3), (03,) and Unicode digits."""
    hdr = _hdr("{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % shape, 3 if not shape.isascii() else 1)
    with pytest.raises(npshm.SegmentError):
        parse_header(hdr, 1 << 40, "x")


def test_python2_long_read_as_numpy_reads_it():
    hdr = _hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4 L), }")
    assert parse_header(hdr, 1 << 40, "x").shape == (3, 4) == _numpy_reads(hdr)[0]
    with pytest.raises(npshm.SegmentError):  # numpy strips 'L' only in versions 1.0 and 2.0
        parse_header(_hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }", 3), 1 << 40, "x")


@pytest.mark.parametrize("descr,want", [("d", "<f8"), ("<g", "<f16"), ("b", "|i1"), ("b1", "|b1"), ("c", "|S1")])
def test_type_codes_as_numpy(descr, want):
    hdr = _hdr("{'descr': %r, 'fortran_order': False, 'shape': (2,), }" % descr)
    assert parse_header(hdr, 1 << 40, "x").dtype.str == want == _numpy_reads(hdr)[2].str


def test_differential_corpus_against_numpy():
    """The checked-in corpus's verdicts still hold, then a short seeded run
    of random mutations (NPSHM_FUZZ_ITERS for a longer one)."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "pyshim", "src"))
    script = os.path.join(ROOT, "npy", "testdata", "gen_header_corpus.py")
    for args in (["--check"], ["--fuzz", os.environ.get("NPSHM_FUZZ_ITERS", "2000"), "--seed", "5"]):
        r = subprocess.run([sys.executable, "-W", "ignore", script, *args], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_bad_magic_is_not_echoed(name):
    """Item 17: the first bytes of a non-npy file (a symlink to a secret,
    say) never appear in the error."""
    with open(os.path.join(npshm.shm_dir(), name), "wb") as f:
        f.write(b"root:SECRETHASH:19000:0:99999:7:::\n")
    with pytest.raises(npshm.SegmentError) as e:
        npshm.attach(name)
    assert "no numpy magic" in str(e.value) and "SECRET" not in str(e.value) and "root" not in str(e.value)


def test_huge_v2_length_refused_before_reading(name):
    """Item 7: a sparse file whose v2 length field says ~4 GiB is refused at
    once; nothing past the cap is read, so no hole becomes a real page."""
    path = os.path.join(npshm.shm_dir(), name)
    with open(path, "wb") as f:
        f.write(MAGIC + b"\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{'descr': '<f8', ")
        f.truncate(64 << 20)
    blocks = os.stat(path).st_blocks
    with pytest.raises(npshm.SegmentError, match="exceeds the limit"):
        npshm.attach(name)
    assert os.stat(path).st_blocks == blocks


# Descriptors: item 15. Each is attached by dict and by JSON line, and
# received over a socket; all must raise DescriptorError.
def _bad_descriptors(good: dict):
    cases = {
        "null": None,
        "list": [1, 2],
        "string": "x",
        "no name": {k: v for k, v in good.items() if k != "name"},
        "name int": dict(good, name=5),
        "name bad": dict(good, name="a/b"),
        "no dtype": {k: v for k, v in good.items() if k != "dtype"},
        "dtype list of str": dict(good, dtype=["x"]),
        "dtype nested str": dict(good, dtype=[["a"]]),
        "dtype object": dict(good, dtype={"a": 1}),
        "dtype int": dict(good, dtype=8),
        "dtype null": dict(good, dtype=None),
        "dtype bad str": dict(good, dtype="<q7"),
        "dtype float64": dict(good, dtype="float64"),
        "dtype O": dict(good, dtype="|O"),
        "dtype field name int": dict(good, dtype=[[1, "<f8"]]),
        "dtype field shape str": dict(good, dtype=[["a", "<f8", "x"]]),
        "dtype deep": dict(good, dtype=json.loads("[" * 50 + "]" * 50)),
        "shape missing": {k: v for k, v in good.items() if k != "shape"},
        "shape int": dict(good, shape=5),
        "shape str": dict(good, shape="5"),
        "shape bools": dict(good, shape=[True]),
        "shape negative": dict(good, shape=[-5]),
        "shape float": dict(good, shape=[5.0]),
        "shape huge": dict(good, shape=[2**70]),
        "fortran int": dict(good, fortran_order=0),
        "fortran str": dict(good, fortran_order="no"),
        "offset negative": dict(good, offset=-64),
        "offset huge": dict(good, offset=2**64),
        "offset bool": dict(good, offset=True),
        "offset str": dict(good, offset="64"),
        "nbytes float": dict(good, nbytes=40.0),
        "size list": dict(good, size=[1]),
        "path int": dict(good, path=3),
        "anonymous str": dict(good, anonymous="yes"),
        "anonymous": dict(good, anonymous=True),
        "stale shape": dict(good, shape=[6]),
        "stale offset": dict(good, offset=good["offset"] + 64),
        "stale order": dict(good, fortran_order=True),
    }
    return cases


def test_bad_descriptors_attach():
    with npshm.share(np.arange(5.0)) as s:
        for case, d in _bad_descriptors(s.descriptor).items():
            for target in ([d] if not isinstance(d, dict) else [d, json.dumps(d)]):
                if not isinstance(target, (dict, str)) or (isinstance(target, str) and not target.startswith("{")):
                    continue  # attach takes a name, a dict or a JSON object line
                with pytest.raises(npshm.DescriptorError) as e:
                    npshm.attach(target)
                assert isinstance(e.value, npshm.SegmentError) and isinstance(e.value, ValueError), case


@pytest.mark.parametrize("line", [b"null\n", b"[1,2]\n", b'"x"\n', b"{\n", b"\xff\n", b"[" * 100000 + b"\n"])
def test_bad_json_lines_recv(line):
    _recv_must_refuse(line)


def test_bad_descriptors_recv():
    with npshm.share(np.arange(5.0)) as s:
        for case, d in _bad_descriptors(s.descriptor).items():
            if case in ("name bad", "anonymous"):
                continue  # recv maps what it is given: the name is a label only
            _recv_must_refuse(json.dumps(d).encode() + b"\n", s.path, case)


def _recv_must_refuse(line: bytes, path: str = "", case: str = ""):
    a, b = socket.socketpair()
    fd = os.open(path or "/dev/null", os.O_RDONLY)
    try:
        socket.send_fds(a, [line], [fd])
        with pytest.raises(npshm.DescriptorError):
            npshm.recv(b)
    finally:
        os.close(fd)
        a.close()
        b.close()


def test_mismatch_names_the_field():
    """Item 18: an offset or order mismatch names that field, both values."""
    with npshm.share(np.arange(5.0)) as s:
        d = s.descriptor
        with pytest.raises(npshm.DescriptorError, match=r"descriptor says offset 192, segment holds offset 128"):
            npshm.attach(dict(d, offset=192))
        with pytest.raises(npshm.DescriptorError, match=r"descriptor says fortran_order True, segment holds fortran_order False"):
            npshm.attach(dict(d, fortran_order=True))
        with pytest.raises(npshm.DescriptorError, match=r"descriptor says nbytes 8, segment holds nbytes 40"):
            npshm.attach(dict(d, nbytes=8))
        with pytest.raises(npshm.DescriptorError, match=r"dtype <i8, segment holds dtype <f8; descriptor says shape \[6\]"):
            npshm.attach(dict(d, dtype="<i8", shape=[6]))


def test_descriptor_error_is_exported():
    assert "DescriptorError" in npshm.__all__
    assert issubclass(npshm.DescriptorError, npshm.SegmentError) and issubclass(npshm.DescriptorError, ValueError)
