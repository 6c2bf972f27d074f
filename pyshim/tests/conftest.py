"""Shared fixtures; the session fails if any test left a segment behind."""
import os
import subprocess
import sys

import pytest

import npshm

_before = set()
# Processes whose segments belong to this run (pytest itself and the children
# run_python starts). Other test runs may share /dev/shm: a segment counts as
# ours only by its name prefix or its creator record, and nothing else is
# reported or touched.
_tracked = {os.getpid()}
PREFIX = f"npshm_pytest_{os.getpid()}_"


def creator_pid(name):
    if name.startswith(".npshm-tmp-"):
        return int(name.split("-")[2])
    try:
        return int(os.getxattr(os.path.join(npshm.shm_dir(), name), "user.npshm.creator").split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def ours():
    """The segments in the segment directory that belong to this test run."""
    d = npshm.shm_dir()
    if not os.path.isdir(d):
        return set()
    return {n for n in os.listdir(d) if n.startswith(PREFIX) or creator_pid(n) in _tracked}


def _listing():
    return ours()


def pytest_sessionstart(session):
    _before.update(_listing())


def pytest_sessionfinish(session, exitstatus):
    leaked = sorted(_listing() - _before)
    if leaked:
        print(f"\nFAIL: tests left {len(leaked)} segment(s) in {npshm.shm_dir()}: {' '.join(leaked)}", file=sys.stderr)
        for n in leaked:
            try:
                os.unlink(os.path.join(npshm.shm_dir(), n))
            except FileNotFoundError:
                pass
        session.exitstatus = 1


_counter = [0]


@pytest.fixture
def name():
    """A unique segment name, unlinked after the test if still there."""
    _counter[0] += 1
    n = f"{PREFIX}{_counter[0]}"
    yield n
    try:
        os.unlink(os.path.join(npshm.shm_dir(), n))
    except FileNotFoundError:
        pass


def run_python(code, *args, check=True):
    """Run code in a fresh interpreter (same venv); return CompletedProcess."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _tracked.add(proc.pid)
    out, err = proc.communicate(timeout=120)
    p = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check and p.returncode != 0:
        raise AssertionError(f"child failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def pytest_configure(config):
    config.addinivalue_line("markers", "dir_only: checks what only the dir backend has (NPSHM_DIR, lifecycle records, "
                            "rename, listing, memfd seals); skipped with NPSHM_BACKEND=shm_open, as on macOS")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("NPSHM_BACKEND") == "shm_open":
        skip = pytest.mark.skip(reason="needs the dir backend; NPSHM_BACKEND=shm_open has no such feature, as on macOS")
        for item in items:
            # a private_dir fixture points NPSHM_DIR elsewhere, which shm_open ignores
            if "dir_only" in item.keywords or "private_dir" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)
