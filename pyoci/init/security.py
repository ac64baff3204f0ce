"""Process security: rlimits, capabilities, user switch, no_new_privs, keyring.

Pure helpers (``parse_rlimits``; the capability plan in ``pyoci.util.capabilities``) are
unit-tested without root.
"""

from __future__ import annotations

import os
import resource

from pyoci import native
from pyoci.errors import ConfigError, SetupError
from pyoci.native import consts as c
from pyoci.process import running_in_user_namespace
from pyoci.spec.names import RLIMITS
from pyoci.util.capabilities import CapabilityPlan, last_cap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RLIM_INFINITY = (1 << 64) - 1


def parse_rlimits(rlimits: list[dict[str, Any]] | None) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    seen: set[str] = set()
    for i, rl in enumerate(rlimits or []):
        kind = rl["type"]
        if kind not in RLIMITS:
            raise ConfigError(f"config.json: process.rlimits[{i}].type: unknown rlimit {kind!r}")
        if kind in seen:
            raise ConfigError(f"config.json: process.rlimits[{i}].type: {kind} listed twice")
        seen.add(kind)
        out.append((RLIMITS[kind], int(rl["soft"]), int(rl["hard"])))
    return out


def apply_rlimits(limits: list[tuple[int, int, int]]) -> None:
    names = {v: k for k, v in RLIMITS.items()}
    for res, soft, hard in limits:
        s = resource.RLIM_INFINITY if soft >= RLIM_INFINITY else soft
        h = resource.RLIM_INFINITY if hard >= RLIM_INFINITY else hard
        try:
            resource.setrlimit(res, (s, h))
        except (OSError, ValueError) as exc:
            err = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise SetupError(f"setrlimit {names[res]} ({soft}, {hard}): {err}") from None


# set_mempolicy(2) modes and flags (linux/mempolicy.h)
MPOL_MODES: dict[str, int] = {
    "MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}  # fmt: skip
MPOL_FLAGS: dict[str, int] = {
    "MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_STATIC_NODES": 1 << 15,
}  # fmt: skip


def parse_node_list(text: str) -> list[int]:
    """``0-3,7`` → [0, 1, 2, 3, 7] (the cpuList format of config-linux.md)."""
    nodes: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ConfigError(f"config.json: linux.memoryPolicy.nodes: bad node list {text!r}")
        lo, hi = int(first), int(last) if dash else int(first)
        if hi < lo:
            raise ConfigError(f"config.json: linux.memoryPolicy.nodes: bad range {part!r}")
        nodes.update(range(lo, hi + 1))
    return sorted(nodes)


def parse_memory_policy(policy: dict[str, Any]) -> tuple[int, list[int]]:
    """``linux.memoryPolicy`` → (mode | flags, nodes) for set_mempolicy(2)."""
    mode = policy.get("mode")
    if mode not in MPOL_MODES:
        raise ConfigError(f"config.json: linux.memoryPolicy.mode: unknown mode {mode!r}")
    value = MPOL_MODES[mode]
    for flag in policy.get("flags") or []:
        if flag not in MPOL_FLAGS:
            raise ConfigError(f"config.json: linux.memoryPolicy.flags: unknown flag {flag!r}")
        value |= MPOL_FLAGS[flag]
    return value, parse_node_list(policy.get("nodes") or "")


def apply_memory_policy(policy: dict[str, Any]) -> None:
    mode, nodes = parse_memory_policy(policy)
    try:
        native.set_mempolicy(mode, nodes)
    except OSError as exc:
        raise SetupError(
            f"linux.memoryPolicy {policy.get('mode')} nodes {policy.get('nodes', '')!r}: "
            f"set_mempolicy: {exc.strerror}"
        ) from None


def join_session_keyring(container_id: str) -> None:
    try:
        serial = native.join_session_keyring(f"_ses.{container_id}")
        # possessor: all; user: view, read, write, search, link (runc's 0x3f1f0000 style)
        native.keyctl(c.KEYCTL_SETPERM, serial, 0x3F1F0000)
    except OSError as exc:
        # ENOSYS: no keyrings; EACCES/EPERM: a user namespace without key access.
        if exc.errno not in (38, 13, 1):
            raise SetupError(f"join session keyring: {exc.strerror}") from None


def set_oom_score_adj(value: int) -> None:
    """Our own oom_score_adj, through a verified procfs handle (``procfs``)."""
    from pyoci.init.procfs import ProcFS

    proc = ProcFS.at("/proc")
    try:
        fd = proc.open(f"{proc.self_pid()}/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (1, 13) and (os.geteuid() != 0 or running_in_user_namespace()):
            # Lowering it needs CAP_SYS_RESOURCE in the initial user namespace:
            # a rootless container keeps the value it inherits (as systemd, docker).
            return
        raise SetupError(f"set oom_score_adj to {value}: {exc.strerror}") from None
    finally:
        proc.close()


def drop_bounding(plan: CapabilityPlan) -> None:
    last = last_cap()
    for cap in range(last + 1):
        if not plan.bounding & (1 << cap):
            try:
                native.prctl(c.PR_CAPBSET_DROP, cap)
            except OSError as exc:
                if exc.errno != 22:  # EINVAL: not a valid cap on this kernel
                    raise SetupError(f"drop bounding capability {cap}: {exc.strerror}") from None


def switch_user(uid: int, gid: int, additional_gids: list[int], setgroups_allowed: bool) -> None:
    """setgroups/setresgid/setresuid keeping permitted caps across the uid change.

    An id of 4294967295 ((uid_t)-1) would make setresuid/setresgid a no-op (the
    process would stay root): refused here too (create and exec check first),
    and the ids are read back after the switch.
    """
    for name, value in (("uid", uid), ("gid", gid), *(("gid", g) for g in additional_gids)):
        if not 0 <= value < 0xFFFFFFFF:
            raise SetupError(f"switch to user {uid}:{gid}: {name} {value} is not a valid id")
    native.prctl(c.PR_SET_KEEPCAPS, 1)
    try:
        if setgroups_allowed:
            native.setgroups(additional_gids)
        elif additional_gids:
            raise SetupError(
                "additionalGids need setgroups, which this user namespace denies"
            )
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except (OSError, OverflowError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise SetupError(f"switch to user {uid}:{gid}: {why}") from None
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise SetupError(f"switch to user {uid}:{gid}: the ids did not change")
    native.prctl(c.PR_SET_KEEPCAPS, 0)


def apply_capabilities(plan: CapabilityPlan) -> None:
    try:
        native.capset(plan.effective, plan.permitted, plan.inheritable)
    except OSError as exc:
        raise SetupError(f"capset: {exc.strerror}") from None
    try:
        native.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        return  # kernel without ambient capabilities
    for cap in range(64):
        if plan.ambient & (1 << cap):
            try:
                native.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, cap)
            except OSError:
                pass  # not in permitted+inheritable: the spec says warn, not fail


def set_no_new_privs() -> None:
    native.prctl(c.PR_SET_NO_NEW_PRIVS, 1)


def set_non_dumpable() -> None:
    """Make this process non-dumpable: no ptrace, no /proc/PID/{exe,fd,mem} from the container."""
    native.prctl(c.PR_SET_DUMPABLE, 0)


def setgroups_allowed() -> bool:
    """False in a user namespace whose setgroups is denied (/proc/self/setgroups)."""
    try:
        with open("/proc/self/setgroups", "rb") as f:
            return f.read().strip() != b"deny"
    except OSError:
        return True
