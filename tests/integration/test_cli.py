"""The runc-compatible command line: global flags, flag syntaxes, --version, spec, features."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import RuntimeCLI, log_lines, pyoci_binary

from pyoci.spec.validate import validate_config, validate_features


def raw(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return subprocess.run([pyoci_binary(), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=30)  # fmt: skip


def test_version_three_lines() -> None:
    for flag in ("--version", "-v", "-version"):
        res = raw(flag)
        assert res.returncode == 0
        lines = res.stdout.splitlines()
        assert len(lines) == 3, res.stdout
        assert lines[0].startswith("pyoci version ")
        assert lines[1].startswith("commit: ") and len(lines[1]) > len("commit: ")
        assert lines[2] == "spec: 1.3.0"


def test_help() -> None:
    res = raw("--help")
    assert res.returncode == 0 and "USAGE" in res.stdout
    for verb in ("create", "start", "run", "state", "kill", "delete", "list", "spec", "features"):
        assert f"   {verb} " in res.stdout, verb
        sub = raw(verb, "--help")
        assert sub.returncode == 0 and "USAGE" in sub.stdout, verb


@pytest.mark.parametrize("argv", [["--bogus", "list"], ["list", "--bogus"], ["frobnicate"],
                                  ["--log-format", "xml", "list"], ["kill"],
                                  ["--rootless", "maybe", "list"]])  # fmt: skip
def test_usage_errors(argv: list[str], workdir: Path) -> None:
    res = raw("--root", str(workdir / "r"), *argv)
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stdout == ""


@pytest.mark.root
def test_flag_syntaxes(bundle_factory: Any, workdir: Path) -> None:
    """--flag value, --flag=value, -flag value, -flag=value, short aliases, flags after args."""
    root = workdir / "root"
    bs = [bundle_factory(["sleep", "100"]) for _ in range(6)]  # one cgroup each
    log = workdir / "l.json"
    forms = [
        ["--root", str(root), "--log", str(log), "--log-format", "json",
         "create", "--bundle", str(bs[0].path), "--pid-file", str(workdir / "p1"), "f1"],
        [f"--root={root}", f"--log={log}", "--log-format=json",
         "create", f"--bundle={bs[1].path}", f"--pid-file={workdir / 'p2'}", "f2"],
        ["-root", str(root), "-log", str(log), "-log-format", "json",
         "create", "-bundle", str(bs[2].path), "-pid-file", str(workdir / "p3"), "f3"],
        [f"-root={root}", "create", f"-bundle={bs[3].path}", "f4"],
        ["--root", str(root), "create", "-b", str(bs[4].path), "f5"],
        # urfave reorders flags given after the positional argument
        ["--root", str(root), "create", "f6", "--bundle", str(bs[5].path)],
    ]  # fmt: skip
    rt = RuntimeCLI(pyoci_binary(), root, name="pyoci")
    try:
        for n, argv in enumerate(forms, 1):
            with open(workdir / "out", "w") as out, open(workdir / "err", "w+") as err:
                # files: the container inherits the runtime's stdio
                res = subprocess.run([pyoci_binary(), *argv], stdout=out, stderr=err,
                                     timeout=30)  # fmt: skip
                err.seek(0)
                assert res.returncode == 0, (argv, err.read())
            assert rt.state(f"f{n}")["status"] == "created"
        for n in (1, 2, 3):
            assert (workdir / f"p{n}").read_text() == str(rt.state(f"f{n}")["pid"])
        # boolean flag forms
        assert rt("delete", "-f", "f1").code == 0
        assert rt("delete", "--force", "f2").code == 0
        assert rt("delete", "--force=true", "f3").code == 0
        assert rt("delete", "-force", "f4").code == 0
        assert rt("delete", "f5", "--force").code == 0
        assert rt("delete", "--force=false", "f6").code == 1  # created: not stopped
        assert rt("kill", "f6", "KILL").code == 0
        assert rt("kill", "--all", "f6", "KILL").code in (0, 1)
    finally:
        rt.cleanup()
    assert not [p for p in root.iterdir()] if root.exists() else True


def test_default_root(workdir: Path) -> None:
    """Root: /run/pyoci; not root: $XDG_RUNTIME_DIR/pyoci (list of an empty root works)."""
    env = dict(os.environ, XDG_RUNTIME_DIR=str(workdir))
    res = raw("list", "-q", env=env)
    assert res.returncode == 0
    if os.geteuid() != 0:
        assert (workdir / "pyoci").exists() or res.stdout == ""


def test_log_json_and_debug(workdir: Path) -> None:
    log = workdir / "log.json"
    res = raw("--root", str(workdir / "r"), "--log", str(log), "--log-format", "json",
              "--debug", "state", "ghost")  # fmt: skip
    assert res.returncode == 1
    lines = log_lines(log)
    assert lines[-1]["level"] == "error"
    assert lines[-1]["msg"] == "container ghost does not exist"
    assert any(ln["level"] == "debug" for ln in lines), lines


# ------------------------------------------------------------------------- spec


@pytest.mark.parametrize("rootless", [False, True])
def test_spec(workdir: Path, rootless: bool) -> None:
    args = ["spec", "--rootless"] if rootless else ["spec"]
    res = raw(*args, cwd=workdir)
    assert res.returncode == 0 and res.stdout == "", res
    cfg = json.loads((workdir / "config.json").read_text())
    assert validate_config(cfg) == []
    assert cfg["ociVersion"] == "1.3.0"
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert cfg["process"]["terminal"] is True and cfg["process"]["args"] == ["sh"]
    types = [ns["type"] for ns in cfg["linux"]["namespaces"]]
    if rootless:
        assert "user" in types and "network" not in types
        assert cfg["linux"]["uidMappings"] == [
            {"containerID": 0, "hostID": os.geteuid(), "size": 1}]  # fmt: skip
        assert "resources" not in cfg["linux"]
        sys_mount = next(m for m in cfg["mounts"] if m["destination"] == "/sys")
        assert sys_mount["type"] == "none" and "rbind" in sys_mount["options"]
        pts = next(m for m in cfg["mounts"] if m["destination"] == "/dev/pts")
        assert not any(o.startswith("gid=") for o in pts["options"])
    else:
        assert "user" not in types and {"pid", "network", "ipc", "uts", "mount"} <= set(types)
    # an existing config.json is not overwritten
    again = raw(*args, cwd=workdir)
    assert again.returncode == 1 and "exists" in again.stderr
    # --bundle writes there
    other = workdir / "other"
    other.mkdir()
    assert raw(*args, "--bundle", str(other)).returncode == 0
    assert json.loads((other / "config.json").read_text()) == cfg


# --------------------------------------------------------------------- features


def _features() -> dict[str, Any]:
    res = raw("features")
    assert res.returncode == 0, res
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_features_document_is_valid() -> None:
    doc = _features()
    assert validate_features(doc) == []
    assert doc["ociVersionMax"] == "1.3.0"
    assert doc["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                            "poststart", "poststop"]  # fmt: skip
    linux = doc["linux"]
    assert sorted(linux["namespaces"]) == sorted(
        ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"])  # fmt: skip
    assert "CAP_CHECKPOINT_RESTORE" in linux["capabilities"]
    assert linux["cgroup"]["v1"] and linux["cgroup"]["v2"]
    assert linux["cgroup"]["systemd"] is True  # test_systemd_cli.py, tests/systemd/
    assert linux["cgroup"]["systemdUser"] is True
    assert linux["mountExtensions"]["idmap"]["enabled"] is True
    seccomp = linux["seccomp"]
    assert seccomp["enabled"] is True
    assert {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_NOTIFY"} <= set(
        seccomp["actions"])  # fmt: skip
    assert "SCMP_CMP_MASKED_EQ" in seccomp["operators"]
    assert "SCMP_ARCH_X86_64" in seccomp["archs"] or "SCMP_ARCH_AARCH64" in seccomp["archs"]
    assert set(seccomp["supportedFlags"]) <= set(seccomp["knownFlags"])
    assert set(linux["memoryPolicy"]["modes"]) == {
        "MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
        "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"}  # fmt: skip
    assert set(linux["memoryPolicy"]["flags"]) == {
        "MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"}  # fmt: skip
    assert linux["intelRdt"] == {"enabled": False}


@pytest.mark.root
def test_every_listed_mount_option_is_accepted(run_sh: Any, workdir: Path) -> None:
    """features is truthful: one container with a tmpfs (or a bind) per listed option."""
    options = _features()["mountOptions"]
    src = workdir / "src"
    src.mkdir()
    bind_only = {"bind", "rbind", "idmap", "ridmap"}

    def mutate(cfg: dict[str, Any]) -> None:
        for n, opt in enumerate(options):
            dest = f"/opt{n}"
            if opt in bind_only:
                m: dict[str, Any] = {"destination": dest, "type": "bind", "source": str(src),
                                     "options": ["rbind" if opt == "ridmap" else "bind", opt]}
                if opt in ("idmap", "ridmap"):
                    ids = [{"containerID": 0, "hostID": 1000, "size": 10}]
                    m["uidMappings"] = ids
                    m["gidMappings"] = ids
            elif opt == "remount":  # of the mount already there
                cfg["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs"})
                m = {"destination": dest, "type": "tmpfs", "source": "tmpfs",
                     "options": ["remount", "ro"]}  # fmt: skip
            else:
                m = {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [opt]}
            cfg["mounts"].append(m)

    res = run_sh("grep -c ' /opt' /proc/self/mountinfo", mutate, copy_rootfs=True, check=False)
    assert res.code == 0, res
    assert int(res.out) >= len(options)


@pytest.mark.root
def test_features_namespaces_all_work(run_sh: Any, workdir: Path) -> None:
    """Every namespace features lists can be asked for at once."""
    workdir.chmod(0o755)

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"] = [{"type": t} for t in _features()["linux"]["namespaces"]]
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]

    assert run_sh("echo ok", mutate).out == "ok\n"
