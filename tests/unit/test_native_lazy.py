"""pyoci.native serves its wrappers on first use, and pyoci.native.lean makes
run's one prctl without cffi (peak RSS of the runtime process)."""

from __future__ import annotations

import errno

import pytest
from helpers import modules_loaded_by

from pyoci import native
from pyoci.native import _syscalls
from pyoci.native._lean import prctl


def test_the_package_serves_exactly_the_wrappers() -> None:
    assert set(_syscalls.__all__) == native._WRAPPERS
    for name in _syscalls.__all__:
        assert getattr(native, name) is getattr(_syscalls, name)
    with pytest.raises(AttributeError):
        native.no_such_call  # type: ignore[attr-defined]  # noqa: B018


def test_lean_prctl_raises_oserror_with_the_call() -> None:
    with pytest.raises(OSError) as info:
        prctl(-1)
    assert info.value.errno == errno.EINVAL
    assert info.value.filename == "prctl(-1)"
    assert prctl(3) in (0, 1, 2)  # PR_GET_DUMPABLE


def test_consts_and_lean_do_not_load_cffi() -> None:
    loaded = modules_loaded_by(
        "from pyoci.native import consts\n"
        "from pyoci.native.lean import set_child_subreaper\n"
        "set_child_subreaper()\n"
        "import pyoci.native\n"
    )
    assert "pyoci.native._lean" in loaded
    assert not loaded & {"_cffi_backend", "pyoci.native._lib", "pyoci.native._syscalls"}
