"""npshm.loadtxt against np.loadtxt, on a representative subset of the
loader's comparison table (tests/loadtxt_test.go): equal values (byte for
byte), the same dtype and shape. The Go loader runs as the npshm binary
(scripts/setup builds it into the package)."""
import gzip
import os
import shutil
import subprocess
import tempfile
import warnings

import numpy as np
import pytest

import npshm
from npshm._loadtxt import find_binary
from npshm._reduce import mapping_of

try:
    find_binary()
    HAVE_BIN = True
except FileNotFoundError:
    HAVE_BIN = False

needs_bin = pytest.mark.skipif(not HAVE_BIN, reason="the npshm binary is not built (scripts/setup builds it)")

SEED = [("chr", "S10"), ("pos", "<i4"), ("pct", "<f4"), ("c", "<i4"), ("t", "<i4")]


def genomic(n, seed=1):
    r = np.random.default_rng(seed)
    chrs = ["chr1", "chr2", "chrX", "chrY", "chrM", "chr22_KI270731v1_random"]
    return "".join(f"{chrs[r.integers(6)]} {r.integers(1 << 28)} {r.random():.4f} {r.integers(99)} {r.integers(-5, 5)}\n"
                   for _ in range(n))


def floats(n, seed=2):
    r = np.random.default_rng(seed)
    forms = ["inf", "-inf", "nan", "-nan", "NaN", "Infinity", "1e400", "-1e-400", "0", "-0.0"]
    out = []
    for i in range(n):
        k = r.integers(4)
        out.append(forms[r.integers(10)] if k == 0 else repr(float(r.normal() * 10.0 ** r.integers(-30, 30))) if k == 1
                   else f"{r.random() * 1000:.3f}" if k == 2 else str(int(r.integers(-10**6, 10**6))))
    return "\n".join(out) + "\n"


CASES = [
    ("seed rows, comments, blank lines, CRLF, no final newline",
     "# chr pos pct c t\n" + genomic(50) + "\n   \nchr3 5 0.5 1 2 # trailing comment\r\nchr4 6 1e-3 3 4", dict(dtype=SEED)),
    ("comma delimiter, CRLF", "1,2.5,ab\r\n-3,4e2,cdefg\r\n+5,.5,\r\n7, 8 ,x y\r\n",
     dict(dtype=[("a", "i4"), ("b", "f8"), ("c", "S3")], delimiter=",")),
    ("ints at their limits", "-128 -32768 -2147483648 -9223372036854775808 0 0 0 0\n"
     "127 32767 2147483647 9223372036854775807 255 65535 4294967295 18446744073709551615\n +7  -0 007 +1 1 2 3 4\n",
     dict(dtype=[(k, t) for k, t in zip("abcdefgh", ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"])])),
    ("bools", "0\n1\n2\n-1\n 0 \n", dict(dtype="?")),
    ("float64, every form", floats(3000), dict(dtype=float)),
    ("float32 rounding through double", floats(3000) + "0.1\n16777217\n3.4028235677973366e38\n1e-46\n", dict(dtype="f4")),
    ("bytes and unicode, truncated", "héllo wörld 名前\nab cd ef\nabcdefghijkl x y\n",
     dict(dtype=[("a", "S4"), ("b", "U3"), ("c", "U1")], encoding="utf-8")),
    ("usecols, negative and reordered", "1 2 3 4\n5 6 7 8\n", dict(usecols=[-1, 0])),
    ("usecols, one int", "1 2 3 4\n5 6 7 8\n", dict(usecols=2)),
    ("usecols with a record", genomic(20), dict(dtype=[("pos", "i4"), ("chr", "S10")], usecols=[1, 0])),
    ("skip header (comments count), // comments", "header line\n// c\n1 2 // x\n3 4\n",
     dict(dtype="i4", skiprows=1, comments="//")),
    ("comments=None", "1 2\n3 4\n", dict(comments=None)),
    ("one record squeezes to 0-d", "chr1 1 0.5 2 3\n", dict(dtype=SEED)),
    ("one row, plain: 1-d", "1 2 3\n", dict(dtype="i8")),
    ("one column, plain: 1-d", "1\n2\n3\n", dict(dtype="i8")),
    ("1x1 squeezes to 0-d", "42\n", dict()),
    ("ndmin 2", "1\n2\n3\n", dict(ndmin=2)),
    ("ndmin 1 on 1x1", "42\n", dict(ndmin=1)),
    ("CR-only line endings", "1 2\r3 4\r", dict()),
    ("unpack, plain", "1 2 3\n4 5 6\n", dict(unpack=True)),
    ("unpack, record", "a 1\nb 2\n", dict(dtype=[("s", "S1"), ("n", "i4")], unpack=True)),
    ("large file in parallel chunks", genomic(200_000), dict(dtype=SEED)),
    # not the loader's: np.loadtxt reads them, the result is copied into shared memory
    ("fallback: converters", "1 2\n3 4\n", dict(converters={0: lambda s: float(s) * 10})),
    ("fallback: max_rows", "1 2\n3 4\n5 6\n", dict(max_rows=2)),
    ("fallback: complex", "1 2\n3 4\n", dict(dtype=complex)),
]


def same(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@needs_bin
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loadtxt_equals_numpy(case, tmp_path):
    _, text, kw = case
    f = tmp_path / "in.txt"
    f.write_bytes(text.encode("utf-8"))
    want = np.loadtxt(str(f), **kw)
    got = npshm.loadtxt(str(f), **kw)
    same(want, got)
    arrays = got if isinstance(got, list) else [got]
    for a in arrays:
        if a.size:
            assert mapping_of(a) is not None, "the result must live in shared memory"
            assert a.flags.writeable


@needs_bin
def test_gzip_list_of_paths_and_pathlib(tmp_path):
    parts = [genomic(30, seed=i) for i in range(3)]
    paths = []
    for i, text in enumerate(parts):
        p = tmp_path / f"p{i}.txt.gz"
        with gzip.open(p, "wt") as g:
            g.write(text)
        paths.append(p)
    got = npshm.loadtxt(paths, dtype=SEED)
    same([np.loadtxt(p, dtype=SEED) for p in paths], got)
    same(np.loadtxt(paths[0], dtype=SEED), npshm.loadtxt(paths[0], dtype=SEED))


@needs_bin
def test_empty_file_as_numpy(tmp_path):
    f = tmp_path / "e.txt"
    f.write_text("# only a comment\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.loadtxt(f)
    same(want, npshm.loadtxt(f))


@pytest.fixture
def private_dir(monkeypatch):
    d = tempfile.mkdtemp(prefix=f"npshm_pytest_{os.getpid()}_", suffix=".d", dir="/dev/shm")
    monkeypatch.setenv("NPSHM_DIR", d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@needs_bin
def test_result_owns_its_memory(tmp_path, private_dir):
    f = tmp_path / "x.txt"
    np.savetxt(f, np.arange(20.0).reshape(10, 2))
    a = npshm.loadtxt(f)
    assert os.listdir(private_dir) == [], "nothing to unlink: the loader removed the names"
    assert a.sum() == 190.0
    a[0, 0] = 5  # writable, as np.loadtxt's result is
    with pytest.raises(npshm.LoadError):
        npshm.loadtxt(_write(tmp_path, "1 2\n3 x\n"))
    assert os.listdir(private_dir) == [], "a failed load leaves nothing"


def _write(d, text, name="bad.txt"):
    p = d / name
    p.write_text(text)
    return p


@needs_bin
def test_errors_name_file_and_line(tmp_path):
    bad = _write(tmp_path, "1 2\n3 4\n5 x\n")
    with pytest.raises(npshm.LoadError) as e:
        npshm.loadtxt(bad)
    assert isinstance(e.value, ValueError)
    assert e.value.path == str(bad) and e.value.line == 3
    assert str(e.value).startswith(f"{bad}:3:") and '"x"' in str(e.value)
    ragged = _write(tmp_path, "1 2\n3\n", "ragged.txt")
    with pytest.raises(npshm.LoadError, match=r"ragged.txt:2: .*changed from 2 to 1"):
        npshm.loadtxt(ragged)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        npshm.loadtxt(tmp_path / "missing.txt")


def test_missing_binary_says_what_to_install(tmp_path, monkeypatch):
    f = _write(tmp_path, "1 2\n", "ok.txt")
    monkeypatch.setenv("NPSHM_BIN", str(f))  # not an executable
    with pytest.raises(FileNotFoundError, match="NPSHM_BIN"):
        npshm.loadtxt(f)
    monkeypatch.delenv("NPSHM_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(npshm._loadtxt, "packaged_binary", lambda: str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="Go toolchain"):
        npshm.loadtxt(f)
    # what np.loadtxt does by itself still works without the binary
    same(np.loadtxt(f, max_rows=1), npshm.loadtxt(f, max_rows=1))


@needs_bin
def test_console_script_runs_the_binary():
    npshm_script = shutil.which("npshm")
    binary = find_binary()
    p = subprocess.run([binary, "help"], capture_output=True, text=True)
    assert p.returncode == 0 and "npshm" in p.stdout
    if npshm_script is not None:
        q = subprocess.run([npshm_script, "help"], capture_output=True, text=True)
        assert q.stdout == p.stdout
