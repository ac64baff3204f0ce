"""The one exception tree.  The CLI boundary maps it to exit codes and log lines."""

from __future__ import annotations


class PyociError(Exception):
    """Base of every error pyoci reports to its caller."""

    exit_code = 1


class UsageError(PyociError):
    """Bad command line: unknown flag, missing argument, bad value."""


class ConfigError(PyociError):
    """config.json is missing, malformed, or fails the schema or a semantic check."""

    def __init__(self, problems: list[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems = problems
        super().__init__("\n".join(problems))


class ContainerNotFound(PyociError):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id} does not exist")


class ContainerExists(PyociError):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container with id {container_id} already exists")


class InvalidState(PyociError):
    """The operation is not allowed in the container's current status."""


class ContainerNotRunning(InvalidState):
    def __init__(self, container_id: str = "") -> None:
        super().__init__("container not running")


class SetupError(PyociError):
    """Setting up the container failed (namespaces, mounts, process, hooks)."""


class HookError(SetupError):
    pass


class CgroupError(PyociError):
    pass


class NotSupported(PyociError):
    """The host or this build lacks what the configuration asks for."""
