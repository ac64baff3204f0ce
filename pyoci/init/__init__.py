"""The container side: namespaces, rootfs, devices, security, exec."""

# Every raw-call wrapper, loaded with the container side (pyoci.native serves
# them lazily): after pivot_root nothing can be imported.
from pyoci.native import _syscalls  # noqa: F401
