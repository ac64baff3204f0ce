"""Capability sets: config names → masks, and what the runtime itself holds.

Pure (no native code): the runtime process plans and warns with it before it
forks; the init applies the plan (``pyoci.init.security``).
"""

from __future__ import annotations

from pyoci.spec.names import CAPABILITIES

CAP_NAMES = {v: k for k, v in CAPABILITIES.items()}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return max(CAPABILITIES.values())


def caps_to_mask(names: list[str] | None, warnings: list[str], last: int) -> int:
    """Names → bit mask; unknown or unsupported names become warnings (config.md)."""
    mask = 0
    for name in names or []:
        num = CAPABILITIES.get(name)
        if num is None or num > last:
            warnings.append(f"capability {name} is not supported by this kernel: ignored")
            continue
        mask |= 1 << num
    return mask


def permitted_of_self(status: str = "/proc/self/status") -> int:
    """The permitted set of this process (``CapPrm`` of its status, as capget(2))."""
    with open(status, "rb") as f:
        for line in f:
            if line.startswith(b"CapPrm:"):
                return int(line.split()[1], 16)
    raise OSError(2, "no CapPrm line", status)


class CapabilityPlan:
    """The five capability sets as masks, computed before the user switch."""

    __slots__ = ("ambient", "bounding", "effective", "inheritable", "permitted", "warnings")

    def __init__(self, caps: dict[str, list[str]] | None) -> None:
        self.warnings: list[str] = []
        last = last_cap()
        caps = caps or {}
        self.bounding = caps_to_mask(caps.get("bounding"), self.warnings, last)
        self.effective = caps_to_mask(caps.get("effective"), self.warnings, last)
        self.permitted = caps_to_mask(caps.get("permitted"), self.warnings, last)
        self.inheritable = caps_to_mask(caps.get("inheritable"), self.warnings, last)
        self.ambient = caps_to_mask(caps.get("ambient"), self.warnings, last)

    def restrict_to(self, available: int) -> None:
        """Drop what the runtime itself does not hold (warn, don't fail: config.md)."""
        for attr in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            want = getattr(self, attr)
            missing = want & ~available
            if missing:
                names = ", ".join(
                    CAP_NAMES.get(i, str(i)) for i in range(64) if missing & (1 << i)
                )
                self.warnings.append(f"{attr} capabilities not available, ignored: {names}")
                setattr(self, attr, want & available)
