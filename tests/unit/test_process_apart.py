"""pyoci.process.apart: a step run in a child comes back as if it ran in place."""

from __future__ import annotations

import os
import signal

import pytest

from pyoci import errors
from pyoci.process.apart import call_apart


def test_the_result_comes_back_and_the_step_ran_in_another_process() -> None:
    me = os.getpid()
    assert call_apart(lambda: str(os.getpid()).encode(), "test") not in (b"", str(me).encode())
    assert call_apart(lambda: b"x" * 300_000, "test") == b"x" * 300_000  # > a pipe's buffer


def test_the_steps_error_is_raised_again_with_its_class_and_message() -> None:
    def bad_config() -> bytes:
        raise errors.ConfigError(["first problem", "second problem"])

    with pytest.raises(errors.ConfigError) as info:
        call_apart(bad_config, "test")
    assert str(info.value) == "first problem\nsecond problem"
    assert info.value.problems == ["first problem", "second problem"]

    def missing() -> bytes:
        raise errors.ContainerNotFound("abc")

    with pytest.raises(errors.ContainerNotFound, match="container abc does not exist"):
        call_apart(missing, "test")


def test_a_bug_in_the_step_is_one_internal_error_line() -> None:
    def bug() -> bytes:
        raise KeyError("oops")

    with pytest.raises(errors.PyociError, match=r"internal error: KeyError: 'oops'"):
        call_apart(bug, "test")


def test_a_child_that_dies_without_answering_is_an_error() -> None:
    def die() -> bytes:
        os.kill(os.getpid(), signal.SIGKILL)
        return b""

    with pytest.raises(errors.SetupError, match="the child process ended without an answer"):
        call_apart(die, "test step")


def test_the_child_is_reaped() -> None:
    child = int(call_apart(lambda: str(os.getpid()).encode(), "test"))
    with pytest.raises(ChildProcessError):  # not ours any more: already waited for
        os.waitpid(child, os.WNOHANG)
