"""Only here for cffi and pyoci.native._lean (the native layer is compiled at
build time), to stamp the git commit into the package for ``pyoci --version``, and to compile
schema/ into ``pyoci/spec/_schema_compiled.py`` (pyoci/spec/schemac.py)."""

import importlib.util
import os
import subprocess

from setuptools import Extension, setup
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
        self.compile_schema()
        self.build_waiter()

    def build_waiter(self) -> None:
        """pyoci-waiter: the tiny static program a created container waits in.

        Optional: without it (no gcc, an unsupported CPU) the init waits as a
        Python process, which holds more memory.
        """
        here = os.path.dirname(os.path.abspath(__file__))
        src = os.path.join(here, "pyoci", "native", "waiter.c")
        target = os.path.join(self.build_lib, "pyoci", "native", "pyoci-waiter")
        cc = os.environ.get("CC", "gcc")
        cmd = [
            cc, "-static", "-nostdlib", "-nostartfiles", "-Os", "-fno-stack-protector",
            "-fno-builtin", "-fno-asynchronous-unwind-tables", "-fno-pie", "-no-pie",
            "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-Wl,--build-id=none", "-s",
            "-o", target, src,
        ]  # fmt: skip
        try:
            subprocess.run(cmd, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            err = getattr(exc, "stderr", b"") or b""
            print(f"warning: pyoci-waiter not built ({exc}): {err.decode(errors='replace')}")

    def compile_schema(self) -> None:
        """schema/*.json -> pyoci/spec/_schema_compiled.py in the build (fails loudly)."""
        here = os.path.dirname(os.path.abspath(__file__))
        # loaded by path: it is standalone, and setup.py does not import the pyoci package
        spec = importlib.util.spec_from_file_location(
            "pyoci_schemac", os.path.join(here, "pyoci", "spec", "schemac.py")
        )
        assert spec is not None and spec.loader is not None
        schemac = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(schemac)
        target = os.path.join(self.build_lib, "pyoci", "spec", "_schema_compiled.py")
        schemac.write_module(os.path.join(here, "schema"), target)


setup(
    # the few raw calls the runtime process itself makes, without cffi (peak RSS)
    ext_modules=[
        Extension("pyoci.native._lean", ["pyoci/native/_lean.c"], py_limited_api=True),
    ],
    cffi_modules=[
        "pyoci/native/_build.py:ffibuilder",
        "pyoci/native/_seccomp_build.py:ffibuilder",
    ],
    cmdclass={"build_py": build_py_with_commit},
)
