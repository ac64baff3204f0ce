"""Device rules: normalisation, the v1 emulator and transitions, the v2 eBPF program."""

from __future__ import annotations

import struct

import pytest
from cgroup_helpers import decode, run_device_program

from pyoci.cgroups import devices as D
from pyoci.errors import CgroupError

DENY_ALL = {"allow": False, "access": "rwm"}


def allowed(program: bytes, typ: str, major: int, minor: int, access: str) -> bool:
    return run_device_program(program, typ, major, minor, access) == 1


# ---------------------------------------------------------------- normalisation


def test_spec_rules_defaults_mean_all() -> None:
    assert D.spec_rules([DENY_ALL]) == [(False, "a", -1, -1, "rwm")]
    assert D.spec_rules(
        [{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "wr"}]
    ) == [(True, "c", 10, 229, "rw")]
    assert D.spec_rules([{"allow": True, "type": "b", "major": 8}]) == [(True, "b", 8, -1, "rwm")]
    assert D.spec_rules(None) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"access": "rwm"},
        {"allow": "yes"},
        {"allow": True, "type": "x"},
        {"allow": True, "access": "rwx"},
        {"allow": True, "major": -2},
        {"allow": True, "minor": "1"},
        "c 1:3 rwm",
    ],
)
def test_spec_rules_invalid(rule: object) -> None:
    with pytest.raises(CgroupError, match=r"devices\[0\]"):
        D.spec_rules([rule])  # type: ignore[list-item]


def test_container_rules_append_defaults() -> None:
    rules = D.container_rules([DENY_ALL])
    assert rules[0] == (False, "a", -1, -1, "rwm")
    assert rules[1:] == D.DEFAULT_RULES
    names = {D.rule_string(r) for r in D.DEFAULT_RULES}
    for dev in (
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
    ):
        assert dev in names


def test_rule_string() -> None:
    assert D.rule_string((True, "a", -1, -1, "rwm")) == "a *:* rwm"
    assert D.rule_string((False, "c", 136, -1, "rw")) == "c 136:* rw"


# ---------------------------------------------------------------- emulator


def test_later_rules_win() -> None:
    emu = D.Emulator.build(
        D.spec_rules(
            [
                DENY_ALL,
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},
            ]
        )
    )
    assert not emu.default_allow
    assert emu.rules == {("c", 1, 3): "rm"}


def test_allow_all_then_deny() -> None:
    emu = D.Emulator.build(
        D.spec_rules(
            [
                {"allow": True, "access": "rwm"},
                {"allow": False, "type": "b", "major": 8, "minor": 0},
            ]
        )
    )
    assert emu.default_allow
    assert emu.rules == {("b", 8, 0): "rwm"}


def test_cannot_punch_hole_in_wildcard() -> None:
    rules = D.spec_rules(
        [
            DENY_ALL,
            {"allow": True, "type": "c", "major": 136, "access": "rwm"},
            {"allow": False, "type": "c", "major": 136, "minor": 2, "access": "r"},
        ]
    )
    with pytest.raises(CgroupError, match="wildcard"):
        D.Emulator.build(rules)


def test_from_list() -> None:
    emu = D.Emulator.from_list("a *:* rwm\n")
    assert emu.is_allow_all()
    emu = D.Emulator.from_list("c 1:3 rwm\nc 136:* rw\nb *:* m\n")
    assert not emu.default_allow
    assert emu.rules == {("c", 1, 3): "rwm", ("c", 136, -1): "rw", ("b", -1, -1): "m"}
    with pytest.raises(CgroupError, match="malformed"):
        D.Emulator.from_list("c 1:3\n")


# ---------------------------------------------------------------- v1 transitions


def test_v1_from_fresh_cgroup() -> None:
    # A new v1 cgroup inherits allow-all: deny everything first, then allow.
    writes = D.v1_writes("a *:* rwm\n", D.container_rules([DENY_ALL]))
    assert writes[0] == ("devices.deny", "a *:* rwm")
    allows = [v for f, v in writes[1:] if f == "devices.allow"]
    assert len(allows) == len(writes) - 1
    assert "c 1:3 rwm" in allows and "c 136:* rwm" in allows and "c *:* m" in allows
    # the defaults in their order (nothing configured but deny-all)
    assert allows[:2] == ["c *:* m", "b *:* m"]


def test_v1_configured_rules_first_in_their_order() -> None:
    """devices.list shows the configured allows first, in config order, then the
    defaults (as runc's and crun's rule lists; runtime-tools' linux_cgroups_devices
    reads it so).  Exceptions of the v1 controller are a set: the order changes
    nothing the container may open."""
    config = [DENY_ALL,
              {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
              {"allow": True, "type": "b", "major": 8, "minor": 20, "access": "rw"},
              {"allow": True, "type": "b", "major": 10, "minor": 200, "access": "r"}]
    writes = D.v1_writes("a *:* rwm\n", D.container_rules(config))
    assert writes[0] == ("devices.deny", "a *:* rwm")
    assert [v for _f, v in writes[1:4]] == ["c 10:229 rwm", "b 8:20 rw", "b 10:200 r"]
    defaults = [v for _f, v in writes[4:]]
    assert defaults == [D.rule_string(r) for r in D.DEFAULT_RULES]
    # the same state as any other order
    assert D.Emulator.build(D.container_rules(config)).rules == D.Emulator.build(
        list(reversed(D.container_rules(config)[1:]))).rules


def test_v1_transition_is_minimal() -> None:
    current = "c 1:3 rwm\nc 1:5 rwm\nc 10:229 rw\n"
    rules = D.spec_rules(
        [
            DENY_ALL,
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
            {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"},
        ]
    )
    assert D.v1_writes(current, rules) == [
        ("devices.deny", "c 1:5 wm"),
        ("devices.deny", "c 10:229 rw"),
        ("devices.allow", "b 8:0 r"),
    ]


def test_v1_no_change_no_writes() -> None:
    current = "c 1:3 rwm\n"
    rules = D.spec_rules([DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3}])
    assert D.v1_writes(current, rules) == []


def test_v1_to_allow_all() -> None:
    assert D.v1_writes("c 1:3 rwm\n", D.spec_rules([{"allow": True}])) == [
        ("devices.allow", "a *:* rwm")
    ]


# ---------------------------------------------------------------- eBPF


def test_program_shape() -> None:
    insns = D.bpf_instructions(
        D.spec_rules(
            [DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
        )
    )
    # prologue: type, access, major, minor into R2..R5
    assert insns[:6] == [
        (D.BPF_LDX_MEM_W, 2, 1, 0, 0),
        (D.BPF_ALU32_AND_K, 2, 0, 0, 0xFFFF),
        (D.BPF_LDX_MEM_W, 3, 1, 0, 0),
        (D.BPF_ALU32_RSH_K, 3, 0, 0, 16),
        (D.BPF_LDX_MEM_W, 4, 1, 4, 0),
        (D.BPF_LDX_MEM_W, 5, 1, 8, 0),
    ]
    block = insns[6:-2]
    assert block == [
        (D.BPF_JNE_K, 2, 0, 7, D.BPF_DEVCG_DEV_CHAR),  # not a char device: skip 7
        (D.BPF_ALU32_MOV_X, 1, 3, 0, 0),
        (D.BPF_ALU32_AND_K, 1, 0, 0, D.BPF_DEVCG_ACC_READ | D.BPF_DEVCG_ACC_WRITE),
        (D.BPF_JNE_X, 1, 3, 4, 0),
        (D.BPF_JNE_K, 4, 0, 3, 1),
        (D.BPF_JNE_K, 5, 0, 2, 3),
        (D.BPF_ALU32_MOV_K, 0, 0, 0, 1),
        (D.BPF_EXIT, 0, 0, 0, 0),
    ]
    assert insns[-2:] == [(D.BPF_ALU32_MOV_K, 0, 0, 0, 0), (D.BPF_EXIT, 0, 0, 0, 0)]


def test_encode_decode_round_trip() -> None:
    insns = D.bpf_instructions(D.container_rules([DENY_ALL]))
    program = D.encode(insns)
    assert len(program) == 8 * len(insns)
    assert decode(program) == insns
    # struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm} on a
    # little-endian host: dst in the low nibble, src in the high one
    assert insns[2] == (D.BPF_LDX_MEM_W, 3, 1, 0, 0)
    assert program[8 * 2 + 1] == (1 << 4) | 3
    assert program[1] == (1 << 4) | 2
    assert program == b"".join(struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
                               for code, dst, src, off, imm in insns)


def test_default_container_program() -> None:
    prog = D.bpf_program(D.container_rules([DENY_ALL]))
    for name, (typ, ma, mi) in {
        "null": ("c", 1, 3),
        "zero": ("c", 1, 5),
        "full": ("c", 1, 7),
        "random": ("c", 1, 8),
        "urandom": ("c", 1, 9),
        "tty": ("c", 5, 0),
        "console": ("c", 5, 1),
        "ptmx": ("c", 5, 2),
        "pts/0": ("c", 136, 0),
        "pts/7": ("c", 136, 7),
    }.items():
        for access in ("r", "w", "rw", "m", "rwm"):
            assert allowed(prog, typ, ma, mi, access), (name, access)
    # everything else is denied, except mknod (runc's defaults allow "m" for all)
    for typ, ma, mi in (("b", 8, 0), ("c", 10, 229), ("c", 1, 1), ("c", 4, 0), ("c", 137, 0)):
        assert not allowed(prog, typ, ma, mi, "r")
        assert not allowed(prog, typ, ma, mi, "rw")
        assert allowed(prog, typ, ma, mi, "m")


def test_program_explicit_rules_and_order() -> None:
    rules = D.spec_rules(
        [
            DENY_ALL,
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"},
            {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "w"},
        ]
    )
    prog = D.bpf_program(rules)
    assert allowed(prog, "c", 10, 229, "r")
    assert not allowed(prog, "c", 10, 229, "w")  # the later deny wins
    assert not allowed(prog, "c", 10, 229, "rw")
    assert not allowed(prog, "c", 10, 229, "m")
    assert allowed(prog, "b", 8, 0, "r")
    assert not allowed(prog, "b", 8, 0, "w")
    assert not allowed(prog, "c", 8, 0, "r")  # type matters
    assert not allowed(prog, "b", 8, 1, "r")


def test_program_allow_all_with_denials() -> None:
    rules = D.spec_rules(
        [{"allow": True, "access": "rwm"}, {"allow": False, "type": "b", "major": 8, "access": "w"}]
    )
    prog = D.bpf_program(rules)
    assert allowed(prog, "c", 4, 1, "rwm")
    assert allowed(prog, "b", 8, 3, "r")
    assert not allowed(prog, "b", 8, 3, "w")
    assert not allowed(prog, "b", 8, 3, "rw")
    assert allowed(prog, "b", 9, 3, "w")


def test_program_wildcards() -> None:
    rules = D.spec_rules([DENY_ALL, {"allow": True, "type": "c", "minor": 7, "access": "r"}])
    prog = D.bpf_program(rules)
    assert allowed(prog, "c", 1, 7, "r")
    assert allowed(prog, "c", 200, 7, "r")
    assert not allowed(prog, "c", 200, 8, "r")
    assert not allowed(prog, "b", 200, 7, "r")


def test_program_allow_everything_is_tiny() -> None:
    insns = D.bpf_instructions(D.spec_rules([{"allow": True}]))
    assert insns[-2:] == [(D.BPF_ALU32_MOV_K, 0, 0, 0, 1), (D.BPF_EXIT, 0, 0, 0, 0)]
    assert len(insns) == 8  # prologue + verdict


@pytest.mark.parametrize(
    "spec",
    [
        [
            DENY_ALL,
            {"allow": True, "type": "b", "major": 7, "access": "rw"},
            {"allow": False, "type": "b", "major": 7, "access": "w"},
            {"allow": True, "type": "c", "major": 4, "minor": 1, "access": "w"},
        ],
        [
            {"allow": True, "access": "rwm"},
            {"allow": False, "type": "b", "major": 7, "access": "w"},
            {"allow": False, "type": "c", "major": 4, "minor": 1, "access": "rm"},
            {"allow": False, "type": "c", "minor": 9, "access": "rwm"},
        ],
    ],
)
def test_program_matches_emulator_exhaustively(spec: list[dict]) -> None:
    rules = D.spec_rules(spec)
    emu = D.Emulator.build(rules)
    prog = D.bpf_program(rules)

    def emulated(typ: str, ma: int, mi: int, access: str) -> bool:
        # the v1 kernel: in deny-by-default one allow exception must cover the
        # whole access; in allow-by-default any overlap with a deny exception denies
        for (t, rma, rmi), perms in emu.rules.items():
            if t != typ or rma not in (-1, ma) or rmi not in (-1, mi):
                continue
            if emu.default_allow and set(access) & set(perms):
                return False
            if not emu.default_allow and set(access) <= set(perms):
                return True
        return emu.default_allow

    for typ in "bc":
        for ma in (1, 4, 5, 7, 136):
            for mi in (0, 1, 3, 9):
                for access in ("r", "w", "m", "rw", "rm", "wm", "rwm"):
                    assert allowed(prog, typ, ma, mi, access) == emulated(typ, ma, mi, access), (
                        typ,
                        ma,
                        mi,
                        access,
                    )
