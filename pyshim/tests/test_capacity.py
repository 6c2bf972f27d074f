"""Oversized requests, a small or missing segment directory, reserved names.

A request that cannot fit fails at create, before anything is allocated,
with OSError(ENOSPC) naming the fix; the old code populated a tmpfs as large
as RAM until the OOM killer struck. Tests that mount a tmpfs need root.
"""
import errno
import os
import subprocess
import tempfile

import numpy as np
import pytest

import npshm
from conftest import run_python

SHM_FIXES = ("--shm-size", "emptyDir", "medium: Memory", "NPSHM_DIR")


@pytest.fixture
def private_dir(monkeypatch):
    """NPSHM_DIR pointed at a fresh directory on /dev/shm, checked empty at the end."""
    d = tempfile.mkdtemp(prefix=f"npshm_pytest_{os.getpid()}_", suffix=".d", dir="/dev/shm")
    monkeypatch.setenv("NPSHM_DIR", d)
    yield d
    left = os.listdir(d)
    for n in left:
        os.unlink(os.path.join(d, n))
    os.rmdir(d)
    assert not left, f"segments left in {d}: {left}"


def mount_tmpfs(monkeypatch, size: int) -> str:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tempfile.mkdtemp(prefix="npshm_pytest_tmpfs_")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    monkeypatch.setenv("NPSHM_DIR", d)
    return d


@pytest.fixture
def small_tmpfs(monkeypatch):
    d = mount_tmpfs(monkeypatch, 64 << 20)
    yield d
    left = os.listdir(d)
    subprocess.run(["umount", d], check=True)
    os.rmdir(d)
    assert not left, f"segments left in {d}: {left}"


def memory_total() -> int:
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("MemTotal", "SwapTotal"):
                total += int(v.split()[0]) << 10
    return total


@pytest.fixture
def huge_tmpfs(monkeypatch):
    """A tmpfs larger than the machine's memory and swap together."""
    total = memory_total()
    d = mount_tmpfs(monkeypatch, 2 * total + (64 << 20))
    yield d, total
    left = os.listdir(d)
    subprocess.run(["umount", d], check=True)
    os.rmdir(d)
    assert not left, f"segments left in {d}: {left}"


def huge(n):
    """An array of n float64s that takes no memory (every element is the same one)."""
    return np.broadcast_to(np.float64(1), (n,))


def creators(name):
    """Each way to make a segment, for an array of n float64s."""
    return {
        "create": lambda n: npshm.create(n, "f8", name=name),
        "share": lambda n: npshm.share(huge(n), name=name),
        "publish": lambda n: npshm.publish(name, huge(n)),
        "share_anonymous": lambda n: npshm.share_anonymous(shape=(n,), dtype="f8"),
        "share_anonymous(array)": lambda n: npshm.share_anonymous(huge(n)),
    }


def must_fail_no_space(make, n, *fixes):
    with pytest.raises(OSError) as e:
        s = make(n)
        s.close() if hasattr(s, "close") else None  # pragma: no cover (a failure)
    assert e.value.errno == errno.ENOSPC, e.value
    msg = str(e.value)
    assert "asked" in msg and "\n" not in msg, msg
    for fix in fixes:
        assert fix in msg, msg


def test_beyond_memory(private_dir, name):
    """8 TiB: more than /dev/shm and memory, refused at create, nothing left."""
    for what, make in creators(name).items():
        must_fail_no_space(make, 1 << 40)
    assert os.listdir(private_dir) == []


@pytest.mark.dir_only
def test_small_tmpfs(small_tmpfs, name):
    """On a 64 MiB tmpfs (a container's default /dev/shm) what fits is made;
    what does not fails at create naming --shm-size, emptyDir and NPSHM_DIR."""
    for what, make in creators(name).items():
        s = make(2 << 20)  # 16 MiB
        if isinstance(s, dict):
            npshm.get(name)  # published
            os.unlink(os.path.join(small_tmpfs, name))
        else:
            s.close()
            s.unlink()
        if what.startswith("share_anonymous"):
            continue  # a memfd is not in NPSHM_DIR
        must_fail_no_space(make, 10 << 20, *SHM_FIXES)  # 80 MiB
        assert os.listdir(small_tmpfs) == []
    with npshm.create(5 << 20, "f8", name=name):  # 40 MiB held: no room for 40 more
        must_fail_no_space(lambda n: npshm.create(n, "f8"), 5 << 20, *SHM_FIXES)


@pytest.mark.dir_only
def test_tmpfs_larger_than_memory(huge_tmpfs, name):
    """A tmpfs larger than memory: its free space does not stop a request
    larger than memory; the memory check does, before any page is touched."""
    d, total = huge_tmpfs
    for what, make in creators(name).items():
        must_fail_no_space(make, 2 * total // 8, "of memory", "--memory")
    assert os.listdir(d) == []


@pytest.mark.dir_only
@pytest.mark.parametrize("bad", [".npshm-tmp-999999-x", "/.npshm-tmp-1-y", ".npshm-tmp-"])
def test_reserved_temp_prefix(private_dir, bad):
    """npshm's temporaries are gc'd once the PID in their name is gone: no
    caller may create or publish under that prefix. Internal ones still work."""
    a = np.arange(3.0)
    for make in (lambda: npshm.create(3, "f8", name=bad), lambda: npshm.share(a, name=bad),
                 lambda: npshm.publish(bad, a)):
        with pytest.raises(ValueError, match="reserved for npshm's temporaries"):
            make()
    with npshm.share(a) as s:
        with pytest.raises(ValueError, match="reserved for npshm's temporaries"):
            s.publish(bad)
    assert os.listdir(private_dir) == []
    npshm.publish("ok", a)  # through a temporary
    assert npshm.get("ok").tolist() == [0.0, 1.0, 2.0]
    os.unlink(os.path.join(private_dir, "ok"))


@pytest.mark.dir_only
@pytest.mark.parametrize("slash", ["", "/"])
def test_missing_dir(monkeypatch, tmp_path, slash):
    """A mistyped NPSHM_DIR is said so, not read as 'no such segment' (a
    trailing slash changes nothing)."""
    d = str(tmp_path / "no-such-dir")
    monkeypatch.setenv("NPSHM_DIR", d + slash)
    want = f"segment directory {d} does not exist (set by NPSHM_DIR)"
    for call in (lambda: npshm.attach("x"), lambda: npshm.get("x"), lambda: npshm.create(3, "f8"),
                 lambda: npshm.share(np.zeros(3), name="x"), lambda: npshm.publish("x", np.zeros(3)),
                 npshm.names):
        with pytest.raises(FileNotFoundError) as e:
            call()
        assert want in str(e.value) and "no segment" not in str(e.value), e.value


@pytest.fixture
def memory_cgroup():
    """A fresh memory cgroup (v2 under the root, or v1) limited to 64 MiB."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup needs root")
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            v2 = "memory" in f.read().split()
    except OSError:
        v2 = False
    if v2:
        parent, limit_file = "/sys/fs/cgroup", "memory.max"
    elif os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        parent, limit_file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
    else:
        pytest.skip("no memory cgroup controller to make a child of")
    cg = f"{parent}/npshm_pytest_{os.getpid()}"
    try:
        os.mkdir(cg)
    except OSError as e:
        pytest.skip(f"cannot make a cgroup: {e}")
    try:
        with open(f"{cg}/{limit_file}", "w") as f:
            f.write(str(64 << 20))
        yield cg
    finally:
        os.rmdir(cg)


@pytest.mark.parametrize("how", ["create", "share_anonymous"])
def test_cgroup_limit(memory_cgroup, private_dir, how):
    """Under a 64 MiB container memory limit, 128 MiB fails at create naming
    the limit, though /dev/shm and the machine have room (populating it would
    have the cgroup's OOM killer kill the process); 8 MiB is made."""
    code = f"""
import os, sys, npshm
with open({memory_cgroup!r} + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
for n in (1 << 20, 16 << 20):
    try:
        s = npshm.{how}(shape=(n,), dtype="f8") if {how!r} == "share_anonymous" else npshm.create(n, "f8")
        s.close(); s.unlink()
        print("ok")
    except OSError as e:
        print(e)
"""
    out = run_python(code).stdout.splitlines()
    assert out[0] == "ok", out
    assert "the cgroup memory limit" in out[1] and "--memory" in out[1], out
