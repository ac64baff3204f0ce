"""Shared test helpers: a busybox rootfs, bundles, and a runtime under test.

The runtime under test is the installed ``pyoci`` command (``PYOCI_BINARY``,
else ``pyoci`` next to the test interpreter, else on PATH).  ``runc`` is
driven through the same ``RuntimeCLI`` for differential tests.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
SESSION = uuid.uuid4().hex[:8]
# Every cgroup a test creates lives under this parent (removed at the end).
CGROUP_PARENT = f"/pyoci-test-{SESSION}"


def pyoci_binary() -> str:
    env = os.environ.get("PYOCI_BINARY")
    if env:
        return env
    here = Path(sys.executable).parent / "pyoci"
    if here.exists():
        return str(here)
    found = shutil.which("pyoci")
    if found:
        return found
    raise RuntimeError("pyoci is not installed: run `pip install .` (see README)")


def build_busybox_rootfs(dest: Path) -> Path:
    """A minimal rootfs: /bin/busybox with every applet as a symlink, /etc files."""
    if (dest / "bin" / "busybox").exists():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user", "var", "run"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    os.chmod(tmp / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, tmp / "bin" / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        link = tmp / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (tmp / "sbin").symlink_to("bin")
    (tmp / "usr").mkdir()
    (tmp / "usr" / "bin").symlink_to("../bin")
    (tmp / "usr" / "sbin").symlink_to("../bin")
    (tmp / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (tmp / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n")
    (tmp / "etc" / "hostname").write_text("rootfs\n")
    try:
        tmp.rename(dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another worker won the race
    return dest


def base_config(args: list[str] | None = None) -> dict[str, Any]:
    """``pyoci spec`` made test-friendly: no terminal, a cgroup under the test parent."""
    from pyoci.spec.default import default_config

    cfg = default_config()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args or ["true"]
    cfg["root"]["readonly"] = False
    return cfg


class Bundle:
    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=2))
        return self


def make_bundle(
    base: Path,
    rootfs: Path,
    args: list[str] | None = None,
    *,
    copy_rootfs: bool = False,
    cgroup: bool = True,
    name: str = "bundle",
    mutate: Any = None,
) -> Bundle:
    """A bundle dir under ``base``; the rootfs is a symlink to the shared one unless copied."""
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    if copy_rootfs:
        shutil.copytree(rootfs, path / "rootfs", symlinks=True)
    else:
        (path / "rootfs").symlink_to(rootfs)
    cfg = base_config(args)
    if cgroup:
        cfg["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{path.parent.name}-{name}"
    if mutate is not None:
        mutate(cfg)
    return Bundle(path, copy.deepcopy(cfg)).write()


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


def _fd_setup(fds: dict[int, int], then: Any) -> Any:
    """A preexec_fn placing fds at given numbers (close_fds is off: the rest is CLOEXEC)."""

    def setup() -> None:
        high = {target: os.dup(src) for target, src in fds.items()}  # no clobbering
        for target, fd in high.items():
            os.dup2(fd, target, inheritable=True)
            os.close(fd)
        if then is not None:
            then()

    return setup


class RuntimeCLI:
    """Runs one OCI runtime binary with its own state root and log file."""

    def __init__(self, binary: str, root: Path, log: Path | None = None, name: str = "") -> None:
        self.binary = binary
        self.root = root
        self.log = log
        self.name = name or Path(binary).name

    def global_args(self) -> list[str]:
        args = [self.binary, "--root", str(self.root)]
        if self.log is not None:
            args += ["--log", str(self.log), "--log-format", "json"]
        return args

    def __call__(
        self,
        *args: str,
        timeout: float = 30,
        input: str | None = None,
        check: bool = False,
        stdin: int | None = None,
        env: dict[str, str] | None = None,
        fds: dict[int, int] | None = None,
        preexec_fn: Any = None,
        stdout: Any = None,
    ) -> Result:
        """Run the runtime; ``fds`` = {fd number in the runtime: fd here} to hand it;
        ``stdout``: a file for the runtime's (and so the container's) stdout."""
        # Files, not pipes: a container inherits the runtime's stdio (create, run -d)
        # and would hold a pipe open long after the runtime has exited.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                self.global_args() + list(args),
                stdout=out if stdout is None else stdout,
                stderr=err,
                timeout=timeout,
                input=input.encode() if input is not None else None,
                stdin=stdin if input is None else None,
                env=env,
                close_fds=not fds,
                preexec_fn=_fd_setup(fds, preexec_fn) if fds else preexec_fn,
            )
            out.seek(0)
            err.seek(0)
            res = Result(proc.returncode, out.read().decode(errors="replace"),
                         err.read().decode(errors="replace"))  # fmt: skip
        if check and res.code != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} failed: {res}")
        return res

    def state(self, cid: str) -> dict[str, Any]:
        res = self("state", cid, check=True)
        doc: dict[str, Any] = json.loads(res.out)
        return doc

    def run_capture(self, cid: str, bundle: Bundle, timeout: float = 30) -> Result:
        """``run`` in the foreground, capturing the container's stdout/stderr."""
        return self("run", "--bundle", str(bundle.path), cid, timeout=timeout)

    def cleanup(self) -> None:
        """Force-delete everything left under this root."""
        if not self.root.exists():
            return
        for entry in self.root.iterdir():
            if entry.is_dir():
                self("delete", "--force", entry.name, timeout=30)


def mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(prefix):
                out.append(mp)
    return out


def cgroup_dirs_of_session() -> list[str]:
    found = []
    base = Path("/sys/fs/cgroup")
    if not base.exists():
        return found
    for hier in base.iterdir():
        d = hier / CGROUP_PARENT.lstrip("/")
        if d.exists():
            for sub in d.rglob("*"):
                if sub.is_dir():
                    found.append(str(sub))
    return found


def rmdir_cgroup_tree(d: Path) -> None:
    """rmdir ``d`` and the cgroups below it, deepest first (busy ones stay)."""
    subs = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for sub in [*subs, d]:
        try:
            sub.rmdir()
        except OSError:
            pass


def remove_session_cgroups() -> None:
    base = Path("/sys/fs/cgroup")
    for hier in base.iterdir() if base.exists() else []:
        d = hier / CGROUP_PARENT.lstrip("/")
        if d.exists():
            rmdir_cgroup_tree(d)


# ------------------------------------------------------------ inspection helpers


def key_paths(doc: Any, prefix: str = "") -> set[str]:
    """Every key of a JSON document as a dotted path (list items as ``[]``)."""
    out = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.add(prefix + k)
            out |= key_paths(v, prefix + k + ".")
    elif isinstance(doc, list):
        for v in doc:
            out |= key_paths(v, prefix + "[].")
    return out


def seccomp_profile(*rules: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A ``linux.seccomp`` allowing all but ``rules`` (``kw`` adds or overrides keys)."""
    doc: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}
    doc.update(kw)
    return doc


def seccomp_rule(names: list[str], action: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"names": names, "action": action}
    doc.update(kw)
    return doc


def sh(script: str) -> list[str]:
    """Container args running ``script`` in busybox sh."""
    return ["sh", "-c", script]


def pids_with_cmdline(text: str) -> list[int]:
    """Host pids whose command line contains ``text`` (e.g. a private --root)."""
    found = []
    needle = text.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry))
    return found


def proc_status(pid: int | str = "self") -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def parse_status(text: str) -> dict[str, str]:
    """``key: value`` lines (the format of /proc/PID/status) into a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _unescape_mount(s: str) -> str:
    return s.encode().decode("unicode_escape") if "\\" in s else s


class MountEntry:
    """One line of /proc/PID/mountinfo."""

    def __init__(self, line: str) -> None:
        left, _, right = line.partition(" - ")
        f = left.split()
        self.root = _unescape_mount(f[3])
        self.point = _unescape_mount(f[4])
        self.options = set(f[5].split(","))
        self.optional = f[6:]
        r = right.split()
        self.fstype = r[0]
        self.source = r[1]
        self.super_options = set(r[2].split(",")) if len(r) > 2 else set()

    @property
    def propagation(self) -> set[str]:
        """{'shared', 'master', 'unbindable'} tags present (peer group numbers dropped)."""
        return {tag.split(":")[0] for tag in self.optional}

    def __repr__(self) -> str:
        return (
            f"MountEntry({self.point!r}, {self.fstype}, opts={sorted(self.options)}, "
            f"super={sorted(self.super_options)}, optional={self.optional})"
        )


def parse_mountinfo(text: str) -> dict[str, MountEntry]:
    """Mount point -> its (topmost) entry."""
    out: dict[str, MountEntry] = {}
    for line in text.splitlines():
        if " - " in line:
            e = MountEntry(line)
            out[e.point] = e
    return out


def sections(text: str) -> dict[str, str]:
    """Split output made of ``== name`` headers into {name: body}."""
    out: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith("== "):
            name = line[3:].strip()
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


def log_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh isolated interpreter has loaded after running ``code``."""
    code += "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    res = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return set(res.stdout.split())


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.01) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def cgroup_dirs_with_prefix(prefix: str) -> list[str]:
    """Cgroup dirs of this session whose name starts with ``prefix`` (one test's bundles)."""
    return [d for d in cgroup_dirs_of_session() if Path(d).name.startswith(prefix)]


def leftovers(rt: RuntimeCLI, workdir: Path) -> list[str]:
    """What a runtime left behind for one test: state dirs, processes, mounts, cgroups."""
    problems = []
    if rt.root.exists():
        names = [p.name for p in rt.root.iterdir()]  # nothing but containers, ever
        if names:
            problems.append(f"in the state root: {names}")
    procs = pids_with_cmdline(str(rt.root))
    if procs:
        problems.append(f"processes: {procs}")
    mounts = mounts_under(str(workdir))
    if mounts:
        problems.append(f"mounts: {mounts}")
    cgroups = cgroup_dirs_with_prefix(workdir.name + "-")
    if cgroups:
        problems.append(f"cgroups: {cgroups}")
    return problems


def remove_new_empty_dirs(path: Path, existed: bool) -> None:
    """Undo a directory that tools create as a side effect (``ip netns`` makes and
    mounts /run/netns, containerd /run/containerd/s, dockerd /run/docker): if
    it was not there before and nothing is left in it, unmount and remove it."""
    if existed or not path.is_dir():
        return
    if any(p.is_file() or p.is_symlink() for p in path.rglob("*")):
        return
    if str(path) in mounts_under(str(path)):
        subprocess.run(["umount", str(path)], check=False)
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        sub.rmdir()
    path.rmdir()
