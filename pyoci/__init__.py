"""pyoci: an OCI-compliant low-level container runtime.

Embedding API::

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
    from pyoci.state.model import ContainerState as ContainerState


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
    raise AttributeError(name)
