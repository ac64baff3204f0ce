"""The container process: caps, user, umask, rlimits, no_new_privs, oom, env/cwd, fds, signals."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from helpers import parse_status

pytestmark = pytest.mark.root

STATUS = "cat /proc/self/status"
CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
       "CAP_SYS_ADMIN": 21, "CAP_AUDIT_WRITE": 29}  # fmt: skip


def mask(*names: str) -> str:
    value = 0
    for n in names:
        value |= 1 << CAP[n]
    return f"{value:016x}"


def caps(cfg: dict[str, Any], **sets: list[str]) -> None:
    cfg["process"]["capabilities"] = {k: list(v) for k, v in sets.items()}


# ------------------------------------------------------------------ capabilities


def test_capabilities_as_root(run_sh: Any) -> None:
    """Root: permitted as configured, effective = permitted after execve (as runc)."""

    def mutate(cfg: dict[str, Any]) -> None:
        caps(cfg, bounding=["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"], effective=["CAP_KILL"],
             permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_KILL"], ambient=[])  # fmt: skip

    st = parse_status(run_sh(STATUS, mutate).out)
    assert st["CapBnd"] == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW")
    assert st["CapInh"] == mask("CAP_KILL")
    assert st["CapAmb"] == mask()
    # no_new_privs (on by default): execve cannot widen permitted beyond what it was
    assert st["CapPrm"] == st["CapEff"] == mask("CAP_CHOWN", "CAP_KILL")


def test_capabilities_as_user_with_ambient(run_sh: Any) -> None:
    """A non-root user keeps only the ambient set across execve: all five sets show."""

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        caps(cfg, bounding=["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
             effective=["CAP_NET_BIND_SERVICE", "CAP_KILL"],
             permitted=["CAP_NET_BIND_SERVICE", "CAP_KILL"],
             inheritable=["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
             ambient=["CAP_NET_BIND_SERVICE"])  # fmt: skip

    st = parse_status(run_sh(STATUS, mutate).out)
    assert st["CapBnd"] == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert st["CapInh"] == mask("CAP_NET_BIND_SERVICE", "CAP_CHOWN")
    assert st["CapAmb"] == mask("CAP_NET_BIND_SERVICE")
    assert st["CapPrm"] == st["CapEff"] == mask("CAP_NET_BIND_SERVICE")


def test_capabilities_as_user_without_ambient(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        caps(cfg, bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"])

    st = parse_status(run_sh(STATUS, mutate).out)
    assert st["CapPrm"] == st["CapEff"] == st["CapAmb"] == st["CapInh"] == mask()
    assert st["CapBnd"] == mask("CAP_KILL")


def test_capability_effect(run_sh: Any) -> None:
    """Without CAP_CHOWN root cannot chown; with it, it can."""
    script = "touch /tmp/f; chown 1000 /tmp/f 2>&1 && echo chowned"
    without = run_sh(script, lambda c: caps(c, bounding=["CAP_KILL"], effective=["CAP_KILL"],
                                            permitted=["CAP_KILL"]), check=False)  # fmt: skip
    assert "Operation not permitted" in without.out
    with_cap = run_sh(script, lambda c: caps(c, bounding=["CAP_CHOWN"], effective=["CAP_CHOWN"],
                                             permitted=["CAP_CHOWN"]))  # fmt: skip
    assert "chowned" in with_cap.out


def test_unknown_capability_is_rejected_or_ignored(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["true"], mutate=lambda c: c["process"]["capabilities"]["bounding"].append(
        "CAP_NO_SUCH_THING"))  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "badcap")
    # config.md: unknown names are an error (schema pattern) or ignored with a warning
    assert res.code in (0, 1)
    if res.code == 1:
        assert "CAP_NO_SUCH_THING" in res.err and len(res.err.strip().splitlines()) == 1


# ---------------------------------------------------------------- user and umask


def test_user_groups_umask(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 2000, 65534],
                                  "umask": 0o027}  # fmt: skip

    res = run_sh("id -u; id -g; umask; touch /tmp/u.$$ && stat -c %a /tmp/u.$$; " + STATUS, mutate)
    lines = res.out.splitlines()
    assert lines[:4] == ["1000", "1001", "0027", "640"]
    st = parse_status(res.out)
    assert st["Uid"].split() == ["1000"] * 4
    assert st["Gid"].split() == ["1001"] * 4
    assert sorted(int(g) for g in st["Groups"].split()) == [5, 2000, 65534]


def test_default_umask_and_root(run_sh: Any) -> None:
    res = run_sh("id -u; umask; " + STATUS)
    lines = res.out.splitlines()
    assert lines[:2] == ["0", "0022"]
    assert parse_status(res.out)["Groups"] == ""


# ----------------------------------------------------------------------- rlimits


def test_rlimits(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
            {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 8192},
        ]

    out = run_sh("cat /proc/self/limits", mutate).out
    limits = {ln[:26].strip(): ln[26:].split()[:2] for ln in out.splitlines()[1:]}
    assert limits["Max open files"] == ["512", "1024"]
    assert limits["Max core file size"] == ["0", "4096"]
    assert limits["Max processes"] == ["300", "400"]
    assert limits["Max msgqueue size"] == ["8192", "8192"]


def test_rlimit_above_hard_limit_fails_clearly(pyoci: Any, bundle_factory: Any,
                                               workdir: Path) -> None:  # fmt: skip
    """Raising a hard limit needs CAP_SYS_RESOURCE, which this runtime may not hold."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NOFILE hard limit is unlimited here")
    with open("/proc/self/status") as f:
        bnd = int(next(ln for ln in f if ln.startswith("CapBnd")).split()[1], 16)
    if bnd & (1 << 24):
        pytest.skip("this runtime holds CAP_SYS_RESOURCE: raising the hard limit would work")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard + 10}]

    b = bundle_factory(["true"], mutate=mutate)
    res = pyoci("run", "-b", str(b.path), "rlimit")
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "RLIMIT_NOFILE" in lines[0], res.err


# -------------------------------------------------------- no_new_privs, oom score


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(run_sh: Any, nnp: bool) -> None:
    st = parse_status(run_sh(STATUS, lambda c: c["process"].update(noNewPrivileges=nnp)).out)
    assert st["NoNewPrivs"] == ("1" if nnp else "0")


def test_oom_score_adj_inside_and_outside(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sleep", "100"], mutate=lambda c: c["process"].update(oomScoreAdj=567))
    pyoci("create", "-b", str(b.path), "oom", check=True)
    pid = pyoci.state("oom")["pid"]
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "567"
    pyoci("start", "oom", check=True)
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "567"
    pyoci("delete", "-f", "oom", check=True)
    # the runtime's own score is untouched
    assert Path("/proc/self/oom_score_adj").read_text().strip() != "567"


# ------------------------------------------------------------------ env and cwd


def test_env_cwd_home(run_sh: Any) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["process"]["env"] += ["FOO=bar baz", "EMPTY="]
        cfg["process"]["cwd"] = "/var"

    res = run_sh('echo "$FOO|$EMPTY|$HOME|$TERM"; pwd; env | sort', mutate)
    lines = res.out.splitlines()
    assert lines[0] == "bar baz||/root|xterm"
    assert lines[1] == "/var"
    env = dict(ln.split("=", 1) for ln in lines[2:] if "=" in ln)
    # only what the config gives (plus HOME and what sh sets itself)
    assert set(env) - {"HOME", "PWD", "SHLVL", "_", "OLDPWD"} == {"PATH", "TERM", "FOO", "EMPTY"}


def test_home_of_user_and_explicit_home(run_sh: Any) -> None:
    def as_user(cfg: dict[str, Any]) -> None:
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}

    assert run_sh("echo $HOME", as_user).out == "/home/user\n"

    def explicit(cfg: dict[str, Any]) -> None:
        cfg["process"]["env"].append("HOME=/custom")

    assert run_sh("echo $HOME", explicit).out == "/custom\n"

    def unknown(cfg: dict[str, Any]) -> None:
        cfg["process"]["user"] = {"uid": 4242, "gid": 4242}

    assert run_sh("echo $HOME", unknown).out == "/\n"


def test_missing_cwd_is_created(run_sh: Any) -> None:
    b = run_sh.bundle("pwd", lambda c: c["process"].update(cwd="/new/work/dir"), copy_rootfs=True)
    res = run_sh.rt("run", "-b", str(b.path), "cwd")
    assert res.out == "/new/work/dir\n", res
    assert (b.rootfs / "new/work/dir").is_dir()


def test_relative_executable_via_path_and_not_found(run_sh: Any, pyoci: Any,
                                                    bundle_factory: Any) -> None:  # fmt: skip
    assert run_sh("echo ok").out == "ok\n"  # "sh" found through PATH
    b = bundle_factory(["no-such-binary"])
    res = pyoci("run", "-b", str(b.path), "nobin")
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "no-such-binary" in lines[0]
    assert "executable file not found in $PATH" in lines[0]


def test_args_passed_verbatim(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["/bin/echo", "a b", "", "$HOME", "--flag", "*"])
    res = pyoci("run", "-b", str(b.path), "args")
    assert res.out == "a b  $HOME --flag *\n"


# --------------------------------------------------------------------------- fds


def test_only_stdio_reaches_the_container(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    leak = os.open(workdir / "leak", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        b = bundle_factory(["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"])
        # an inheritable fd 7 in the runtime (as a careless caller would leave one)
        res = pyoci("run", "-b", str(b.path), "fds", fds={7: leak})
    finally:
        os.close(leak)
    # 0 1 2 and the fd ls itself opens for the directory
    assert res.out.split() == ["0", "1", "2", "3"], res


def test_preserve_fds(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    (workdir / "a").write_text("first\n")
    (workdir / "b").write_text("second\n")
    (workdir / "c").write_text("not preserved\n")
    fds = [os.open(workdir / n, os.O_RDONLY) for n in "abc"]
    b = bundle_factory(["sh", "-c", "cat <&3; cat <&4; cat <&5 2>/dev/null || echo no-5"])
    try:
        res = pyoci("run", "--preserve-fds", "2", "-b", str(b.path), "pfds",
                    fds={3: fds[0], 4: fds[1], 5: fds[2]})  # fmt: skip
    finally:
        for fd in fds:
            os.close(fd)
    assert res.out == "first\nsecond\nno-5\n", res


def test_listen_fds(pyoci: Any, bundle_factory: Any, workdir: Path) -> None:
    """systemd socket activation: LISTEN_FDS fds after stdio are passed, LISTEN_PID=1."""
    (workdir / "s").write_text("socket-ish\n")
    (workdir / "t").write_text("beyond\n")
    fd = os.open(workdir / "s", os.O_RDONLY)
    fd2 = os.open(workdir / "t", os.O_RDONLY)
    script = 'echo "$LISTEN_FDS $LISTEN_PID"; cat <&3; cat <&4 || echo no-4'
    b = bundle_factory(["sh", "-c", script])
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    try:
        res = pyoci("run", "-b", str(b.path), "listen", fds={3: fd, 4: fd2}, env=env)
    finally:
        os.close(fd)
        os.close(fd2)
    assert res.out == "1 1\nsocket-ish\nno-4\n", res


# ------------------------------------------------------------------------ signals


def test_signals_reset_and_mask_cleared(pyoci: Any, bundle_factory: Any) -> None:
    """Dispositions and the mask of the runtime (and CPython's SIGPIPE ignore) do not leak."""

    def ignore_and_block() -> None:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGTERM})

    b = bundle_factory(["cat", "/proc/self/status"])
    res = pyoci("run", "-b", str(b.path), "sigs", preexec_fn=ignore_and_block)
    st = parse_status(res.out)
    assert st["SigIgn"] == "0000000000000000", st["SigIgn"]
    assert st["SigBlk"] == "0000000000000000", st["SigBlk"]
    assert st["SigCgt"] == "0000000000000000"


def test_stdin_reaches_the_container(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "read line; echo got:$line; cat"])
    res = pyoci("run", "-b", str(b.path), "stdin", input="hello\nrest\n")
    assert res.out == "got:hello\nrest\n"


def test_stderr_separate(pyoci: Any, bundle_factory: Any) -> None:
    b = bundle_factory(["sh", "-c", "echo out; echo err >&2"])
    res = pyoci("run", "-b", str(b.path), "stderr")
    assert res.out == "out\n" and res.err == "err\n"


def test_personality(run_sh: Any) -> None:
    expected = {"x86_64": "i686", "aarch64": "armv8l"}.get(os.uname().machine)
    if expected is None:
        pytest.skip(f"no LINUX32 name known for {os.uname().machine}")
    res = run_sh("uname -m", lambda c: c["linux"].update(personality={"domain": "LINUX32"}))
    assert res.out.strip() == expected
    assert run_sh("uname -m").out.strip() == os.uname().machine


def _session_keyrings() -> str:
    return Path("/proc/keys").read_text()


def test_session_keyring(pyoci: Any, bundle_factory: Any) -> None:
    """A new session keyring "_ses.<id>" per container unless --no-new-keyring."""
    a = bundle_factory(["sleep", "100"])
    b = bundle_factory(["sleep", "100"])
    pyoci("create", "-b", str(a.path), "kr-new", check=True)
    pyoci("create", "--no-new-keyring", "-b", str(b.path), "kr-none", check=True)
    keys = _session_keyrings()
    assert "_ses.kr-new" in keys
    assert "_ses.kr-none" not in keys
    pyoci("delete", "-f", "kr-new", check=True)
    pyoci("delete", "-f", "kr-none", check=True)


@pytest.mark.parametrize(
    "policy,shown",
    [({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
     ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
      "interleave=static:0"),
     ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
     ({"mode": "MPOL_LOCAL"}, "local")],
)  # fmt: skip
def test_memory_policy(run_sh: Any, policy: dict[str, Any], shown: str) -> None:
    if not Path("/proc/self/numa_maps").exists():
        pytest.skip("kernel without NUMA (no /proc/self/numa_maps)")
    res = run_sh("grep -E ' (heap|stack) ' /proc/self/numa_maps",
                 lambda c: c["linux"].update(memoryPolicy=policy))  # fmt: skip
    lines = res.out.splitlines()
    assert lines and all(ln.split()[1] == shown for ln in lines), res.out


def test_memory_policy_on_a_missing_node_fails_clearly(pyoci: Any, bundle_factory: Any,
                                                       workdir: Path) -> None:  # fmt: skip
    from helpers import leftovers

    b = bundle_factory(["true"], mutate=lambda c: c["linux"].update(
        memoryPolicy={"mode": "MPOL_BIND", "nodes": "1000"}))  # fmt: skip
    res = pyoci("run", "-b", str(b.path), "mpol")
    assert res.code == 1
    assert len(res.err.strip().splitlines()) == 1 and "memoryPolicy" in res.err, res
    assert not leftovers(pyoci, workdir)
