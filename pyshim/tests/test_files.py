"""The small API gaps: unlink(name), read-only hand-off, .npy files on disk
(attach(path), create/share(path=)), exclusive publish, and the small
/dev/shm check on the new entry points."""
import errno
import os
import pathlib

import numpy as np
import pytest

import npshm
from test_capacity import SHM_FIXES, mount_tmpfs


def rss() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    return 0


def test_unlink_by_name(name):
    s = npshm.share(np.arange(5.0), name=name)
    view = npshm.attach(name)
    npshm.unlink(name)
    assert not os.path.exists(os.path.join(npshm.shm_dir(), name))
    assert view.sum() == 10.0 and s.array.sum() == 10.0  # attached views keep the memory
    with pytest.raises(FileNotFoundError, match=name):
        npshm.unlink(name)
    with pytest.raises(ValueError):
        npshm.unlink("../etc/passwd")
    s.close()


def test_readonly_view(name):
    with npshm.share(np.arange(4.0), name=name) as s:
        ro = s.readonly
        assert not ro.flags.writeable and np.shares_memory(ro, s.array)
        with pytest.raises(ValueError, match="read-only"):
            ro[0] = 1
        s.array[0] = 7
        assert ro[0] == 7


def test_npy_file_on_disk(tmp_path):
    p = tmp_path / "big.npy"
    size = 64 << 20
    before = rss()
    with npshm.create((size // 8,), "f8", path=p) as s:
        assert rss() - before < size // 4, "a file on disk must not be pre-faulted"
        assert s.path == str(p) and s.name == "big.npy"
        s.array[::4096] = 1.0
    assert p.exists(), "leaving the with-block does not remove the caller's file"
    loaded = np.load(p, mmap_mode="r")
    assert loaded.shape == (size // 8,) and loaded.sum() == size // 8 // 4096
    for target in (str(p), p, "./" + os.path.relpath(p)):
        a = npshm.attach(target)
        assert a.sum() == loaded.sum() and not a.flags.writeable
    w = npshm.attach(p, writable=True)
    w[1] = 5.0
    del w
    assert np.load(p)[1] == 5.0
    with pytest.raises(FileExistsError):
        npshm.create(3, "f8", path=p)


def test_share_to_path_matches_np_save(tmp_path):
    arr = np.asfortranarray(np.arange(12, dtype="<i4").reshape(3, 4))
    p = tmp_path / "x.npy"
    with npshm.share(arr, path=p):
        pass
    np.save(tmp_path / "ref.npy", arr)
    assert p.read_bytes() == (tmp_path / "ref.npy").read_bytes()
    with pytest.raises(TypeError):
        npshm.share(arr, name="n", path=tmp_path / "y.npy")


def test_attach_path_refuses_what_is_not_npy(tmp_path):
    p = tmp_path / "text.npy"
    p.write_text("not numpy")
    with pytest.raises(npshm.SegmentError):
        npshm.attach(p)
    with pytest.raises(FileNotFoundError):
        npshm.attach(tmp_path / "missing.npy")
    for bad in ["a/b", "../etc/passwd"]:  # names, not paths: no .npy suffix
        with pytest.raises(ValueError):
            npshm.attach(bad)


class Explodes:
    """An array-like that fails if anyone tries to copy it."""

    def __array__(self, *args, **kwargs):
        raise RuntimeError("copied")


def test_exclusive_publish_fails_before_copying(name):
    npshm.publish(name, np.arange(3))
    before = set(os.listdir(npshm.shm_dir()))
    with pytest.raises(FileExistsError, match=repr(name)) as e:
        npshm.publish(name, Explodes(), exclusive=True)
    assert ".npshm-tmp-" not in str(e.value)
    assert not {n for n in set(os.listdir(npshm.shm_dir())) - before if n.startswith(".npshm-tmp-")}
    if os.environ.get("NPSHM_BACKEND") != "shm_open":  # which cannot rename: Shared.publish is refused there
        with npshm.share(np.arange(2)) as s:
            with pytest.raises(FileExistsError, match=repr(name)) as e:
                s.publish(name, exclusive=True)
            assert ".npshm-tmp-" not in str(e.value) and s.name not in str(e.value)
    assert npshm.get(name).tolist() == [0, 1, 2]


@pytest.mark.dir_only  # a tmpfs as NPSHM_DIR
def test_small_filesystem_fails_at_create_for_files_and_loadtxt(monkeypatch, tmp_path):
    d = mount_tmpfs(monkeypatch, 1 << 20)
    try:
        with pytest.raises(OSError) as e:
            npshm.create((1 << 20,), "f8", path=pathlib.Path(d) / "x.npy")
        assert e.value.errno == errno.ENOSPC
        assert not os.listdir(d)
        from npshm._loadtxt import find_binary

        try:
            find_binary()
        except FileNotFoundError:
            return
        f = tmp_path / "many.txt"
        np.savetxt(f, np.arange(300_000.0))  # 2.3 MiB of float64, the tmpfs holds 1 MiB
        with pytest.raises(OSError) as e:
            npshm.loadtxt(f)
        assert e.value.errno == errno.ENOSPC and any(fix in str(e.value) for fix in SHM_FIXES), str(e.value)
        assert not os.listdir(d)
    finally:
        import subprocess

        subprocess.run(["umount", d], check=True)
        os.rmdir(d)


@pytest.mark.dir_only  # NPSHM_DIR
def test_segment_dir_on_disk_is_not_prefaulted(tmp_path, monkeypatch):
    from npshm._segment import _MEMORY_FS, _fs_type

    if _fs_type(str(tmp_path)) in _MEMORY_FS:
        pytest.skip(f"{tmp_path} is memory-backed here")
    monkeypatch.setenv("NPSHM_DIR", str(tmp_path))
    size = 64 << 20
    before = rss()
    with npshm.create((size // 8,), "f8") as s:
        assert rss() - before < size // 4, "NPSHM_DIR on disk must not pre-fault the segment"
        s.array[-1] = 1
    assert os.listdir(tmp_path) == []
