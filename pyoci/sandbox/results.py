"""What an embedded run returns and raises: subclasses of the ``subprocess``
types, so code written for ``subprocess.run`` keeps working."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

from pyoci.errors import PyociError, SetupError


class Completed(subprocess.CompletedProcess[Any]):
    """``subprocess.CompletedProcess`` plus the container's accounting.

    ``returncode`` is negative (``-N``) when the process died of signal N, as
    in ``subprocess``; ``signal`` is N then, else None.  ``oom_killed`` comes
    from the cgroup's OOM-kill count, ``memory_peak`` (bytes, None where the
    kernel does not report it) and ``cpu_time`` (seconds, user + system of
    every process of the container) from its accounting; ``duration`` is the
    wall-clock time from the request to the deletion.  ``truncated``: the
    output passed ``max_output`` and the container was killed (``-9``).
    """

    def __init__(
        self,
        args: Any,
        returncode: int,
        stdout: Any = None,
        stderr: Any = None,
        *,
        id: str = "",
        timed_out: bool = False,
        truncated: bool = False,
        oom_killed: bool = False,
        memory_peak: int | None = None,
        cpu_time: float = 0.0,
        duration: float = 0.0,
    ) -> None:
        super().__init__(args, returncode, stdout, stderr)
        self.id = id
        self.timed_out = timed_out
        self.truncated = truncated
        self.oom_killed = oom_killed
        self.memory_peak = memory_peak
        self.cpu_time = cpu_time
        self.duration = duration

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None

    def check_returncode(self) -> None:
        if self.returncode:
            raise CalledProcessError(self.returncode, self.args, self.stdout, self.stderr, self)

    def __repr__(self) -> str:
        return (
            f"Completed(args={self.args!r}, returncode={self.returncode}, "
            f"timed_out={self.timed_out}, truncated={self.truncated}, "
            f"oom_killed={self.oom_killed}, "
            f"memory_peak={self.memory_peak}, cpu_time={self.cpu_time:.3f}, "
            f"duration={self.duration:.3f})"
        )


class TimeoutExpired(subprocess.TimeoutExpired, PyociError):
    """The timeout passed.  From ``run()``: the container was killed and deleted,
    ``stdout``/``stderr`` hold what it wrote before, ``result`` the rest.
    From ``Container.wait()``/``communicate()``: it keeps running."""

    def __init__(
        self,
        cmd: Any,
        timeout: float,
        output: Any = None,
        stderr: Any = None,
        result: Completed | None = None,
    ) -> None:
        subprocess.TimeoutExpired.__init__(self, cmd, timeout, output, stderr)
        self.result = result


class CalledProcessError(subprocess.CalledProcessError, PyociError):
    """``check=True`` and a non-zero exit (its text names the signal for a
    negative returncode, as the stdlib's); ``result`` is the ``Completed``."""

    def __init__(
        self,
        returncode: int,
        cmd: Any,
        output: Any = None,
        stderr: Any = None,
        result: Completed | None = None,
    ) -> None:
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output, stderr)
        self.result = result


class ExecutableNotFound(SetupError, FileNotFoundError):
    """The program to run is not in the container (``Popen`` raises
    ``FileNotFoundError``; this is one)."""

    def __init__(self, message: str) -> None:
        SetupError.__init__(self, message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Stats:
    """A snapshot of the container's cgroup accounting."""

    memory_current: int
    memory_peak: int | None
    cpu_time: float
    pids_current: int
    oom_kills: int


def error_from(msg: dict[str, Any]) -> PyociError:
    """Rebuild an error the shim reported (same class when it is a pyoci one)."""
    from pyoci import errors

    name = str(msg.get("error", "PyociError"))
    text = str(msg.get("message", ""))
    lowered = text.lower()
    if ("no such file" in lowered or "not found" in lowered) and (
        "exec" in lowered or "executable" in lowered
    ):
        return ExecutableNotFound(text)
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, PyociError)):
        cls = SetupError
    exc = cls.__new__(cls)
    Exception.__init__(exc, text)
    return exc
