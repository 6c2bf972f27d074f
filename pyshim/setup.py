"""Build hook: `pip install ./pyshim` also builds the npshm Go binary into
the package (npshm/bin/npshm) when a Go toolchain is on PATH and the Go
module sits beside pyshim (a checkout of the repository). Without Go, or
from an sdist, the package is pure Python and npshm.loadtxt says what to
install. Everything else is in pyproject.toml."""
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.dirname(HERE)  # the Go module: go.mod, cmd/npshm


def _go():
    if os.environ.get("NPSHM_NO_GO"):
        return None
    go = shutil.which("go")
    if go and os.path.exists(os.path.join(MODULE, "go.mod")) and os.path.isdir(os.path.join(MODULE, "cmd", "npshm")):
        return go
    return None


class build_py_with_go(build_py):
    def run(self):
        super().run()
        go = _go()
        if go is None:
            print("npshm: no Go toolchain (or no Go source): npshm.loadtxt will need the npshm binary", file=sys.stderr)
            return
        if getattr(self, "editable_mode", False):
            out = os.path.join(HERE, "src", "npshm", "bin", "npshm")
        else:
            out = os.path.abspath(os.path.join(self.build_lib, "npshm", "bin", "npshm"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([go, "build", "-trimpath", "-o", out, "./cmd/npshm"], cwd=MODULE, check=True)


class BinaryDistribution(Distribution):
    """A wheel carrying the Go binary is platform-specific."""

    def has_ext_modules(self):
        return _go() is not None


setup(cmdclass={"build_py": build_py_with_go}, distclass=BinaryDistribution)
