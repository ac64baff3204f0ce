"""The embedding API: a typed facade over the runtime operations.

    >>> from pyoci import Runtime
    >>> rt = Runtime("/run/pyoci")
    >>> rt.create("web", "/srv/bundles/web")      # doctest: +SKIP
    >>> rt.start("web")                            # doctest: +SKIP
    >>> rt.state("web").status                     # doctest: +SKIP
    'running'

Every method raises a ``pyoci.errors.PyociError`` subclass on failure
(``ContainerNotFound``, ``ContainerExists``, ``InvalidState``,
``ConfigError``, ``SetupError``...).
"""

from __future__ import annotations

from pyoci.ops import container
from pyoci.state.model import ContainerState


class Runtime:
    """All containers under one state root."""

    def __init__(
        self, root: str = "/run/pyoci", *, systemd_cgroup: bool = False, rootless: bool = False
    ) -> None:
        self.options = container.RuntimeOptions(
            root, systemd_cgroup=systemd_cgroup, rootless=rootless
        )

    def create(
        self,
        container_id: str,
        bundle: str,
        *,
        pid_file: str | None = None,
        console_socket: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
    ) -> ContainerState:
        return container.create(
            self.options,
            container_id,
            bundle,
            pid_file=pid_file,
            console_socket=console_socket,
            no_pivot=no_pivot,
            no_new_keyring=no_new_keyring,
            preserve_fds=preserve_fds,
        )

    def start(self, container_id: str) -> ContainerState:
        return container.start(self.options, container_id)

    def state(self, container_id: str) -> ContainerState:
        return container.state(self.options, container_id)

    def list(self) -> list[ContainerState]:
        return container.list_containers(self.options)

    def kill(self, container_id: str, signal: int | str = 15, *, all: bool = False) -> None:
        if isinstance(signal, str):
            from pyoci.util.signals import parse_signal

            signal = parse_signal(signal)
        container.kill(self.options, container_id, signal, all_processes=all)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        container.delete(self.options, container_id, force=force)

    def run(
        self,
        container_id: str,
        bundle: str,
        *,
        detach: bool = False,
        keep: bool = False,
        pid_file: str | None = None,
    ) -> int:
        """create + start; without ``detach`` wait and return the exit code."""
        return container.run(
            self.options, container_id, bundle, detach=detach, keep=keep, pid_file=pid_file
        )
