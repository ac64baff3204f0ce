"""Helpers for the cgroup tests: fake cgroup trees and a cgroup-device eBPF interpreter."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import NoReturn

V1_CONTROLLERS = (
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
)


# the v1 hierarchies of a hybrid host like ours (cgroup2 holds hugetlb only)
HYBRID_V1 = (
    "cpu,cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "name=systemd",
)


class FakeHost:
    """A ``proc_root`` and ``cgroup_root`` pair under ``tmp_path``.

    ``v1`` lists the v1 hierarchies (each a comma-joined controller list, or
    ``name=systemd``); ``unified`` is None (no cgroup2), ``"root"`` (cgroup2 on
    ``cgroup_root``: pure v2) or a subdirectory name (hybrid).
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        v1: tuple[str, ...] = (),
        unified: str | None = None,
        v2_controllers: str = "cpuset cpu io memory hugetlb pids rdma misc",
        own: dict[str, str] | None = None,
    ) -> None:
        self.proc = tmp_path / "proc"
        self.root = tmp_path / "cgroup"
        (self.proc / "self").mkdir(parents=True)
        self.root.mkdir()
        lines = [f"30 1 0:27 / {tmp_path} rw - tmpfs tmpfs rw"]
        if unified != "root":
            lines.append(f"31 23 0:28 / {self.root} rw,nosuid - tmpfs tmpfs rw,mode=755")
        own = own or {}
        cg_lines = []
        for i, hier in enumerate(v1):
            point = self.root / hier.replace("name=", "")
            point.mkdir()
            (point / "cgroup.procs").write_text("")
            lines.append(f"{40 + i} 31 0:{40 + i} / {point} rw,relatime - cgroup cgroup rw,{hier}")
            cg_lines.append(f"{i + 1}:{hier}:{own.get(hier, '/')}")
        if unified is not None:
            point = self.root if unified == "root" else self.root / unified
            point.mkdir(exist_ok=True)
            (point / "cgroup.controllers").write_text(v2_controllers + "\n")
            (point / "cgroup.subtree_control").write_text("")
            (point / "cgroup.procs").write_text("")
            lines.append(f"60 31 0:60 / {point} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate")
            cg_lines.append(f"0::{own.get('', '/')}")
        (self.proc / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
        (self.proc / "self" / "cgroup").write_text("\n".join(cg_lines) + "\n")
        header = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
        (self.proc / "cgroups").write_text(
            header + "".join(f"{c}\t0\t1\t1\n" for c in V1_CONTROLLERS)
        )

    @property
    def cgroup_root(self) -> str:
        return str(self.root)

    @property
    def proc_root(self) -> str:
        return str(self.proc)


def read(path: str | os.PathLike[str]) -> str:
    return Path(path).read_text()


# ---------------------------------------------------------------- eBPF

INSN = struct.Struct("<BBhi")


def decode(program: bytes) -> list[tuple[int, int, int, int, int]]:
    """bytes -> [(opcode, dst, src, off, imm)]."""
    assert len(program) % 8 == 0
    out = []
    for i in range(0, len(program), 8):
        op, regs, off, imm = INSN.unpack_from(program, i)
        out.append((op, regs & 0xF, regs >> 4, off, imm))
    return out


ACCESS = {"m": 1, "r": 2, "w": 4}
TYPES = {"b": 1, "c": 2}


def run_device_program(program: bytes, typ: str, major: int, minor: int, access: str) -> int:
    """Interpret a BPF_PROG_TYPE_CGROUP_DEVICE program the way the kernel would
    for one access; checks what the verifier checks for this subset (forward
    jumps in range, reads of ctx only, exit reached)."""
    insns = decode(program)
    acc = 0
    for c in access:
        acc |= ACCESS[c]
    ctx = struct.pack("<III", TYPES[typ] | (acc << 16), major, minor)
    mask32 = 0xFFFFFFFF
    mask64 = (1 << 64) - 1
    regs = [0] * 11
    pc = 0
    steps = 0
    while True:
        assert 0 <= pc < len(insns), f"pc {pc} out of the program"
        steps += 1
        assert steps <= len(insns), "a device program never loops"
        op, dst, src, off, imm = insns[pc]
        pc += 1
        if op == 0x61:  # ldxw dst, [src+off]
            assert src == 1 and off in (0, 4, 8)
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:  # and32 dst, imm
            regs[dst] = regs[dst] & imm & mask32
        elif op == 0x74:  # rsh32 dst, imm
            regs[dst] = (regs[dst] & mask32) >> imm
        elif op == 0xB4:  # mov32 dst, imm
            regs[dst] = imm & mask32
        elif op == 0xBC:  # mov32 dst, src
            regs[dst] = regs[src] & mask32
        elif op in (0x55, 0x5D):  # jne dst, imm|src, +off
            other = (imm & mask64) if op == 0x55 else regs[src]
            assert off >= 0, "backward jump"
            if regs[dst] != other:
                pc += off
        elif op == 0x15:  # jeq dst, imm, +off
            assert off >= 0, "backward jump"
            if regs[dst] == imm & mask64:
                pc += off
        elif op == 0x95:  # exit
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x} at {pc - 1}")


# runc's failures that name a host feature runc needs and this host lacks: the only
# reason a differential test against runc may skip.  Any other runc failure fails
# the test (runc is the reference: a bundle it refuses is a broken test, or a
# broken host).  Add a (pattern, feature) pair when a host shows a new one; the skip
# reason must also be allowed in conformance/skips.py.
RUNC_MISSING_FEATURES: tuple[tuple[str, str], ...] = (
    (r"memory\.memsw\.limit_in_bytes: no such file|memory\.swap\.max: no such file"
     r"|swap accounting|cannot set memory swap limit", "no swap accounting"),
    (r"cpu\.cfs_(quota|period)_us: no such file|cpu\.max: no such file",
     "no CPU bandwidth control (CONFIG_CFS_BANDWIDTH)"),
    (r"pids\.max: no such file", "no pids controller"),
)


def runc_failed(what: str, output: str) -> NoReturn:
    """A differential test's runc ``what`` failed with ``output``: skip when it names a
    missing host feature (RUNC_MISSING_FEATURES), else fail the test."""
    import re

    import pytest

    for pattern, feature in RUNC_MISSING_FEATURES:
        if re.search(pattern, output, re.IGNORECASE):
            pytest.skip(f"runc cannot {what} here: {feature}")
    pytest.fail(f"runc {what} failed (not a known missing host feature): {output.strip()[-500:]}")
