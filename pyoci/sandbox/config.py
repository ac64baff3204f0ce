"""A typed builder over the OCI configuration ``pyoci spec`` writes.

    >>> from pyoci.sandbox import Config, Bind, Tmpfs
    >>> cfg = (Config(["python3", "-c", "print(1)"], rootfs="/srv/rootfs")
    ...        .limits(memory="256m", pids=64, cpus=0.5)
    ...        .mount(Bind("/srv/data", "/data"))
    ...        .mount(Tmpfs("/tmp", size="64m")))
    >>> cfg.spec["process"]["args"]
    ['python3', '-c', 'print(1)']

``Config`` starts from :func:`pyoci.spec.default.default_config` (the
``pyoci spec`` defaults: every namespace including a network namespace with
only ``lo``, a device allow-list, masked paths), with the root read-only and
the process without a terminal.  :meth:`Config.validate` checks the document as
``create`` does (schema and semantic checks of :mod:`pyoci.spec.load`);
:meth:`Config.bundle` writes it into a temporary bundle directory that pyoci
removes with :meth:`Bundle.remove` (the container handle does it on delete).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyoci.errors import ConfigError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Bind:
    """A bind mount of a host path; read-only unless ``readonly=False``."""

    source: str
    destination: str
    readonly: bool = True

    def entry(self) -> dict[str, Any]:
        options = ["rbind", "nosuid", "nodev", "ro" if self.readonly else "rw"]
        return {
            "destination": self.destination,
            "type": "bind",
            "source": os.path.abspath(self.source),
            "options": options,
        }


@dataclass(frozen=True)
class Tmpfs:
    """A fresh tmpfs (``size`` like ``memory``: bytes or ``"64m"``)."""

    destination: str
    size: int | str | None = None
    mode: int = 0o1777

    def entry(self) -> dict[str, Any]:
        options = ["nosuid", "nodev", f"mode={self.mode:o}"]
        if self.size is not None:
            options.append(f"size={parse_size(self.size)}")
        return {
            "destination": self.destination,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": options,
        }


Mount = Bind | Tmpfs


def parse_size(value: int | str) -> int:
    """Bytes from an int or a docker-style size (``"512m"``, ``"1.5g"``, ``"64k"``)."""
    if isinstance(value, bool):
        raise ConfigError(f"invalid size: {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ConfigError(f"invalid size: {value} (must be positive)")
        return value
    from pyoci.errors import UsageError
    from pyoci.ops.cgroup_verbs import parse_bytes

    try:
        size = parse_bytes(value.strip())
    except UsageError as exc:
        raise ConfigError(str(exc)) from None
    if size <= 0:
        raise ConfigError(f"invalid size: {value!r} (must be positive)")
    return size


def parse_user(user: int | str | tuple[int, int]) -> dict[str, int]:
    """``1000``, ``"1000"``, ``"1000:1000"`` or ``(uid, gid)``: numeric ids only
    (names would need the container's /etc/passwd, which pyoci does not read)."""
    if isinstance(user, tuple):
        uid, gid = user
    elif isinstance(user, int):
        uid, gid = user, user
    else:
        text_uid, _, text_gid = user.partition(":")
        if not text_uid.isdigit() or (text_gid and not text_gid.isdigit()):
            raise ConfigError(f"user {user!r}: expected uid or uid:gid (numbers)")
        uid = int(text_uid)
        gid = int(text_gid) if text_gid else uid
    if uid < 0 or gid < 0:
        raise ConfigError(f"user {user!r}: ids must not be negative")
    return {"uid": uid, "gid": gid}


class Config:
    """The configuration of one container.  Every helper returns ``self``;
    ``spec`` is the OCI document (a plain dict) for anything else."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        rootfs: str | os.PathLike[str],
        rootless: bool | None = None,
    ) -> None:
        from pyoci.spec.default import default_config

        if isinstance(args, (str, bytes)) or not args:
            raise ConfigError("args: a non-empty sequence of strings (no shell)")
        if rootless is None:
            rootless = os.geteuid() != 0
        self.rootless = rootless
        spec = default_config(rootless=rootless)
        spec["root"] = {"path": os.path.abspath(os.fspath(rootfs)), "readonly": True}
        process = spec["process"]
        process["terminal"] = False
        process["args"] = [str(a) for a in args]
        process["env"] = [DEFAULT_PATH]
        self.spec: dict[str, Any] = spec
        self.parent_cgroup: str | None = None

    # -------------------------------------------------------- process

    def args(self, args: Sequence[str]) -> Config:
        self.spec["process"]["args"] = [str(a) for a in args]
        return self

    def env(self, env: Mapping[str, str], *, replace: bool = False) -> Config:
        """Add (or with ``replace``, set exactly) environment variables.  The
        host environment is never inherited: the default is only ``PATH``."""
        current = {} if replace else dict(
            item.split("=", 1) for item in self.spec["process"]["env"] if "=" in item
        )
        for key, value in env.items():
            if not key or "=" in key:
                raise ConfigError(f"env: invalid variable name {key!r}")
            current[key] = str(value)
        self.spec["process"]["env"] = [f"{k}={v}" for k, v in current.items()]
        return self

    def cwd(self, path: str) -> Config:
        if not path.startswith("/"):
            raise ConfigError(f"cwd {path!r}: must be an absolute path in the container")
        self.spec["process"]["cwd"] = path
        return self

    def user(self, user: int | str | tuple[int, int]) -> Config:
        self.spec["process"]["user"] = parse_user(user)
        return self

    def terminal(self, on: bool = True) -> Config:
        process = self.spec["process"]
        process["terminal"] = on
        env = [e for e in process["env"] if not e.startswith("TERM=")]
        process["env"] = [*env, "TERM=xterm"] if on else env
        return self

    # -------------------------------------------------------- filesystem

    def readonly(self, on: bool = True) -> Config:
        self.spec["root"]["readonly"] = on
        return self

    def mount(self, mount: Mount) -> Config:
        dest = mount.destination
        if not dest.startswith("/"):
            raise ConfigError(f"mount {dest!r}: the destination must be absolute")
        self.spec["mounts"] = [
            m for m in self.spec["mounts"] if m["destination"] != dest
        ] + [mount.entry()]
        return self

    # -------------------------------------------------------- isolation

    def network(self, enabled: bool) -> Config:
        """``False`` (the default): a new network namespace with only ``lo``;
        ``True``: the host's network (no network namespace)."""
        linux = self.spec["linux"]
        namespaces = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
        if not enabled:
            if self.rootless and not any(ns["type"] == "user" for ns in namespaces):
                raise ConfigError("network=False rootless needs a user namespace")
            namespaces.append({"type": "network"})
        linux["namespaces"] = namespaces
        return self

    def id_maps(self, uid_maps: Sequence[tuple[int, int, int]],
                gid_maps: Sequence[tuple[int, int, int]]) -> Config:
        """A user namespace with these ``(container_id, host_id, size)`` maps."""
        linux = self.spec["linux"]
        if not any(ns["type"] == "user" for ns in linux["namespaces"]):
            linux["namespaces"].append({"type": "user"})

        def maps(items: Sequence[tuple[int, int, int]]) -> list[dict[str, int]]:
            return [{"containerID": c, "hostID": h, "size": s} for c, h, s in items]

        linux["uidMappings"] = maps(uid_maps)
        linux["gidMappings"] = maps(gid_maps)
        return self

    def limits(
        self,
        *,
        memory: int | str | None = None,
        pids: int | None = None,
        cpus: float | None = None,
    ) -> Config:
        """``memory``: bytes or ``"256m"`` (swap limited to the same: no swap);
        ``pids``: the most processes/threads at once; ``cpus``: CPU bandwidth
        in CPUs (``0.5`` = half of one)."""
        res = self.spec["linux"].setdefault("resources", {})
        if memory is not None:
            size = parse_size(memory)
            res["memory"] = {"limit": size, "swap": size}
        if pids is not None:
            if isinstance(pids, bool) or pids <= 0:
                raise ConfigError(f"pids {pids!r}: must be a positive integer")
            res["pids"] = {"limit": pids}
        if cpus is not None:
            if cpus <= 0:
                raise ConfigError(f"cpus {cpus!r}: must be positive")
            period = 100_000
            res["cpu"] = {"quota": max(1000, int(cpus * period)), "period": period}
        return self

    def cgroup_parent(self, path: str) -> Config:
        """Put the container's cgroup at ``<path>/<container id>`` (default:
        ``/pyoci/<id>``, as ``create`` without ``cgroupsPath``)."""
        if not path.startswith("/"):
            raise ConfigError(f"cgroup parent {path!r}: must be absolute")
        self.parent_cgroup = path.rstrip("/") or "/"
        return self

    def for_container(self, container_id: str) -> Config:
        """The config as created for ``container_id`` (its cgroup path)."""
        if self.parent_cgroup is None:
            return self
        new = self.copy()
        new.spec["linux"]["cgroupsPath"] = f"{self.parent_cgroup.rstrip('/')}/{container_id}"
        return new

    def hostname(self, name: str) -> Config:
        self.spec["hostname"] = name
        return self

    # -------------------------------------------------------- output

    def validate(self) -> None:
        """Raise ``ConfigError`` listing every problem ``create`` would report."""
        from pyoci.spec.load import problems_of

        root = self.spec["root"]["path"]
        if not os.path.isdir(root):
            raise ConfigError(f"root.path: {root}: rootfs is not a directory")
        problems = problems_of(self.spec, os.path.dirname(root) or "/")
        if problems:
            raise ConfigError(problems)

    def bundle(self, parent: str | None = None) -> Bundle:
        """Validate, then write ``config.json`` into a new temporary bundle."""
        self.validate()
        path = tempfile.mkdtemp(prefix="pyoci-bundle-", dir=parent)
        try:
            with open(os.path.join(path, "config.json"), "w") as f:
                f.write(json.dumps(self.spec))  # (the C encoder: dump() streams in Python)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return Bundle(path)

    def copy(self) -> Config:
        new = Config.__new__(Config)
        new.rootless = self.rootless
        new.spec = json.loads(json.dumps(self.spec))  # JSON data: 3x faster than deepcopy
        new.parent_cgroup = self.parent_cgroup
        return new


class Bundle:
    """A bundle directory pyoci made (only ``config.json``: the rootfs is the caller's)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def remove(self) -> None:
        try:
            os.unlink(os.path.join(self.path, "config.json"))
            os.rmdir(self.path)
        except FileNotFoundError:
            pass
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)  # something else was put there
