"""LSM labels and verified procfs writes, against fake procfs and sysfs trees.

No root needed: a ``ProcFS`` over a ``tmp_path`` tree, told to expect the
filesystem magic of that tree instead of procfs's, runs the same code the
init runs (strict openat2 beneath the handle, magic check of what it opened).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyoci import native
from pyoci.errors import NotSupported, SetupError
from pyoci.init import lsm, procfs
from pyoci.init.procfs import ProcFS
from pyoci.native import consts as c

PID = "4242"


def magic_of(path: Path) -> int:
    fd = os.open(path, os.O_PATH)
    try:
        return native.fstatfs_type(fd)
    finally:
        os.close(fd)


def make_proc(root: Path, *, apparmor: bool = False, apparmor_dir: bool = True,
              selinux: bool = False) -> Path:  # fmt: skip
    """A fake /proc: self -> PID, PID/attr/{exec,current}, filesystems."""
    proc = root / "proc"
    attr = proc / PID / "attr"
    attr.mkdir(parents=True)
    (proc / "self").symlink_to(PID)
    (attr / "exec").write_text("")
    (attr / "current").write_text("unconfined\n")
    if apparmor_dir:
        (attr / "apparmor").mkdir()
        (attr / "apparmor" / "exec").write_text("")
        if apparmor:
            (attr / "apparmor" / "current").write_text("unconfined\n")
    fs = "nodev\tsysfs\nnodev\tproc\nnodev\ttmpfs\n"
    if selinux:
        fs += "nodev\tselinuxfs\n"
    (proc / "filesystems").write_text(fs + "\text4\n")
    (proc / "sys" / "net" / "ipv4").mkdir(parents=True)
    (proc / "sys" / "net" / "ipv4" / "ip_forward").write_text("")
    return proc


def make_sys(root: Path, apparmor: str | None = None) -> Path:
    sys_root = root / "sys"
    sys_root.mkdir()
    if apparmor is not None:
        params = sys_root / "module" / "apparmor" / "parameters"
        params.mkdir(parents=True)
        (params / "enabled").write_text(apparmor + "\n")
    return sys_root


@pytest.fixture
def handles() -> Iterator[list[ProcFS]]:
    opened: list[ProcFS] = []
    yield opened
    for h in opened:
        h.close()


def fake(proc: Path, handles: list[ProcFS]) -> ProcFS:
    h = ProcFS.at(str(proc), magic=magic_of(proc), root_ino=None)
    handles.append(h)
    return h


def attr(proc: Path, name: str) -> str:
    return (proc / PID / "attr" / name).read_text()


# ---------------------------------------------------------------- AppArmor


def test_apparmor_profile_written_to_the_apparmor_exec_attribute(
    tmp_path: Path, handles: list[ProcFS]
) -> None:
    proc = make_proc(tmp_path, apparmor=True)
    lsm.apply_process_labels({"apparmorProfile": "docker-default"}, fake(proc, handles),
                             str(make_sys(tmp_path)))  # fmt: skip
    assert attr(proc, "apparmor/exec") == "exec docker-default"
    assert attr(proc, "exec") == ""


def test_apparmor_without_the_per_lsm_directory_uses_attr_exec(
    tmp_path: Path, handles: list[ProcFS]
) -> None:
    """Kernels before 5.8: /proc/PID/attr/exec, AppArmor known from the module parameter."""
    proc = make_proc(tmp_path, apparmor_dir=False)
    sys_root = make_sys(tmp_path, apparmor="Y")
    lsm.set_apparmor_exec("p1", fake(proc, handles), str(sys_root))
    assert attr(proc, "exec") == "exec p1"


@pytest.mark.parametrize("module", [None, "N"])
def test_apparmor_profile_without_apparmor_is_an_error(
    tmp_path: Path, handles: list[ProcFS], module: str | None
) -> None:
    proc = make_proc(tmp_path)  # attr/apparmor exists but does not answer: not active
    with pytest.raises(NotSupported, match="AppArmor is not enabled"):
        lsm.apply_process_labels({"apparmorProfile": "p"}, fake(proc, handles),
                                 str(make_sys(tmp_path, module)))  # fmt: skip
    assert attr(proc, "apparmor/exec") == "" and attr(proc, "exec") == ""


# ----------------------------------------------------------------- SELinux


def test_selinux_label_written_to_attr_exec(tmp_path: Path, handles: list[ProcFS]) -> None:
    proc = make_proc(tmp_path, selinux=True)
    label = "system_u:system_r:container_t:s0:c1,c2"
    lsm.apply_process_labels({"selinuxLabel": label}, fake(proc, handles), str(tmp_path))
    assert attr(proc, "exec") == label


def test_selinux_label_without_selinux_is_an_error(tmp_path: Path,
                                                   handles: list[ProcFS]) -> None:  # fmt: skip
    proc = make_proc(tmp_path)
    with pytest.raises(NotSupported, match="SELinux is not enabled"):
        lsm.apply_process_labels({"selinuxLabel": "x_t"}, fake(proc, handles), str(tmp_path))
    assert attr(proc, "exec") == ""


def test_no_labels_no_writes_no_checks(tmp_path: Path, handles: list[ProcFS]) -> None:
    proc = make_proc(tmp_path)
    lsm.apply_process_labels({"apparmorProfile": "", "selinuxLabel": None},
                             fake(proc, handles), str(tmp_path))  # fmt: skip
    assert attr(proc, "exec") == "" and attr(proc, "apparmor/exec") == ""


def test_attr_writes_refuse_a_symlinked_attribute(tmp_path: Path,
                                                  handles: list[ProcFS]) -> None:  # fmt: skip
    """CVE-2025-52881 shape: the attribute file redirected elsewhere."""
    proc = make_proc(tmp_path, selinux=True)
    target = tmp_path / "core_pattern"
    target.write_text("|/bin/false\n")
    (proc / PID / "attr" / "exec").unlink()
    (proc / PID / "attr" / "exec").symlink_to(target)
    with pytest.raises(SetupError, match="attr/exec"):
        lsm.set_selinux_exec("x_t", fake(proc, handles))
    assert target.read_text() == "|/bin/false\n"


def test_attr_writes_refuse_a_symlinked_directory(tmp_path: Path,
                                                  handles: list[ProcFS]) -> None:  # fmt: skip
    proc = make_proc(tmp_path, selinux=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "exec").write_text("")
    os.rename(proc / PID / "attr", tmp_path / "old-attr")
    (proc / PID / "attr").symlink_to(elsewhere)
    with pytest.raises(SetupError):
        lsm.set_selinux_exec("x_t", fake(proc, handles))
    assert (elsewhere / "exec").read_text() == ""


# -------------------------------------------------------------- mountLabel


def test_mount_label_requires_selinux(tmp_path: Path, handles: list[ProcFS]) -> None:
    proc = fake(make_proc(tmp_path), handles)
    assert lsm.mount_label({}, proc) == ""
    with pytest.raises(NotSupported, match=r"linux\.mountLabel"):
        lsm.mount_label({"mountLabel": "system_u:object_r:container_file_t:s0"}, proc)


def test_mount_label_with_selinux(tmp_path: Path, handles: list[ProcFS]) -> None:
    proc = fake(make_proc(tmp_path, selinux=True), handles)
    assert lsm.mount_label({"mountLabel": "l_t"}, proc) == "l_t"


@pytest.mark.parametrize(
    ("fstype", "data", "want"),
    [
        ("tmpfs", "mode=755", "x:object_r:y_t:s0:c1,c2"),
        ("devpts", "newinstance,gid=5", "x:object_r:y_t:s0:c1,c2"),
        ("mqueue", "", "x:object_r:y_t:s0:c1,c2"),
        ("ramfs", "", "x:object_r:y_t:s0:c1,c2"),
        ("proc", "", None),
        ("sysfs", "", None),
        ("cgroup", "cpu", None),
        ("cgroup2", "", None),
        ("tmpfs", "context=other_t,mode=755", None),  # the config's own context wins
        ("tmpfs", "rootcontext=other_t", None),
    ],
)
def test_mount_context(fstype: str, data: str, want: str | None) -> None:
    assert lsm.mount_context(fstype, data, "x:object_r:y_t:s0:c1,c2") == want
    assert lsm.mount_context(fstype, data, "") is None


class Recorder:
    """Stands in for the native mount calls of ``RootfsBuilder._fsmount``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def fsopen(self, fstype: str) -> int:
        self.calls.append(("fsopen", fstype))
        return os.open("/dev/null", os.O_RDONLY)

    def fsconfig_string(self, fd: int, key: str, value: str | None) -> None:
        self.calls.append(("fsconfig", key, value))

    def fsconfig_create(self, fd: int) -> None:
        self.calls.append(("create",))

    def fsmount(self, fd: int, attrs: int = 0) -> int:
        self.calls.append(("fsmount", attrs))
        return -1


@pytest.mark.parametrize(("fstype", "labelled"), [("tmpfs", True), ("devpts", True),
                                                  ("mqueue", True), ("proc", False)])  # fmt: skip
def test_fsmount_passes_the_mount_label(monkeypatch: pytest.MonkeyPatch, fstype: str,
                                        labelled: bool) -> None:  # fmt: skip
    from pyoci.init import rootfs

    rec = Recorder()
    for name in ("fsopen", "fsconfig_string", "fsconfig_create", "fsmount"):
        monkeypatch.setattr(rootfs.native, name, getattr(rec, name))
    builder = rootfs.RootfsBuilder({"mounts": []}, "/nonexistent", "/nonexistent",
                                   new_userns=False, cgroup_ns=False)  # fmt: skip
    builder.mount_label = "system_u:object_r:container_file_t:s0:c1,c2"
    builder._fsmount(fstype, fstype, c.MS_NOSUID, "mode=755")
    keys = [call[1:] for call in rec.calls if call[0] == "fsconfig"]
    assert keys[0] == ("source", fstype)
    if labelled:
        # right after the source, unquoted (fsconfig takes the value as is)
        assert keys[1] == ("context", "system_u:object_r:container_file_t:s0:c1,c2")
    else:
        assert "context" not in [k for k, _ in keys]
    assert ("mode", "755") in keys


# ------------------------------------------------------------ procfs handle


def test_sysctl_written_beneath_the_handle(tmp_path: Path, handles: list[ProcFS]) -> None:
    proc = make_proc(tmp_path)
    procfs.write_sysctl("net.ipv4.ip_forward", "1", fake(proc, handles))
    assert (proc / "sys/net/ipv4/ip_forward").read_text() == "1"


def test_sysctl_slash_form_names_the_same_file(tmp_path: Path, handles: list[ProcFS]) -> None:
    proc = make_proc(tmp_path)
    procfs.write_sysctl("net/ipv4/ip_forward", "0", fake(proc, handles))
    assert (proc / "sys/net/ipv4/ip_forward").read_text() == "0"


@pytest.mark.parametrize(
    "key", ["", "net..ipv4", "../x", "net.ipv4/../../x", "net/../vm/swappiness", "net\0x"]
)
def test_bad_sysctl_keys(tmp_path: Path, handles: list[ProcFS], key: str) -> None:
    with pytest.raises(SetupError):
        procfs.write_sysctl(key, "1", fake(make_proc(tmp_path), handles))


def test_sysctl_through_a_symlinked_directory_is_refused(
    tmp_path: Path, handles: list[ProcFS]
) -> None:
    proc = make_proc(tmp_path)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "ip_forward").write_text("0\n")
    os.rename(proc / "sys/net/ipv4", tmp_path / "real-ipv4")
    (proc / "sys/net/ipv4").symlink_to(decoy)
    with pytest.raises(SetupError, match="ip_forward"):
        procfs.write_sysctl("net.ipv4.ip_forward", "1", fake(proc, handles))
    assert (decoy / "ip_forward").read_text() == "0\n"


def test_a_tree_that_is_not_procfs_is_refused(tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    with pytest.raises(SetupError, match="not the root of a procfs"):
        ProcFS.at(str(proc))  # expects procfs's magic
    with pytest.raises(SetupError, match="not a procfs"):
        ProcFS.at(str(tmp_path / "missing"))


def test_proc_as_a_symlink_is_refused(tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    (tmp_path / "link").symlink_to(proc)
    with pytest.raises(SetupError):
        ProcFS.at(str(tmp_path / "link"), magic=magic_of(proc), root_ino=None)


def test_a_procfs_subdirectory_is_not_a_procfs_root() -> None:
    """/proc/sys bind-mounted on /proc, say: the magic matches, the root inode does not."""
    with pytest.raises(SetupError, match="not the root of a procfs"):
        ProcFS.at("/proc/sys")
    h = ProcFS.at("/proc")
    try:
        assert h.self_pid() == str(os.getpid())
    finally:
        h.close()


def test_the_real_procfs_handle_writes_our_own_files() -> None:
    h = ProcFS.at("/proc")
    try:
        before = Path("/proc/self/oom_score_adj").read_text().strip()
        h.write_self("oom_score_adj", before)  # a no-op write, through the handle
        fd = h.reopen_own_fd(0, os.O_RDONLY)
        os.close(fd)
        assert h.magic == c.PROC_SUPER_MAGIC
    finally:
        h.close()


def test_handle_is_not_reused_across_fork() -> None:
    h = procfs.handle()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            ok = procfs.handle() is not h and procfs.handle().self_pid() == str(os.getpid())
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1"
    os.close(r)
