"""pyoci: an OCI-compliant low-level container runtime.

Embedding API (see :mod:`pyoci.sandbox`)::

    import pyoci
    r = pyoci.run(["echo", "hi"], rootfs="/srv/rootfs", capture_output=True, timeout=5)

Lower level, the CLI's verbs::

    from pyoci import Runtime
    rt = Runtime("/run/pyoci")
    rt.create("demo", "/path/to/bundle")
    rt.start("demo")
    print(rt.state("demo").status)

The CLI (``pyoci``) is a thin layer over :class:`pyoci.api.Runtime`.
"""

from __future__ import annotations

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.api import Runtime as Runtime
    from pyoci.errors import PyociError as PyociError
    from pyoci.sandbox import CalledProcessError as CalledProcessError
    from pyoci.sandbox import Completed as Completed
    from pyoci.sandbox import Config as Config
    from pyoci.sandbox import Container as Container
    from pyoci.sandbox import TimeoutExpired as TimeoutExpired
    from pyoci.sandbox import run as run
    from pyoci.sandbox import run_async as run_async
    from pyoci.state.model import ContainerState as ContainerState

# the embedding API (pyoci.sandbox), imported on first use
_SANDBOX = frozenset(
    {
        "Bind",
        "CalledProcessError",
        "Completed",
        "Config",
        "Container",
        "DEVNULL",
        "PIPE",
        "STDOUT",
        "Stats",
        "TimeoutExpired",
        "Tmpfs",
        "run",
        "run_async",
    }
)


def __getattr__(name: str) -> object:
    # Lazy: ``import pyoci`` must stay cheap for the CLI.
    if name == "Runtime":
        from pyoci.api import Runtime

        return Runtime
    if name == "ContainerState":
        from pyoci.state.model import ContainerState

        return ContainerState
    if name == "PyociError":
        from pyoci.errors import PyociError

        return PyociError
    if name in _SANDBOX:
        from pyoci import sandbox

        return getattr(sandbox, name)
    raise AttributeError(name)
