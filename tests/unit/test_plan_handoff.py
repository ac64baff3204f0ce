"""The PLAN message: what ``create`` prepares after forking stage 1 reaches it
whole (the fields, the seccomp program's bytes, the fds by SCM_RIGHTS)."""

from __future__ import annotations

import os

import pytest

from pyoci.process import sync
from pyoci.process.plan import LaunchPlan
from pyoci.seccomp.program import FLAG_NEW_LISTENER, SeccompProgram


def _plan() -> LaunchPlan:
    return LaunchPlan(container_id="c", config={"linux": {}}, bundle="/b", rootfs="")


def _same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _send_and_take(sent: LaunchPlan) -> LaunchPlan:
    parent, child = sync.SyncSocket.pair()
    try:
        payload, fds = sent.handoff()
        parent.send_fds(sync.PLAN, payload, fds)
        kind, got_payload, got_fds = child.recv_fds(2, 1 << 20)
        assert kind == sync.PLAN
        taken = _plan()
        taken.take_handoff(got_payload, got_fds)
        return taken
    finally:
        parent.close()
        child.close()


def test_everything_crosses_with_its_fds() -> None:
    sent = _plan()
    sent.rootfs = "/b/rootfs"
    sent.state_dir = "/run/pyoci/c"
    sent.fifo_path = "/run/pyoci/c/exec.fifo"
    # every byte value, newlines among them: the program follows the JSON head raw
    bpf = bytes(range(256)) * 40
    sent.seccomp = SeccompProgram(bpf, FLAG_NEW_LISTENER, "/run/agent.sock", "meta\ndata")
    console_r, console_w = os.pipe()
    cgroup = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sent.console_socket_fd = console_w
    sent.cgroup_fd = cgroup
    sent.cgroup_dir = "/sys/fs/cgroup/pyoci/c"
    sent.cgroup_tasks = ["/sys/fs/cgroup/cpu/pyoci/c/tasks", "/sys/fs/cgroup/memory/pyoci/c/tasks"]
    taken = _send_and_take(sent)
    try:
        assert (taken.rootfs, taken.state_dir) == ("/b/rootfs", sent.state_dir)
        assert taken.fifo_path == sent.fifo_path
        assert taken.seccomp is not None
        assert taken.seccomp.bpf == bpf
        assert taken.seccomp.flags == FLAG_NEW_LISTENER
        assert taken.seccomp.listener_path == "/run/agent.sock"
        assert taken.seccomp.listener_metadata == "meta\ndata"
        assert taken.cgroup_dir == sent.cgroup_dir and taken.cgroup_tasks == sent.cgroup_tasks
        # new fds (the kernel's copies), for the same files
        assert taken.console_socket_fd not in (-1, console_w)
        assert taken.cgroup_fd not in (-1, cgroup)
        assert _same_file(taken.console_socket_fd, console_w)
        assert _same_file(taken.cgroup_fd, cgroup)
    finally:
        for fd in (console_r, console_w, cgroup, taken.console_socket_fd, taken.cgroup_fd):
            os.close(fd)


def test_nothing_optional() -> None:
    """No console, no cgroup fd (v1 parent-moved, or no cgroup), no seccomp."""
    sent = _plan()
    sent.state_dir, sent.fifo_path = "/s", "/s/exec.fifo"
    taken = _send_and_take(sent)
    assert (taken.state_dir, taken.fifo_path) == ("/s", "/s/exec.fifo")
    assert taken.console_socket_fd == -1 and taken.cgroup_fd == -1
    assert taken.cgroup_dir == "" and taken.cgroup_tasks == [] and taken.seccomp is None


def test_only_the_cgroup_fd_is_the_cgroup_fd() -> None:
    """One fd, no console: it is the cgroup directory's, not the console's."""
    sent = _plan()
    cgroup = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sent.cgroup_fd, sent.cgroup_dir = cgroup, "/sys/fs/cgroup/x"
    taken = _send_and_take(sent)
    try:
        assert taken.console_socket_fd == -1 and _same_file(taken.cgroup_fd, cgroup)
    finally:
        os.close(cgroup)
        os.close(taken.cgroup_fd)


def test_fds_missing_is_an_error() -> None:
    """A head announcing fds that did not come is refused (and nothing leaks)."""
    sent = _plan()
    sent.console_socket_fd = 1  # announced...
    payload, _fds = sent.handoff()
    with pytest.raises(ValueError, match="0 fds"):
        _plan().take_handoff(payload, [])  # ...not received


def test_a_message_too_long_is_an_error() -> None:
    parent, child = sync.SyncSocket.pair()
    try:
        parent.send(sync.PLAN, b"x" * 5000)
        with pytest.raises(sync.SyncError, match="over 4096 bytes"):
            child.recv_fds(2, 4096)
    finally:
        parent.close()
        child.close()


def test_stage1_forked_late_closes_what_it_inherited() -> None:
    """Forked after the parent opened them (the fork server's shim), stage 1
    closes its copies of the parent's fds (the state lock among them)."""
    r, w = os.pipe()
    sent = _plan()
    payload, fds = sent.handoff([w])
    assert fds == []
    _plan().take_handoff(payload, fds)
    try:
        os.fstat(w)
        raise AssertionError("not closed")
    except OSError:
        pass
    assert os.read(r, 1) == b""  # the only write end is gone
    os.close(r)
