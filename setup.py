"""Only here for cffi: the native layer is compiled out-of-line at build time."""

from setuptools import setup

setup(
    cffi_modules=[
        "pyoci/native/_build.py:ffibuilder",
        "pyoci/native/_seccomp_build.py:ffibuilder",
    ]
)
