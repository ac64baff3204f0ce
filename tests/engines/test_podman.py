"""podman (through conmon) driving the runtime: ``podman --runtime PATH``.

podman runs with --root/--runroot under a temp dir, vfs storage, the cgroupfs
manager, no network and its own containers.conf (CONTAINERS_CONF): that file
puts ``pyoci`` on ``runtime_supports_json`` (so conmon passes ``--log-format=json
--log FILE``, one word) and caps the rlimits podman would otherwise raise past
our hard limit (the bounding set lacks CAP_SYS_RESOURCE).  podman itself calls
``start``, ``kill ID 15|9`` and ``delete --force`` with no global flags: the
runtime's default --root (/run/pyoci) must be stable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    Result,
    Runtime,
    assert_ran_under,
    remove_cgroups_named,
    under_script,
)
from helpers import CGROUP_PARENT, mounts_under, wait_for

pytestmark = [pytest.mark.engines, pytest.mark.root]

# the container's own limits, as it sees them (cgroup v1, else v2)
MEMORY_LIMIT = (
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
)
PIDS_LIMIT = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
netns = "none"
log_driver = "k8s-file"
cgroups = "no-conmon"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime_supports_json = ["crun", "runc", "pyoci"]
conmon_path = ["/usr/bin/conmon"]
tmp_dir = "{base}/tmp"

[network]
network_config_dir = "{base}/net"
"""


class Podman:
    def __init__(self, base: Path, rootfs: Path) -> None:
        self.base = base
        self.rootfs = rootfs
        self.conf = base / "containers.conf"
        import resource

        nofile = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        nproc = min(4096, resource.getrlimit(resource.RLIMIT_NPROC)[1])
        self.conf.write_text(CONTAINERS_CONF.format(base=base, nofile=nofile, nproc=nproc))
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.conf))
        self.env.pop("CONTAINERS_STORAGE_CONF", None)

    def args(self, runtime: Runtime, *args: str) -> list[str]:
        return [
            "podman",
            "--root", str(self.base / "root"),
            "--runroot", str(self.base / "runroot"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "none",
            "--tmpdir", str(self.base / "tmp"),
            "--network-config-dir", str(self.base / "net"),
            "--runtime", runtime.path,
            *args,
        ]  # fmt: skip

    def __call__(self, runtime: Runtime, *args: str, timeout: float = 90) -> Result:
        proc = subprocess.run(
            self.args(runtime, *args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            # conmon writes an "oom" file into its working directory when the
            # container is OOM-killed: keep it out of the checkout
            cwd=self.base,
        )
        return Result.of(proc)

    def run_args(self, name: str, *opts: str) -> list[str]:
        return [
            "run", "--name", name,
            "--cgroup-parent", f"{CGROUP_PARENT}/podman",
            "--network", "none",
            *opts,
            "--rootfs", str(self.rootfs),
        ]  # fmt: skip

    def full_id(self, runtime: Runtime, name: str) -> str:
        res = self(runtime, "inspect", "--format", "{{.Id}}", name)
        assert res.code == 0, res
        return res.out.strip()

    def runtime_log(self, cid: str) -> Path:
        """conmon's --log for the runtime (create): one JSON error object at most."""
        return self.base / "runroot" / "vfs-containers" / cid / "userdata" / "oci-log"

    def cleanup(self, runtime: Runtime) -> None:
        self(runtime, "rm", "--all", "--force", "--time", "0")


@pytest.fixture(scope="session")
def podman_home(engine_base: Path, rootfs: Path) -> Iterator[tuple[Path, Path]]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (Debian package podman)")
    if shutil.which("conmon") is None:
        pytest.skip("conmon is not installed (Debian package conmon)")
    base = engine_base / "podman"
    base.mkdir()
    # podman writes into a --rootfs (mount points for /etc/hosts, /run/.containerenv)
    own_rootfs = base / "rootfs"
    shutil.copytree(rootfs, own_rootfs, symlinks=True)
    yield base, own_rootfs
    left = mounts_under(str(base))
    remove_cgroups_named("podman")
    assert not left, f"podman left mounts: {left}"


@pytest.fixture
def podman(podman_home: tuple[Path, Path], runtime: Runtime) -> Iterator[Podman]:
    base, rootfs = podman_home
    p = Podman(base, rootfs)
    yield p
    p.cleanup(runtime)
    res = p(runtime, "ps", "--all", "--quiet")
    assert res.out.strip() == "", f"podman containers left: {res}"


def name_for(request: pytest.FixtureRequest, runtime: Runtime) -> str:
    name = request.node.name.removeprefix("test_")
    for ch in "[]/ =:":
        name = name.replace(ch, "-")
    return f"{name}-{runtime.name}".replace("--", "-").strip("-")


def one_shot(
    podman: Podman, runtime: Runtime, name: str, script: str, *opts: str
) -> Result:
    """podman run (not --rm: the runtime log is checked, then the container removed)."""
    res = podman(runtime, *podman.run_args(name, *opts), "/bin/sh", "-c", script)
    cid = podman.full_id(runtime, name)
    assert_ran_under(runtime, podman.runtime_log(cid), cid)
    rm = podman(runtime, "rm", name)
    assert rm.code == 0, rm
    return res


# ---------------------------------------------------------------------------- flows


def test_run_echo_and_exit_code(
    podman: Podman, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    res = one_shot(podman, runtime, name_for(request, runtime), "echo hello; exit 3")
    assert res.code == 3, res
    assert res.out == "hello\n", res


def test_detached_exec_stop_rm(
    podman: Podman, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    name = name_for(request, runtime)
    script = 'trap "exit 7" TERM; sleep 1000 & wait'
    res = podman(runtime, *podman.run_args(name, "-d"), "/bin/sh", "-c", script)
    assert res.code == 0, res
    cid = res.out.strip()
    assert_ran_under(runtime, podman.runtime_log(cid), cid)
    # podman's own calls carry no --root: the runtime's default root holds the state
    assert (runtime.default_root / cid).is_dir()

    res = podman(runtime, "exec", name, "/bin/sh", "-c", "echo in exec; exit 4")
    assert (res.code, res.out) == (4, "in exec\n"), res
    # exec's own failures, as podman maps the runtime's words: 127 and 126
    res = podman(runtime, "exec", name, "no-such-command")
    assert res.code == 127 and "no-such-command" in res.err, res
    res = podman(runtime, "exec", name, "/etc/passwd")
    assert res.code == 126, res
    res = podman(runtime, "exec", "--user", "1000:1000", "--workdir", "/tmp", "-e", "A=b",
                 name, "/bin/sh", "-c", 'echo $(id -u):$(id -g) $(pwd) $A')  # fmt: skip
    assert (res.code, res.out) == (0, "1000:1000 /tmp b\n"), res
    # exec -t: exec --detach --tty --console-socket; conmon relays the pty
    proc = subprocess.run(
        under_script(podman.args(runtime, "exec", "-t", name, "/bin/sh", "-c", "tty; exit 2")),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=podman.env,
    )
    assert proc.returncode == 2, proc
    assert "/dev/pts/" in proc.stdout, proc

    # pause / unpause (podman calls the runtime's pause/resume with no global flags)
    res = podman(runtime, "pause", name)
    assert res.code == 0, res
    res = podman(runtime, "inspect", "--format", "{{.State.Status}}", name)
    assert res.out.strip() == "paused", res
    res = podman(runtime, "unpause", name)
    assert res.code == 0, res
    res = podman(runtime, "exec", name, "true")
    assert res.code == 0, res
    # update: the runtime's update --resources with the new limits
    res = podman(runtime, "update", "--memory", "96m", name)
    assert res.code == 0, res
    res = podman(runtime, "exec", name, "/bin/sh", "-c", MEMORY_LIMIT)
    assert res.out.split() == [str(96 << 20)], res

    res = podman(runtime, "stop", "--time", "20", name)  # kill ID 15: the trap answers
    assert res.code == 0, res
    res = podman(runtime, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
    assert res.out.split() == ["exited", "7"], res
    res = podman(runtime, "rm", name)
    assert res.code == 0, res
    assert not (runtime.default_root / cid).exists()


def test_stop_kills_after_timeout(
    podman: Podman, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    """A process that ignores SIGTERM: podman sends kill ID 9 after --time."""
    name = name_for(request, runtime)
    res = podman(runtime, *podman.run_args(name, "-d"), "/bin/sh", "-c",
                 'trap "" TERM; sleep 1000 & wait; sleep 1000')  # fmt: skip
    assert res.code == 0, res
    res = podman(runtime, "stop", "--time", "1", name)
    assert res.code == 0, res
    res = podman(runtime, "inspect", "--format", "{{.State.ExitCode}}", name)
    assert res.out.strip() == "137", res
    assert podman(runtime, "rm", name).code == 0


def test_run_tty(podman: Podman, runtime: Runtime, request: pytest.FixtureRequest) -> None:
    name = name_for(request, runtime)
    cmd = podman.args(
        runtime, *podman.run_args(name, "-t"), "/bin/sh", "-c", "tty; stty size; exit 5"
    )
    proc = subprocess.run(
        under_script(cmd), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env=podman.env,
    )
    assert proc.returncode == 5, proc
    assert "/dev/pts/0" in proc.stdout, proc
    cid = podman.full_id(runtime, name)
    assert_ran_under(runtime, podman.runtime_log(cid), cid)
    assert podman(runtime, "rm", name).code == 0


OPTION_CASES = {
    "memory": (("--memory", "64m"), MEMORY_LIMIT, str(64 << 20)),
    "pids-limit": (("--pids-limit", "12"), PIDS_LIMIT, "12"),
    "read-only": (
        ("--read-only",),
        "touch /newfile 2>&1 | grep -o 'Read-only file system'; touch /tmp/ok && echo tmp ok",
        "Read-only file system\ntmp ok",
    ),
    "cap-drop-all": (
        ("--cap-drop", "ALL"),
        "grep ^Cap /proc/self/status",
        "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
        "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000",
    ),
    "user": (("--user", "1000:1000"), "echo $(id -u):$(id -g)", "1000:1000"),
    "env": (("-e", "FOO=bar baz"), 'echo "$FOO"', "bar baz"),
    "workdir": (("--workdir", "/home/user"), "pwd", "/home/user"),
    "hostname": (("--hostname", "pyoci-host"), "hostname", "pyoci-host"),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_run_option(
    podman: Podman, runtime: Runtime, case: str, request: pytest.FixtureRequest
) -> None:
    opts, script, expected = OPTION_CASES[case]
    res = one_shot(podman, runtime, name_for(request, runtime), script, *opts)
    assert res.code == 0, res
    assert res.out.strip() == expected, res


def test_memory_limit_oom_kill(
    podman: Podman, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    name = name_for(request, runtime)
    res = podman(runtime, *podman.run_args(name, "--memory", "32m", "--memory-swap", "32m"),
                 "/bin/sh", "-c", "tail /dev/zero", timeout=120)  # fmt: skip
    # SIGKILLed by the kernel (podman's State.OOMKilled stays false here with
    # runc as well: conmon's OOM watch does not see this hybrid host's cgroups)
    assert res.code == 137, res
    cid = podman.full_id(runtime, name)
    assert_ran_under(runtime, podman.runtime_log(cid), cid)  # the OOM kill was under pyoci
    assert podman(runtime, "rm", name).code == 0


def test_runtime_error_reaches_the_user(
    podman: Podman, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    """A failed create: podman reads the runtime's JSON log (one error object)."""
    name = name_for(request, runtime)
    res = podman(runtime, *podman.run_args(name), "/no/such/program")
    assert res.code == 127, res  # podman: "command not found"
    assert "/no/such/program" in res.err, res
    cid = podman.full_id(runtime, name)
    log = podman.runtime_log(cid)
    if log.exists() and log.read_text().strip():
        import json

        lines = log.read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["level"] == "error", lines
    podman(runtime, "rm", "--force", name)
    assert wait_for(lambda: not (runtime.default_root / cid).exists(), 5)
