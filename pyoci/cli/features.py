"""pyoci features: the runtime-spec features document (features.md, features-linux.md).

Truthful about this build: every name listed is one ``create`` accepts and acts on.
Intel RDT is reported disabled.  The systemd cgroup driver (``--systemd-cgroup``)
is there, for root (system bus) and rootless (user bus) as runc reports it.
"""

from __future__ import annotations

import sys

from pyoci.cli.args import Flag, Parsed, need_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyoci.cli import Context

USAGE = """NAME:
   pyoci features - show the enabled features

USAGE:
   pyoci features

DESCRIPTION:
   Show the enabled features.
   The result is parsable as a JSON (runtime-spec features.md).
"""

FLAGS: list[Flag] = []


def features_document() -> dict[str, Any]:
    from pyoci import SPEC_VERSION
    from pyoci.cgroups import cgroup_features
    from pyoci.init.mountplan import mount_option_names
    from pyoci.init.security import MPOL_FLAGS, MPOL_MODES
    from pyoci.native import consts as c
    from pyoci.spec.names import CAPABILITIES, HOOK_PHASES

    linux: dict[str, Any] = {
        "namespaces": sorted(c.NAMESPACE_FLAGS),
        "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.__getitem__),
        # the cgroupfs manager drives v1, v2 and hybrid hosts; the systemd driver
        # (pyoci.cgroups.systemd) too, on the system bus and the user bus
        "cgroup": cgroup_features(),
        "seccomp": _seccomp(),
        "apparmor": {"enabled": True},
        "selinux": {"enabled": True},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": True},
        "memoryPolicy": {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)},
    }
    annotations: dict[str, str] = {}
    version = _libseccomp_version()
    if version:
        annotations["io.github.seccomp.libseccomp.version"] = version
    # checkpoint/restore through CRIU (runc's annotation, which engines look for)
    annotations["org.opencontainers.runc.checkpoint.enabled"] = "true"
    annotations["org.pyoci.checkpoint.criu"] = "checkpoint and restore through criu swrk"
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOK_PHASES),
        "mountOptions": mount_option_names(),
        "linux": linux,
        "annotations": annotations,
    }


def _seccomp() -> dict[str, Any]:
    try:
        from pyoci.seccomp.features import seccomp_features
    except (ImportError, OSError):  # built without libseccomp
        return {"enabled": False}
    return seccomp_features()


def _libseccomp_version() -> str:
    try:
        from pyoci.native._seccomp import lib
    except (ImportError, OSError):
        return ""
    v = lib.seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def run(ctx: Context, p: Parsed) -> int:
    need_args("features", p.args, exactly=0)
    from pyoci.util import jsonio

    sys.stdout.write(jsonio.dumps_pretty(features_document(), indent="    ") + "\n")
    return 0
