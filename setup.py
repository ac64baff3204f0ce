"""Only here for cffi (the native layer is compiled out-of-line at build time)
and to stamp the git commit into the package for ``pyoci --version``."""

import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_commit(build_py):
    def run(self) -> None:
        super().run()
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
                cwd=os.path.dirname(os.path.abspath(__file__)),
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
        target = os.path.join(self.build_lib, "pyoci", "_commit.txt")
        with open(target, "w") as f:
            f.write(commit + "\n")


setup(
    cffi_modules=[
        "pyoci/native/_build.py:ffibuilder",
        "pyoci/native/_seccomp_build.py:ffibuilder",
    ],
    cmdclass={"build_py": build_py_with_commit},
)
