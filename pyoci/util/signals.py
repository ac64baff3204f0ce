"""Signal names and numbers without the ``signal`` module (it imports ``enum``)."""

from __future__ import annotations

from pyoci.errors import UsageError

SIGNALS: dict[str, int] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
SIGRTMIN = 34
SIGRTMAX = 64


def parse_signal(text: str) -> int:
    """Accept ``9``, ``KILL``, ``SIGKILL``, ``kill``, ``RTMIN+3``."""
    raw = text.strip()
    if raw.isdigit():
        num = int(raw)
        if 0 < num <= SIGRTMAX:
            return num
        raise UsageError(f"invalid signal: {text}")
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in SIGNALS:
        return SIGNALS[name]
    for base, value in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if name == base:
            return value
        if name.startswith(base + "+") and base == "RTMIN":
            off = name[len(base) + 1 :]
            if off.isdigit() and value + int(off) <= SIGRTMAX:
                return value + int(off)
        if name.startswith(base + "-") and base == "RTMAX":
            off = name[len(base) + 1 :]
            if off.isdigit() and value - int(off) >= SIGRTMIN:
                return value - int(off)
    raise UsageError(f"unknown signal {text!r}")
