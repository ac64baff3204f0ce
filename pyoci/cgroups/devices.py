"""Device access rules: normalisation, a cgroup-v1 emulator, v1 writes, v2 eBPF program.

Pure (no file system, no syscalls): ``ebpf.py`` loads what ``bpf_program``
returns.  The design is runc's (opencontainers/cgroups ``devices``):

* The spec's ``linux.resources.devices`` rules, followed by the default
  allowed devices (``DEFAULT_RULES``), are replayed in order through an
  emulator of the v1 devices controller, starting from deny-all.  Later rules
  win, exactly as the kernel applies successive writes to
  ``devices.allow``/``devices.deny``.
* v1: ``v1_writes`` computes the minimal transition from the cgroup's current
  ``devices.list`` to the target, so updating a running container never opens
  a window where every device is denied.
* v2: ``bpf_program`` compiles the emulator's final state into a
  ``BPF_PROG_TYPE_CGROUP_DEVICE`` program: one block per rule, each returning
  the rule's verdict when type, access, major and minor match, then the
  default verdict.  Access matching follows the v1 kernel: an allow rule must
  cover the whole access, a deny rule matches any overlap (runc's program
  uses "cover" for both, so it lets "rw" through a deny of "w").
"""

from __future__ import annotations

from pyoci.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    # (allow, type 'a'|'b'|'c', major or -1, minor or -1, access subset of "rwm")
    Rule = tuple[bool, str, int, int, str]
    Meta = tuple[str, int, int]

WILDCARD = -1

# runc's libcontainer/specconv AllowedDevices, plus /dev/console (5:1).
DEFAULT_RULES: list[Rule] = [
    (True, "c", WILDCARD, WILDCARD, "m"),
    (True, "b", WILDCARD, WILDCARD, "m"),
    (True, "c", 1, 3, "rwm"),  # /dev/null
    (True, "c", 1, 8, "rwm"),  # /dev/random
    (True, "c", 1, 7, "rwm"),  # /dev/full
    (True, "c", 5, 0, "rwm"),  # /dev/tty
    (True, "c", 1, 5, "rwm"),  # /dev/zero
    (True, "c", 1, 9, "rwm"),  # /dev/urandom
    (True, "c", 5, 1, "rwm"),  # /dev/console
    (True, "c", 136, WILDCARD, "rwm"),  # /dev/pts/*
    (True, "c", 5, 2, "rwm"),  # /dev/ptmx
    (True, "c", 10, 200, "rwm"),  # /dev/net/tun (runc keeps it for compatibility)
]


def _perms(access: str) -> str:
    """Canonical "rwm" order, no duplicates."""
    return "".join(c for c in "rwm" if c in access)


def _union(a: str, b: str) -> str:
    return _perms(a + b)


def _minus(a: str, b: str) -> str:
    return "".join(c for c in a if c not in b)


def rule_string(rule: Rule) -> str:
    """The v1 file syntax: ``c 1:3 rwm``, ``a *:* rwm``."""
    _, typ, major, minor, access = rule
    ma = "*" if major == WILDCARD else str(major)
    mi = "*" if minor == WILDCARD else str(minor)
    return f"{typ} {ma}:{mi} {access}"


def spec_rules(devices: Iterable[Mapping[str, Any]] | None) -> list[Rule]:
    """Normalise ``linux.resources.devices``; unset type/major/minor/access mean all."""
    rules: list[Rule] = []
    for i, dev in enumerate(devices or ()):
        where = f"linux.resources.devices[{i}]"
        if not isinstance(dev, dict):
            raise CgroupError(f"{where} must be an object")
        allow = dev.get("allow")
        if not isinstance(allow, bool):
            raise CgroupError(f"{where}.allow is required and must be a boolean")
        typ = dev.get("type") or "a"
        if typ not in ("a", "b", "c"):
            raise CgroupError(f"{where}.type must be a, b or c, not {typ!r}")
        nums = []
        for key in ("major", "minor"):
            val = dev.get(key)
            if val is None:
                val = WILDCARD
            elif isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= 0xFFFFFFFF:
                raise CgroupError(f"{where}.{key} must be a number between 0 and 4294967295")
            nums.append(val)
        access = dev.get("access") or "rwm"
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            raise CgroupError(f"{where}.access must be a combination of r, w and m")
        rules.append((allow, typ, nums[0], nums[1], _perms(access)))
    return rules


def container_rules(devices: Iterable[Mapping[str, Any]] | None) -> list[Rule]:
    """What a container gets: the spec's rules, then the defaults (as runc)."""
    return spec_rules(devices) + DEFAULT_RULES


class Emulator:
    """The v1 devices controller's state: a default verdict plus exceptions."""

    __slots__ = ("default_allow", "rules")

    def __init__(self, default_allow: bool = False) -> None:
        self.default_allow = default_allow
        self.rules: dict[Meta, str] = {}

    @classmethod
    def build(cls, rules: Iterable[Rule]) -> Emulator:
        emu = cls()
        for rule in rules:
            emu.apply(rule)
        return emu

    @classmethod
    def from_list(cls, text: str) -> Emulator:
        """Rebuild from ``devices.list``.  An ``a *:* rwm`` line means allow-all
        (whose deny exceptions the kernel does not list)."""
        emu = cls()
        for line in text.splitlines():
            fields = line.replace(":", " ").split()
            if not fields:
                continue
            if len(fields) != 4:
                raise CgroupError(f"malformed devices.list line {line!r}")
            typ, ma, mi, access = fields
            if typ == "a":
                emu.default_allow, emu.rules = True, {}
                continue
            if typ not in ("b", "c") or not access or set(access) - set("rwm"):
                raise CgroupError(f"malformed devices.list line {line!r}")
            major = WILDCARD if ma == "*" else int(ma)
            minor = WILDCARD if mi == "*" else int(mi)
            emu._add((typ, major, minor), _perms(access))
        return emu

    def is_allow_all(self) -> bool:
        return self.default_allow and not self.rules

    def apply(self, rule: Rule) -> None:
        allow, typ, major, minor, access = rule
        if typ == "a":
            # "a" always resets the whole state (the kernel ignores major,
            # minor and access for it).
            self.default_allow, self.rules = allow, {}
            return
        meta = (typ, major, minor)
        if allow == self.default_allow:
            self._remove(meta, access)
        else:
            self._add(meta, access)

    def _add(self, meta: Meta, access: str) -> None:
        self.rules[meta] = _union(self.rules.get(meta, ""), access)

    def _remove(self, meta: Meta, access: str) -> None:
        typ, major, minor = meta
        # The kernel only removes an exception that matches exactly; refusing
        # to "punch a hole" in a wildcard exception avoids a silent no-op.
        for partial in ((typ, WILDCARD, minor), (typ, major, WILDCARD), (typ, WILDCARD, WILDCARD)):
            if partial == meta:
                continue
            overlap = _perms(self.rules.get(partial, ""))
            if any(c in overlap for c in access):
                raise CgroupError(
                    f"device rule {rule_string((False, typ, major, minor, access))} cannot"
                    f" narrow the wildcard rule {rule_string((True, *partial, overlap))}"
                )
        left = _minus(self.rules.get(meta, ""), access)
        if left:
            self.rules[meta] = left
        else:
            self.rules.pop(meta, None)

    def transition(self, target: Emulator) -> list[Rule]:
        """The fewest rules that turn this state into ``target`` (runc's
        ``Transition``): a disruptive ``a`` rule only when the default changes
        or when this state is allow-all (its deny exceptions are unknown)."""
        out: list[Rule] = []
        old = self.rules
        if self.default_allow or self.default_allow != target.default_allow:
            out.append((target.default_allow, "a", WILDCARD, WILDCARD, "rwm"))
            old = {}
        for meta, perms in sorted(old.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
            dropped = _minus(perms, target.rules.get(meta, ""))
            if dropped:
                out.append((target.default_allow, *meta, dropped))
        # In the order the rules first named them: the configured rules, then the
        # defaults (devices.list shows exceptions in the order they were added; the
        # kernel's verdict does not depend on it).
        for meta, perms in target.rules.items():
            gained = _minus(perms, old.get(meta, ""))
            if gained:
                out.append((not target.default_allow, *meta, gained))
        return out

    def minimal_rules(self) -> list[Rule]:
        """Rules that produce this state from a deny-all cgroup."""
        return Emulator(False).transition(self)


def v1_writes(current_list: str, rules: Iterable[Rule]) -> list[tuple[str, str]]:
    """(``devices.allow``|``devices.deny``, rule) writes that take a v1 cgroup
    whose ``devices.list`` reads ``current_list`` to the state ``rules`` give."""
    target = Emulator.build(rules)
    steps = Emulator.from_list(current_list).transition(target)
    return [("devices.allow" if r[0] else "devices.deny", rule_string(r)) for r in steps]


# ---------------------------------------------------------------- eBPF

# Opcodes (linux/bpf_common.h, linux/bpf.h).
BPF_LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
BPF_ALU32_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
BPF_ALU32_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
BPF_ALU32_MOV_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
BPF_ALU32_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
BPF_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
BPF_JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_EXIT = 0x95  # BPF_JMP | BPF_EXIT

BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2

_ACCESS_BITS = {"r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE, "m": BPF_DEVCG_ACC_MKNOD}
_TYPE_BITS = {"b": BPF_DEVCG_DEV_BLOCK, "c": BPF_DEVCG_DEV_CHAR}

LICENSE = b"Apache"

# An instruction before encoding: (opcode, dst, src, offset, imm).
Insn = tuple[int, int, int, int, int]


def _imm(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _rule_block(rule: Rule) -> list[Insn]:
    """Instructions for one rule; jump offsets of 0 are patched to "next block"."""
    allow, typ, major, minor, access = rule
    bits = 0
    for c in access:
        bits |= _ACCESS_BITS[c]
    # ctx (R1): u32 access_type (type | access << 16), u32 major, u32 minor,
    # loaded by the prologue into R2 (type), R3 (access), R4, R5.
    block: list[Insn] = [(BPF_JNE_K, 2, 0, -1, _TYPE_BITS[typ])]
    if bits != 7:  # "rwm" matches any access: skip the check
        block += [
            (BPF_ALU32_MOV_X, 1, 3, 0, 0),  # R1 = R3 (scratch)
            (BPF_ALU32_AND_K, 1, 0, 0, bits),  # R1 &= the rule's access
        ]
        if allow:
            # An allow exception must cover the whole access (the v1 kernel's
            # match_exception): asked for more than allowed, next rule.
            block.append((BPF_JNE_X, 1, 3, -1, 0))
        else:
            # A deny exception matches any overlap (match_exception_partial),
            # so "rw" is refused when "w" is denied.
            block.append((BPF_JEQ_K, 1, 0, -1, 0))
    if major != WILDCARD:
        block.append((BPF_JNE_K, 4, 0, -1, _imm(major)))
    if minor != WILDCARD:
        block.append((BPF_JNE_K, 5, 0, -1, _imm(minor)))
    block += [(BPF_ALU32_MOV_K, 0, 0, 0, int(allow)), (BPF_EXIT, 0, 0, 0, 0)]
    # Patch: every jump (offset -1 placeholder) goes to the end of the block.
    return [
        (op, d, s, len(block) - i - 1, imm) if off == -1 else (op, d, s, off, imm)
        for i, (op, d, s, off, imm) in enumerate(block)
    ]


def bpf_instructions(rules: Iterable[Rule]) -> list[Insn]:
    """The device filter for ``rules`` (applied in order from deny-all)."""
    emu = Emulator.build(rules)
    prog: list[Insn] = [
        (BPF_LDX_MEM_W, 2, 1, 0, 0),  # R2 = ctx->access_type
        (BPF_ALU32_AND_K, 2, 0, 0, 0xFFFF),  # R2 &= 0xffff (device type)
        (BPF_LDX_MEM_W, 3, 1, 0, 0),  # R3 = ctx->access_type
        (BPF_ALU32_RSH_K, 3, 0, 0, 16),  # R3 >>= 16 (access)
        (BPF_LDX_MEM_W, 4, 1, 4, 0),  # R4 = ctx->major
        (BPF_LDX_MEM_W, 5, 1, 8, 0),  # R5 = ctx->minor
    ]
    for rule in emu.minimal_rules():
        if rule[1] == "a":
            continue  # the default verdict below covers it
        prog += _rule_block(rule)
    prog += [(BPF_ALU32_MOV_K, 0, 0, 0, int(emu.default_allow)), (BPF_EXIT, 0, 0, 0, 0)]
    return prog


def encode(insns: Iterable[Insn]) -> bytes:
    """struct bpf_insn, little-endian: code, dst:4 | src:4 << 4, s16 off, s32 imm."""
    import struct

    pack = struct.Struct("<BBhi").pack
    return b"".join(pack(op, (src << 4) | dst, off, imm) for op, dst, src, off, imm in insns)


def bpf_program(rules: Iterable[Rule]) -> bytes:
    return encode(bpf_instructions(rules))
