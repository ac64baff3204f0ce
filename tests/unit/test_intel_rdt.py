"""linux.intelRdt: refused with a clear line, whether resctrl is mounted or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyoci.errors import NotSupported, SetupError
from pyoci.ops.container import check_intel_rdt

CGROUP = "35 24 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
RESCTRL = "40 24 0:35 / /sys/fs/resctrl rw,relatime - resctrl resctrl rw\n"


def test_absent_is_fine_without_intel_rdt(tmp_path: Path) -> None:
    mi = tmp_path / "mountinfo"
    mi.write_text(CGROUP)
    check_intel_rdt({}, str(mi))
    check_intel_rdt({"linux": {}}, str(mi))


def test_without_resctrl_is_an_error(tmp_path: Path) -> None:
    mi = tmp_path / "mountinfo"
    mi.write_text(CGROUP)
    # config-linux.md: no mounted resctrl in the runtime mount namespace: an error
    with pytest.raises(SetupError, match=r"^linux.intelRdt: no resctrl filesystem is mounted"):
        check_intel_rdt({"linux": {"intelRdt": {"closID": "x"}}}, str(mi))


def test_with_resctrl_is_not_supported(tmp_path: Path) -> None:
    mi = tmp_path / "mountinfo"
    mi.write_text(CGROUP + RESCTRL)
    with pytest.raises(NotSupported, match=r"^linux.intelRdt .*not supported by pyoci"):
        check_intel_rdt({"linux": {"intelRdt": {}}}, str(mi))
