"""Shared fixtures; the session fails if any test left a segment behind."""
import os
import subprocess
import sys

import pytest

import npshm

_before = set()


def _listing():
    d = npshm.shm_dir()
    return {n for n in os.listdir(d) if n.startswith(("psm_", "npshm"))} if os.path.isdir(d) else set()


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
    n = f"npshm_pytest_{os.getpid()}_{_counter[0]}"
    yield n
    try:
        os.unlink(os.path.join(npshm.shm_dir(), n))
    except FileNotFoundError:
        pass


def run_python(code, *args, check=True):
    """Run code in a fresh interpreter (same venv); return CompletedProcess."""
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"child failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p
