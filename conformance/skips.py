"""The skips CI allows: a skip must be explained by the host, or it fails the run.

A skip never fails pytest, so a test that skips for a reason nobody expected
(a runtime that crashes, a helper that stopped building) would hide a failure.
This plugin (registered by tests/conftest.py and conformance/conftest.py)
prints one summary line of the skips, ``N skipped: <reason> xK; ...``, and,
when ``PYOCI_CI_SKIPS`` asks for it, fails the session if a skip's reason is
not in ``ALLOWED`` below, listing each unexpected skip.

``PYOCI_CI_SKIPS`` (tools/test.sh sets it):

* unset: the summary line only (a developer's run of some tests);
* ``strict``: ``../shared`` is beside the repository (CI here): every skip
  must match ``ALLOWED``;
* ``bare``: a clone with nothing beside it: ``ALLOWED``, plus the skips whose
  reason starts with ``needs ../shared`` (conformance/refs.py).

TO ALLOW A NEW SKIP (e.g. a new test that needs a feature this host lacks):
add an ``Allowed(pattern, why, where)`` line to ``ALLOWED``.  ``pattern`` is a
regular expression searched in the skip reason: keep it narrow, naming the
missing host feature (not "fails", not a catch-all).  ``why`` says which hosts
lack it.  ``where`` says which runs may skip that way: ``tests`` (pytest on
tests/, here and in the cgroup guests), ``conformance:pyoci``,
``conformance:runc`` (the conformance suite against that runtime), or
``*`` (any run); shell-style wildcards, several separated by spaces.
A skip that is a failure in disguise (the runtime under test misbehaves) must
never be allowed: make the test fail instead.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections import Counter
from typing import Any

import pytest

from conformance.refs import SHARED_PREFIX


@dataclasses.dataclass(frozen=True)
class Allowed:
    pattern: str
    why: str
    where: str = "*"

    def matches(self, run: str, reason: str) -> bool:
        return (any(fnmatch.fnmatchcase(run, w) for w in self.where.split())
                and re.search(self.pattern, reason) is not None)


ALLOWED: tuple[Allowed, ...] = (
    # ---- Linux security modules: a host has AppArmor, SELinux, or neither
    Allowed(r"^AppArmor is not enabled on this host$", "no AppArmor LSM (Debian VM here)", "tests"),
    Allowed(r"^SELinux is not enabled on this host$", "no SELinux LSM (Debian)", "tests"),
    Allowed(r"^this host has AppArmor$", "the no-AppArmor path, on an AppArmor host", "tests"),
    Allowed(r"^this host has SELinux$", "the no-SELinux path, on an SELinux host", "tests"),
    # ---- init system: tests/systemd/ runs in the systemd guest (tools/systemd-guest.sh)
    Allowed(r"^needs systemd as PID 1( on cgroup v2)?"
            r" \((runs in the systemd guest|tools/systemd-guest\.sh runs it in a guest)\)$",
            "hosts without systemd as PID 1 (this one; CI runs them in the guest)", "tests"),
    Allowed(r"^this host runs systemd: tests/systemd/ covers the driver here$",
            "hosts with systemd as PID 1", "tests"),
    Allowed(r"^needs a cgroup v1 or hybrid host without systemd \(this one (is v2|runs systemd"
            r" as PID 1|has no v1 devices hierarchy)\)$",
            "tests/integration/test_systemd_hybrid.py: pure cgroup v2 hosts, or hosts with a real"
            " systemd (this CI host is hybrid without systemd: they run)", "tests"),
    # ---- CRIU: tests/criu/ runs in the v2 guest (tools/cgroup-guests.sh), whose
    # 6.1 kernel CRIU 3.17 supports; on 6.18 (this host) `criu check` fails
    Allowed(r"^`criu check` fails on this kernel: ", "CRIU 3.17 on kernels past 6.x's vDSO change",
            "tests"),
    # ---- devices and kernel features
    Allowed(r"^block device \d+:\d+ cannot be opened here: Operation not permitted$",
            "the VM's disk is held by the host; O_DIRECT reads are refused (EPERM)", "tests"),
    Allowed(r"^no block device of 2 MiB or more", "guests without a RAM disk", "tests"),
    Allowed(r"^the kernel has no huge pages", "kernels without hugetlbfs", "tests"),
    Allowed(r"^this kernel has no time namespaces$", "kernels before 5.6", "*"),
    Allowed(r"^this kernel has no mseal\(2\)$", "kernels before 6.10", "tests"),
    Allowed(r"^kernel without NUMA", "kernels built without CONFIG_NUMA", "tests"),
    Allowed(r"^the host has no /dev/fuse", "hosts without the fuse module", "tests"),
    Allowed(r"^no session keyring here", "hosts without a session keyring", "tests"),
    Allowed(r"^RLIMIT_NOFILE hard limit is unlimited here", "hosts with no nofile limit",
            "tests"),
    Allowed(r"^this runtime holds CAP_SYS_RESOURCE", "hosts that grant CAP_SYS_RESOURCE",
            "tests"),
    Allowed(r"^no cgroup v1 devices controller here", "pure cgroup v2 hosts", "tests"),
    Allowed(r"^no cgroup2 hierarchy", "pure cgroup v1 hosts", "*"),
    Allowed(r"^this host has no shared /run/netns mount", "hosts without ip-netns",
            "conformance:*"),
    # ---- cgroup layout (this host is hybrid; the guests are pure v1 / pure v2)
    Allowed(r"^cgroup v1 is not in use on this host$", "pure cgroup v2 hosts", "conformance:*"),
    Allowed(r"^cgroup ownership is only delegated on a pure cgroup v2 host",
            "hybrid and v1 hosts", "conformance:*"),
    Allowed(r"^needs a pure cgroup v2 host", "hybrid and v1 hosts", "conformance:*"),
    Allowed(r"^this kernel has /sys/kernel/cgroup/delegate: the fallback list is not used$",
            "kernels since 6.1 (v2 hosts)", "conformance:*"),
    Allowed(r"^the pids controller is available in cgroup v2 here$", "pure v2 hosts",
            "conformance:*"),
    Allowed(r"^net_cls / net_prio are mounted here", "cgroup v1 hosts", "conformance:*"),
    Allowed(r"^resctrl is mounted here$", "hosts with Intel RDT", "conformance:*"),
    Allowed(r"^this host's bounding set has every capability", "hosts with every capability",
            "conformance:*"),
    # ---- runc (the reference of the differential tests) needs what the host lacks:
    # tests/cgroup_helpers.py RUNC_MISSING_FEATURES names each feature
    Allowed(r"^runc cannot (create|run) here: ", "see RUNC_MISSING_FEATURES", "tests"),
    # ---- architecture
    Allowed(r"^syscall numbers of x86_64$", "hosts that are not x86_64", "tests"),
    Allowed(r"^the keyctl syscall number used here is x86_64's$", "non-x86_64 hosts", "tests"),
    Allowed(r"^no LINUX32 name known for ", "architectures without a 32-bit personality",
            "tests"),
    Allowed(r"^a big-endian arch on a little-endian host$", "big-endian hosts", "tests"),
    Allowed(r"^this libseccomp knows every architecture", "newer libseccomp", "tests"),
    # ---- what runc 1.1.5 (the reference runtime) does not report in `features`
    Allowed(r"^(no annotations|no mountOptions|no linux\.[\w.]+|seccomp \w+ are not listed)"
            r"( in the features document)?$", "runc 1.1.5's features document", "conformance:runc"),
    Allowed(r"^idmap mounts are not enabled$", "runc 1.1.5 has no idmap mounts",
            "conformance:runc"),
    Allowed(r"is not listed in features\.hooks$", "runc 1.1.5's features document",
            "conformance:runc"),
    # runc refuses create without process: test_create_without_process is its strict
    # xfail (expectations/runc.json), start cannot be tried
    Allowed(r"^create already refused the config without process", "runc 1.1.5",
            "conformance:runc"),
)


def mode() -> str:
    """'strict', 'bare' or '' (report only), from ``PYOCI_CI_SKIPS``."""
    value = os.environ.get("PYOCI_CI_SKIPS", "")
    if value not in ("", "strict", "bare"):
        raise pytest.UsageError(f"PYOCI_CI_SKIPS={value!r}: expected strict, bare or nothing")
    return value


def unexpected(run: str, reason: str, how: str) -> bool:
    if how == "bare" and reason.startswith(SHARED_PREFIX):
        return False
    return not any(a.matches(run, reason) for a in ALLOWED)


def _reason(report: Any) -> str:
    lr = report.longrepr
    text = str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return text.removeprefix("Skipped: ").strip()


class SkipCheck:
    """The pytest plugin: records every skip, prints the summary, enforces ``ALLOWED``."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.how = mode()
        self.skips: list[tuple[str, str]] = []  # (nodeid, reason)

    def _record(self, report: Any) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.append((report.nodeid, _reason(report)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def bad(self) -> list[tuple[str, str]]:
        if not self.how:
            return []
        return [(n, r) for n, r in self.skips if unexpected(self.run, r, self.how)]

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.bad() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        counts = Counter(r for _, r in self.skips)
        line = "; ".join(f"{r} x{k}" for r, k in counts.most_common())
        tr.write_line(f"{len(self.skips)} skipped ({self.run}){': ' if line else ''}{line}")
        bad = self.bad()
        if bad:
            tr.write_line(f"{len(bad)} unexpected skip(s) (PYOCI_CI_SKIPS={self.how}; "
                          "the host does not explain them, see conformance/skips.py):", red=True)
            by_reason: dict[str, list[str]] = {}
            for nodeid, reason in bad:
                by_reason.setdefault(reason, []).append(nodeid)
            for reason, nodeids in by_reason.items():
                more = f" and {len(nodeids) - 3} more" if len(nodeids) > 3 else ""
                tr.write_line(f"  UNEXPECTED SKIP x{len(nodeids)}: {reason}", red=True)
                tr.write_line(f"    ({', '.join(nodeids[:3])}{more})", red=True)
