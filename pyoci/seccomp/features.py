"""The ``linux.seccomp`` object of ``pyoci features`` (features-linux.md).

``actions``, ``operators`` and ``archs`` are the names ``compile_profile``
accepts on this host: every action and operator of config-linux.md (minus an
action this kernel lacks), the architectures this libseccomp knows.
``knownFlags`` are all flags we recognise; ``supportedFlags`` those this kernel
accepts (we pass flags to seccomp(2) ourselves, so libseccomp's age does not
matter for them).
"""

from __future__ import annotations

from pyoci.seccomp.compile import (
    ACTIONS,
    ARCHES,
    FLAGS,
    KERNEL_ACTIONS,
    OPERATORS,
    arch_token,
    kernel_has_action,
    kernel_has_flags,
)
from pyoci.seccomp.program import FLAG_NEW_LISTENER, FLAG_WAIT_KILLABLE_RECV

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["seccomp_features"]


def seccomp_features() -> dict[str, Any]:
    actions = [
        name
        for name in ACTIONS
        if name not in KERNEL_ACTIONS or kernel_has_action(KERNEL_ACTIONS[name])
    ]
    supported = []
    for name, bit in FLAGS.items():
        probe = bit | FLAG_NEW_LISTENER if bit == FLAG_WAIT_KILLABLE_RECV else bit
        if kernel_has_flags(probe):
            supported.append(name)
    return {
        "enabled": True,
        "actions": sorted(actions),
        "operators": sorted(OPERATORS),
        "archs": sorted(name for name in ARCHES if arch_token(name)),
        "knownFlags": sorted(FLAGS),
        "supportedFlags": sorted(supported),
    }
