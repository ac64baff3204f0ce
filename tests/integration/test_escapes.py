"""The known container-escape shapes, each tried with a malicious bundle or
container; every test asserts the host is untouched (and the runtime refuses
or copes).

Each defense was checked once the way issue 5 asks: weakened locally (never
committed), the matching tests run against that build and seen to fail, then
restored.  The weakened tree was a copy of the checkout, installed aside with
``pip install --target`` and selected with ``PYOCI_BINARY`` (unit tests: with
``PYTHONPATH``, run from outside the checkout).  ``test_lsm`` is
tests/unit/test_lsm.py, ``test_seccomp_container`` and ``test_lsm_labels`` are
in tests/integration.

Defense -> weakening -> failing tests (what they saw):

 1. mount destinations resolved in the rootfs (openat2 RESOLVE_IN_ROOT | NO_MAGICLINKS)
    -> weakened: paths.IN_ROOT = 0
    -> fails: through_symlinks (new-a, new-r, file-b made on the host); swapped_in (m0..m23 on
       the host)
 2. mounts go to the resolved fd, never a re-resolved path
    -> weakened: _mount_fs: move_mount to AT_FDCWD + rootfs + destination
    -> fails: through_symlinks (ENOENT: the path leads out); swapped_in (mounts outside, missing
       inside)
 3. cwd checked with getcwd after chdir
    -> weakened: ProcessSetup._chdir without the getcwd check
    -> fails: cwd_through_proc_self_fd (fd 8, the init's private procfs, became the cwd)
 4. exec's entering process closes every other fd before setns (+ the getcwd check)
    -> weakened: exec_stage._close_other_fds a no-op, and no getcwd check
    -> fails: only_stdio_and_preserved_fds (exec --cwd /proc/self/fd/4 read the host's HOSTMARK)
 5. fds >= 3 + preserved marked CLOEXEC before execve
    -> weakened: no close_range(CLOEXEC) in ProcessSetup.apply
    -> fails: only_stdio_and_preserved_fds (fds 4, 5 and the runtime's own reached the
       container)
 6. stage 1 and the init non-dumpable
    -> weakened: stage1 without security.set_non_dumpable()
    -> fails: init_before_start_is_out_of_reach, init_running_hooks_is_out_of_reach (readlink
       /proc/1/exe gave the host's python3.11, openw ETXTBSY instead of EACCES, ptrace ok)
 7. exec's entering process non-dumpable
    -> weakened: exec_stage1 without security.set_non_dumpable()
    -> fails: exec_entering_process_is_out_of_reach (the same three)
 8. masks use a /dev/null verified to be char 1:3
    -> weakened: _open_dev_null_tree without the 1:3 check
    -> fails: masking_refuses_a_fake_dev_null: [regular-file] (/proc/keys showed FAKE),
       [symlink] (/proc/keys showed the host's core_pattern), [zero-device]
 9. /dev/console bind target verified (no symlink, file or char device, not procfs/sysfs)
    -> weakened: _bind_console back to create_file_in_root (follows links) + the file-type check
    -> fails: console_bind_target_is_verified[/etc/hostname] (the console went over
       /etc/hostname; the procfs targets failed with an unclear ELOOP)
10. sysctl through the verified procfs handle
    -> weakened: procfs.write_sysctl writes open('/proc/' + path)
    -> fails: sysctl_goes_to_the_real_procfs (the host's fake ip_forward got 1),
       procfs_writes_ignore_a_fake_proc
11. exec.fifo reopened through the handle
    -> weakened: wait_for_start opens /proc/self/fd/N
    -> fails: procfs_writes_ignore_a_fake_proc (the init died before start)
12. oom_score_adj never through the container's /proc
    -> weakened: the init writes it after pivot_root with open('/proc/self/oom_score_adj')
    -> fails: procfs_writes_ignore_a_fake_proc (the fake file got 123, the real value stayed 0)
13. attr and sysctl files strict beneath the handle
    -> weakened: procfs._STRICT = 0
    -> fails: test_lsm: attr_writes_refuse_a_symlinked_directory,
       sysctl_through_a_symlinked_directory (written through the link)
14. a label on a host without the LSM is a clear error
    -> weakened: set_apparmor_exec without the enabled check
    -> fails: test_lsm_labels: apparmor_profile_without_apparmor,
       exec_apparmor_profile_without_apparmor (an unclear EINVAL instead)
15. a new session keyring per container
    -> weakened: ProcessSetup.apply skips join_session_keyring
    -> fails: each_container_gets_its_own_session_keyring (both saw the host's _uid_ses.0)
16. only the default and configured devices
    -> weakened: DEFAULT_DEVICES + ('kmsg', 'c', 1, 11)
    -> fails: only_default_and_configured_devices[False], [True]
17. /dev is never a bind of the host's /dev
    -> weakened: setup_dev binds the host's /dev in a user namespace
    -> fails: only_default_and_configured_devices[True] (every host node visible)
18. seccomp without no_new_privs: CAP_SYS_ADMIN held until installed
    -> weakened: ProcessSetup holds nothing
    -> fails: test_seccomp_container: without_no_new_privs_the_filter_still_loads (EACCES, exit
       1)
19. seccomp installed as the last step
    -> weakened: the init installs the filter before ProcessSetup.apply
    -> fails: test_seccomp_container: filter_is_the_last_step (setrlimit denied)
20. exec'd processes get a NOTIFY filter too
    -> weakened: exec_process drops a NOTIFY filter
    -> fails: test_seccomp_container: notify_exec_sends_its_own_listener (Seccomp: 0)

``probe`` is a small static C helper (tests/data/probe/probe.c) bind-mounted
into containers for what busybox cannot do (ptrace, keyctl, listing fds).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import Bundle, RuntimeCLI, mounts_under, parse_mountinfo, wait_for

pytestmark = pytest.mark.root

PROBE_SRC = Path(__file__).resolve().parent.parent / "data" / "probe" / "probe.c"
TEST_TMP = Path(os.environ.get("PYOCI_TEST_TMP", "/tmp/pyoci-tests"))
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")

Mutate = Callable[[dict[str, Any]], None]


# ------------------------------------------------------------------ helpers


@pytest.fixture(scope="session")
def probe() -> Path:
    """The probe helper, built static once per source version."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the probe helper (Debian gcc, libc6-dev)")
    digest = hashlib.sha256(PROBE_SRC.read_bytes()).hexdigest()[:12]
    out = TEST_TMP / f"probe-{digest}"
    if not out.exists():
        TEST_TMP.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f"{out.name}.{os.getpid()}")
        res = subprocess.run(["gcc", "-static", "-O1", "-o", str(tmp), str(PROBE_SRC)],
                             capture_output=True, text=True)  # fmt: skip
        if res.returncode != 0:
            pytest.skip(f"cannot build the probe helper statically: {res.stderr.strip()}")
        tmp.rename(out)
    return out


def bind(dest: str, source: Path | str, *options: str) -> dict[str, Any]:
    return {"destination": dest, "type": "bind", "source": str(source),
            "options": ["bind", *options]}  # fmt: skip


def tmpfs(dest: str) -> dict[str, Any]:
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}


def mutations(*fns: Mutate) -> Mutate:
    def mutate(cfg: dict[str, Any]) -> None:
        for fn in fns:
            fn(cfg)

    return mutate


def add_mounts(*mounts: dict[str, Any]) -> Mutate:
    return lambda cfg: cfg["mounts"].extend(mounts)


def with_probe(probe: Path) -> Mutate:
    return add_mounts(bind("/probe", probe, "ro"))


def drop_mounts(*destinations: str) -> Mutate:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in destinations]

    return mutate


def tree(path: Path) -> list[str]:
    """Everything below ``path`` (to show a host directory is untouched)."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def in_netns(pid: int, path: str) -> str:
    """Read ``path`` (a sysctl: it shows the reader's namespace) from the netns of ``pid``."""
    res = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "cat", path],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return res.stdout.strip()


def init_pid(pyoci: RuntimeCLI, cid: str) -> int:
    return int(pyoci.state(cid)["pid"])


class Created:
    """``create`` a container, and delete it (forcibly) whatever happens."""

    def __init__(self, pyoci: RuntimeCLI, bundle: Bundle, cid: str, *extra: str) -> None:
        self.pyoci = pyoci
        self.cid = cid
        self.res = pyoci("create", *extra, "--bundle", str(bundle.path), cid)

    def __enter__(self) -> Created:
        return self

    def __exit__(self, *_: object) -> None:
        self.pyoci("delete", "--force", self.cid)


# ------------------------------------------- symlinks out of the rootfs


def test_mount_destinations_through_symlinks_stay_in_the_rootfs(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path
) -> None:
    """An absolute and a ``..`` symlink in the image, pointing at a host directory."""
    host = workdir / "host-target"
    host.mkdir()
    (workdir / "vol").write_text("volume file\n")
    b = bundle_factory(
        ["cat", "/proc/self/mountinfo"],
        copy_rootfs=True,
        mutate=add_mounts(
            tmpfs("/abs/new-a"), tmpfs("/rel/new-r"), bind("/abs/file-b", workdir / "vol", "ro")
        ),
    )
    (b.rootfs / "abs").symlink_to(host)
    (b.rootfs / "rel").symlink_to("../" * 16 + str(host).lstrip("/"))
    res = pyoci("run", "--bundle", str(b.path), "links")
    assert tree(host) == [], "the runtime wrote to the host"
    assert mounts_under(str(host)) == []
    assert res.code == 0, res
    m = parse_mountinfo(res.out)
    for name in ("new-a", "new-r", "file-b"):
        assert f"{host}/{name}" in m, (name, sorted(m))  # the link's target, in the rootfs
    inside = b.rootfs / str(host).lstrip("/")
    assert (inside / "new-a").is_dir() and (inside / "file-b").is_file()


RENAME_EXCHANGE = 2


def test_symlink_swapped_in_during_setup(pyoci: RuntimeCLI, bundle_factory: Any,
                                         workdir: Path) -> None:  # fmt: skip
    """CVE-2021-30465 shape: while the runtime mounts, something keeps exchanging a
    directory on the way to the mount destinations with a symlink to the host."""
    host = workdir / "host-target"
    host.mkdir()
    for i in range(24):  # as in the container: a mount through the link would fit
        (host / f"m{i}").mkdir()
    before = tree(host)
    mounts = [tmpfs(f"/race/dir/m{i}") for i in range(24)]
    b = bundle_factory(["cat", "/proc/self/mountinfo"], copy_rootfs=True,
                       mutate=add_mounts(*mounts))  # fmt: skip
    race = b.rootfs / "race"
    (race / "dir").mkdir(parents=True)
    (race / "link").symlink_to(host)
    libc = ctypes.CDLL(None, use_errno=True)
    a, z = bytes(race / "dir"), bytes(race / "link")
    stop = threading.Event()
    swaps = [0]

    def swapper() -> None:
        while not stop.is_set():
            if libc.renameat2(-100, a, -100, z, RENAME_EXCHANGE) == 0:
                swaps[0] += 1

    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    results = []
    try:
        for i in range(6):
            results.append(pyoci("run", "--bundle", str(b.path), f"race{i}"))
    finally:
        stop.set()
        t.join()
    assert swaps[0] > 1000, swaps
    assert tree(host) == before, f"the runtime wrote to the host: {tree(host)}"
    assert mounts_under(str(host)) == []
    # done inside the rootfs (every mount visible in the container, under whichever
    # name the directory has by then) or refused with an error, never a crash
    done = [r for r in results if r.code == 0]
    assert done, results
    for res in results:
        assert res.code == 0 or "pyoci" in res.err, res
    for res in done:
        m = parse_mountinfo(res.out)
        names = sorted(p.rsplit("/", 1)[1] for p, e in m.items() if e.fstype == "tmpfs"
                       and p.rsplit("/", 1)[1].startswith("m"))  # fmt: skip
        assert names == sorted(f"m{i}" for i in range(24)), sorted(m)


# ---------------------------------------------------------- leaked fds


def test_cwd_through_proc_self_fd_is_an_error(pyoci: RuntimeCLI, bundle_factory: Any,
                                              workdir: Path) -> None:  # fmt: skip
    """CVE-2024-21626 shape: process.cwd = /proc/self/fd/N, N a host directory the
    runtime holds (here one leaked to it by its caller) or any fd of its own."""
    secret = workdir / "host-dir"
    secret.mkdir()
    (secret / "SECRET").write_text("host secret\n")
    leaked = os.open(secret, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for n in range(3, 13):
            b = bundle_factory(["sh", "-c", "pwd; ls; cat SECRET"],
                               mutate=lambda cfg, n=n: cfg["process"].update(
                                   cwd=f"/proc/self/fd/{n}"))  # fmt: skip
            res = pyoci("run", "--bundle", str(b.path), f"fd{n}", fds={9: leaked})
            assert "host secret" not in res.out and "SECRET" not in res.out, (n, res)
            assert res.code != 0 and "cwd" in res.err, (n, res)
    finally:
        os.close(leaked)


def _fds(out: str) -> dict[int, str]:
    found = {}
    for line in out.splitlines():
        num, _, target = line.partition(" ")
        if num.isdigit():
            found[int(num)] = target
    return found


def test_only_stdio_and_preserved_fds_reach_the_container(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path, probe: Path
) -> None:
    (workdir / "preserved").write_text("p\n")
    (workdir / "leaked").mkdir()
    (workdir / "leaked" / "HOSTMARK").write_text("host file\n")
    fds = {
        3: os.open(workdir / "preserved", os.O_RDONLY),
        4: os.open(workdir / "leaked", os.O_RDONLY | os.O_DIRECTORY),
        5: os.open(workdir / "preserved", os.O_RDONLY),
    }
    try:
        b = bundle_factory(["/probe", "fds"], mutate=with_probe(probe))
        res = pyoci("run", "--preserve-fds", "1", "--bundle", str(b.path), "fds", fds=fds)
        assert res.code == 0, res
        got = _fds(res.out)
        assert sorted(got) == [0, 1, 2, 3], got
        assert got[3] == str(workdir / "preserved")
        # exec: the same rule
        b2 = bundle_factory(["sleep", "30"], mutate=with_probe(probe))
        with Created(pyoci, b2, "fdexec") as c:
            assert c.res.code == 0, c.res
            res = pyoci("exec", "--preserve-fds", "1", "fdexec", "/probe", "fds", fds=fds)
            assert res.code == 0, res
            assert sorted(_fds(res.out)) == [0, 1, 2, 3], res.out
            res = pyoci("exec", "--cwd", "/proc/self/fd/4", "fdexec", "cat", "HOSTMARK", fds=fds)
            assert res.code != 0 and "host file" not in res.out, res
    finally:
        for fd in fds.values():
            os.close(fd)


# ------------------------------------------------ /proc/PID/exe, ptrace

PROBE_PID = (
    '{{ readlink /proc/{pid}/exe || echo readlink-failed; /probe openw /proc/{pid}/exe; '
    '/probe ptrace {pid}; cat /proc/{pid}/environ >/dev/null 2>&1 || echo environ-failed; }}'
)
DENIED = ["readlink-failed", "EACCES", "EPERM", "environ-failed"]


def _probe_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if not ln.startswith(("readlink:", "pid "))]


def test_init_before_start_is_out_of_reach(pyoci: RuntimeCLI, bundle_factory: Any,
                                           probe: Path) -> None:  # fmt: skip
    """CVE-2019-5736 shape: the init waits for ``start`` running host code in the
    container's namespaces, with the container's credentials: nothing in the
    container may ptrace it or open its exe."""
    b = bundle_factory(["true"], mutate=with_probe(probe))
    with Created(pyoci, b, "early") as c:
        assert c.res.code == 0, c.res
        res = pyoci("exec", "early", "sh", "-c", PROBE_PID.format(pid=1))
        assert _probe_lines(res.out) == DENIED, res


def test_exec_entering_process_is_out_of_reach(pyoci: RuntimeCLI, bundle_factory: Any,
                                               workdir: Path, probe: Path) -> None:  # fmt: skip
    """The process ``exec`` sends in runs host code in the container until execve.
    The container makes /etc/passwd a fifo, so that process blocks there (looking
    up HOME) while the container probes it."""
    out = workdir / "out"
    out.mkdir()
    script = (
        "rm -f /etc/passwd && mkfifo /etc/passwd && touch /out/ready; "
        "while :; do for d in /proc/[0-9]*; do p=${d#/proc/}; "
        '[ "$p" = 1 ] || [ "$p" = $$ ] && continue; '
        "if grep -q 'py[o]ci' /proc/$p/cmdline 2>/dev/null; then "
        + PROBE_PID.format(pid="$p") + " > /out/result 2>&1; echo > /etc/passwd; exit 0; "
        "fi; done; sleep 0.02; done"
    )
    mutate = mutations(with_probe(probe), add_mounts(bind("/out", out)))
    b = bundle_factory(["sh", "-c", script], copy_rootfs=True, mutate=mutate)
    with Created(pyoci, b, "victim") as c:
        assert c.res.code == 0, c.res
        pyoci("start", "victim", check=True)
        assert wait_for(lambda: (out / "ready").exists(), 10)
        exec_res = pyoci("exec", "victim", "true", timeout=30)
        assert wait_for(lambda: (out / "result").exists(), 10), exec_res
        time.sleep(0.2)
        assert _probe_lines((out / "result").read_text()) == DENIED, (out / "result").read_text()


def test_init_running_hooks_is_out_of_reach(pyoci: RuntimeCLI, bundle_factory: Any,
                                            workdir: Path, probe: Path) -> None:  # fmt: skip
    """A startContainer hook runs while the init (host code, the container's
    credentials) waits for it; a process exec'd into the created container probes
    the init meanwhile.  (prestart/createRuntime/poststart/poststop hooks run in
    the runtime's own PID namespace, out of the container's sight.)"""
    out = workdir / "out"
    out.mkdir()
    hook = {"path": "/bin/sh", "args": ["sh", "-c", (
        "touch /out/hook-running; i=0; "
        "while [ ! -e /out/probed ] && [ $i -lt 400 ]; do sleep 0.02; i=$((i+1)); done")]}
    prober = (
        "while [ ! -e /out/hook-running ]; do sleep 0.02; done; "
        + PROBE_PID.format(pid=1) + " > /out/result 2>&1; touch /out/probed"
    )

    def hooks(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"startContainer": [hook]}

    mutate = mutations(with_probe(probe), add_mounts(bind("/out", out)), hooks)
    b = bundle_factory(["sh", "-c", "echo main > /out/main"], mutate=mutate)
    with Created(pyoci, b, "hooked") as c:
        assert c.res.code == 0, c.res
        res = pyoci("exec", "--detach", "hooked", "sh", "-c", prober)
        assert res.code == 0, res
        pyoci("start", "hooked", check=True)
        assert wait_for(lambda: (out / "main").exists(), 20)
        assert _probe_lines((out / "result").read_text()) == DENIED, (out / "result").read_text()


# ------------------------------------------------------ masking with /dev/null


@pytest.mark.parametrize("fake", ["regular-file", "symlink", "zero-device"])
def test_masking_refuses_a_fake_dev_null(pyoci: RuntimeCLI, bundle_factory: Any,
                                         fake: str) -> None:  # fmt: skip
    """CVE-2025-31133 shape: /dev/null replaced after the runtime made it (here by a
    createContainer hook standing in for a racing process) before maskedPaths."""
    before = CORE_PATTERN.read_text()
    script = {
        "regular-file": "rm -f $R/dev/null && echo FAKE > $R/dev/null",
        "symlink": f"rm -f $R/dev/null && ln -s {CORE_PATTERN} $R/dev/null",
        "zero-device": "rm -f $R/dev/null && mknod $R/dev/null c 1 5",
    }[fake]
    b = bundle_factory(["sh", "-c", "cat /proc/keys; echo ran"])
    rootfs = os.path.realpath(b.rootfs)  # the hook runs in the init's mount namespace
    hook = {"path": "/bin/sh", "args": ["sh", "-c", script.replace("$R", rootfs)]}
    b.config["hooks"] = {"createContainer": [hook]}
    b.write()
    res = pyoci("run", "--bundle", str(b.path), f"mask-{fake}")
    assert res.code != 0 and "/dev/null is not the null device" in res.err, res
    assert "FAKE" not in res.out and "ran" not in res.out
    assert CORE_PATTERN.read_text() == before


@pytest.mark.parametrize("fake", ["symlink", "regular-file"])
def test_image_dev_null_without_a_dev_mount(pyoci: RuntimeCLI, bundle_factory: Any,
                                            fake: str) -> None:  # fmt: skip
    """The image's own /dev (no tmpfs on /dev) has a fake null: replaced or refused."""
    before = CORE_PATTERN.read_text()
    b = bundle_factory(["sh", "-c", "stat -c %F:%t:%T /dev/null; wc -c < /proc/keys"],
                       copy_rootfs=True, mutate=drop_mounts("/dev"))  # fmt: skip
    null = b.rootfs / "dev" / "null"
    if fake == "symlink":
        null.symlink_to(CORE_PATTERN)
    else:
        null.write_text("FAKE\n")
    res = pyoci("run", "--bundle", str(b.path), f"img-{fake}")
    assert CORE_PATTERN.read_text() == before
    if fake == "symlink":
        assert res.code != 0 and "/dev/null" in res.err, res
    else:
        assert res.code == 0, res
        assert res.out.split() == ["character", "special", "file:1:3", "0"], res


# -------------------------------------------------------------- /dev/console


class ConsoleSocket:
    """A --console-socket server that keeps the pty master it is sent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master = -1
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.server.settimeout(20)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            _msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
            if fds:
                self.master = fds[0]

    def read_all(self, timeout: float = 10) -> str:
        self.thread.join(timeout)
        assert self.master >= 0, "no pty master received"
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the slave side is closed
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def close(self) -> None:
        self.server.close()
        if self.master >= 0:
            os.close(self.master)


def terminal(cfg: dict[str, Any]) -> None:
    cfg["process"]["terminal"] = True


@pytest.mark.parametrize("target", ["/proc/sysrq-trigger", "/etc/hostname", "../proc/cmdline"])
def test_console_bind_target_is_verified(pyoci: RuntimeCLI, bundle_factory: Any,
                                         workdir: Path, target: str) -> None:  # fmt: skip
    """CVE-2025-52565 shape: the image's /dev/console is a symlink elsewhere (a procfs
    file, a file of the image): the console must not be mounted there."""
    b = bundle_factory(["true"], copy_rootfs=True, mutate=mutations(terminal, drop_mounts("/dev")))
    hostname = (b.rootfs / "etc" / "hostname").read_text()
    (b.rootfs / "dev" / "console").symlink_to(target)
    console = ConsoleSocket(workdir / "console.sock")
    try:
        res = pyoci("run", "--console-socket", str(console.path), "--bundle", str(b.path),
                    "console-link")  # fmt: skip
    finally:
        console.close()
    assert res.code != 0 and "/dev/console" in res.err, res
    assert (b.rootfs / "etc" / "hostname").read_text() == hostname


def test_console_is_the_pty_on_dev_console(pyoci: RuntimeCLI, bundle_factory: Any,
                                           workdir: Path) -> None:  # fmt: skip
    """The control: with a fresh /dev the console is the pts device, bound on /dev/console."""
    script = "stat -c %t /dev/console; grep -c ' /dev/console ' /proc/self/mountinfo"
    b = bundle_factory(["sh", "-c", script], mutate=terminal)
    console = ConsoleSocket(workdir / "console.sock")
    try:
        res = pyoci("create", "--console-socket", str(console.path), "--bundle", str(b.path),
                    "console-ok")  # fmt: skip
        assert res.code == 0, res
        pyoci("start", "console-ok", check=True)
        text = console.read_all()
    finally:
        console.close()
        pyoci("delete", "--force", "console-ok")
    assert text.split()[:2] == ["88", "1"], text  # major 136 (0x88), one mount


# ----------------------------------------------------------------- procfs


def test_sysctl_goes_to_the_real_procfs_under_a_bind_over_proc_sys(
    pyoci: RuntimeCLI, bundle_factory: Any, workdir: Path
) -> None:
    """CVE-2025-52881 shape: the config puts a host tree (or a tmpfs) over /proc/sys
    after mounting proc; the sysctl must not be written into it."""
    fake = workdir / "fake-sys"
    (fake / "net" / "ipv4").mkdir(parents=True)
    (fake / "net" / "ipv4" / "ip_forward").write_text("0\n")

    def sysctl(cfg: dict[str, Any]) -> None:
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}

    for i, over in enumerate([bind("/proc/sys", fake), tmpfs("/proc/sys")]):
        b = bundle_factory(["true"], mutate=mutations(add_mounts(over), sysctl))
        with Created(pyoci, b, f"sysctl{i}") as c:
            assert c.res.code == 0, c.res
            assert in_netns(init_pid(pyoci, f"sysctl{i}"), "/proc/sys/net/ipv4/ip_forward") == "1"
        assert (fake / "net" / "ipv4" / "ip_forward").read_text() == "0\n"
        assert tree(fake) == ["net", "net/ipv4", "net/ipv4/ip_forward"]


def test_procfs_writes_ignore_a_fake_proc(pyoci: RuntimeCLI, bundle_factory: Any) -> None:
    """The image makes /proc a symlink to a fake tree and the config mounts no proc:
    sysctl, oom_score_adj and the exec.fifo reopen all go to the real procfs."""

    def config(cfg: dict[str, Any]) -> None:
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        cfg["process"]["oomScoreAdj"] = 123
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "proc"]

    b = bundle_factory(["touch", "/started"], copy_rootfs=True, mutate=config)
    fake = b.rootfs / "fakeproc"
    files = ["sys/net/ipv4/ip_forward", "self/oom_score_adj", "1/oom_score_adj",
             "self/attr/exec", "1/attr/exec"]  # fmt: skip
    for rel in files:
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text("")
    (fake / "self" / "fd").mkdir()
    (b.rootfs / "proc").rmdir()
    (b.rootfs / "proc").symlink_to("fakeproc")
    with Created(pyoci, b, "fakeproc") as c:
        assert c.res.code == 0, c.res
        pid = init_pid(pyoci, "fakeproc")
        assert in_netns(pid, "/proc/sys/net/ipv4/ip_forward") == "1"
        assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "123"
        assert pyoci.state("fakeproc")["status"] == "created"
        assert not (b.rootfs / "started").exists(), "ran before start"
        pyoci("start", "fakeproc", check=True)
        assert wait_for(lambda: (b.rootfs / "started").exists(), 10)
    for rel in files:
        assert (fake / rel).read_text() == "", rel


# ---------------------------------------------------------------- keyring


def _session_keyring() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    serial = libc.syscall(ctypes.c_long(250), ctypes.c_long(0), ctypes.c_long(-3),
                          ctypes.c_long(0))  # SYS_keyctl (x86_64), GET_KEYRING_ID, session
    if serial < 0:
        pytest.skip(f"no session keyring here: {os.strerror(ctypes.get_errno())}")
    return int(serial)


def test_each_container_gets_its_own_session_keyring(
    pyoci: RuntimeCLI, bundle_factory: Any, probe: Path
) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the keyctl syscall number used here is x86_64's")
    host = _session_keyring()
    seen = {}
    for cid in ("keys-a", "keys-b"):
        b = bundle_factory(["/probe", "keyring"], mutate=with_probe(probe))
        res = pyoci("run", "--bundle", str(b.path), cid)
        assert res.code == 0, res
        serial, _, desc = res.out.strip().partition(" ")
        assert desc.startswith("keyring;") and desc.endswith(f";_ses.{cid}"), res.out
        seen[cid] = int(serial)
    assert seen["keys-a"] != seen["keys-b"] and host not in seen.values(), (host, seen)
    b = bundle_factory(["/probe", "keyring"], mutate=with_probe(probe))
    res = pyoci("run", "--no-new-keyring", "--bundle", str(b.path), "keys-host")
    assert res.code == 0 and int(res.out.split()[0]) == host, (host, res)


# ---------------------------------------------------------------- devices

LIST_DEVICES = (
    "for f in /dev/* /dev/*/*; do [ -L $f ] && continue; "
    "if [ -c $f ] || [ -b $f ]; then echo $f $(stat -c %t:%T $f); fi; done; "
    "echo ==; cat /proc/self/mountinfo"
)
DEFAULT_NODES = {"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7",
                 "/dev/random": "1:8", "/dev/urandom": "1:9", "/dev/tty": "5:0",
                 "/dev/pts/ptmx": "5:2"}  # fmt: skip


def _devices(out: str) -> tuple[dict[str, str], dict[str, Any]]:
    head, _, table = out.partition("==\n")
    nodes = {}
    for line in head.splitlines():
        path, _, num = line.partition(" ")
        major, _, minor = num.partition(":")
        nodes[path] = f"{int(major, 16)}:{int(minor, 16)}"
    return nodes, parse_mountinfo(table)


@pytest.mark.parametrize("userns", [False, True])
def test_only_default_and_configured_devices(pyoci: RuntimeCLI, bundle_factory: Any,
                                             userns: bool) -> None:  # fmt: skip
    def config(cfg: dict[str, Any]) -> None:
        cfg["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10,
                                    "minor": 229, "fileMode": 0o600}]  # fmt: skip
        cfg["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"})
        if userns:
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
            cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]

    b = bundle_factory(["sh", "-c", LIST_DEVICES], mutate=config)
    res = pyoci("run", "--bundle", str(b.path), f"devs{int(userns)}")
    assert res.code == 0, res
    nodes, mounts = _devices(res.out)
    assert nodes == {**DEFAULT_NODES, "/dev/fuse": "10:229"}, nodes
    dev = mounts["/dev"]
    assert dev.fstype == "tmpfs" and dev.root == "/", dev  # never the host's /dev
    # (masked paths are binds of /dev/null too: only /dev counts here)
    host_dev = [e for p, e in mounts.items() if e.fstype == "devtmpfs" and p.startswith("/dev/")]
    if userns:
        # mknod is not allowed: each node is a bind of the host's, never all of /dev
        want = [p for p in [*DEFAULT_NODES, "/dev/fuse"] if p != "/dev/pts/ptmx"]
        assert sorted((e.point, e.root) for e in host_dev) == sorted(
            (p, "/" + p.removeprefix("/dev/")) for p in want), host_dev  # fmt: skip
    else:
        assert host_dev == [], host_dev

